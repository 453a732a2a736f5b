"""Garbage-collector settings of the long-running processes (supervisor and simulator workers).

Called once, when a process has finished starting. CPython's full collections
walk every tracked object, and start-up leaves hundreds of thousands of them
(pandas and exchange-calendars come in with the instruments and the calendars):
one full collection took up to 88 ms in the supervisor at 3,500 intents/s, a
stall every in-flight intent waits behind. Freezing what start-up built moves
it out of every later collection; a larger first-generation threshold makes
young collections rarer (the hot path allocates in bursts, and most of it dies
young either way). Cycles are still collected, only less often.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def settle_after_start() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
