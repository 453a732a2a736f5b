"""Garbage-collector settings of the long-running processes (supervisor and simulator workers).

`settle_after_start` is called once, when a process has finished starting.
CPython's collections walk every tracked object they cover, and start-up leaves
hundreds of thousands of them (pandas and exchange-calendars come in with the
instruments and the calendars): one full collection took up to 88 ms in the
supervisor at 3,500 intents/s. Freezing what start-up built moves it out of
every later collection.

The workers keep the automatic collector, with young collections made rarer: a
worker's pause hides inside the simulated delay. The supervisor's does not: every
in-flight intent waits behind it. Its hot path makes no reference cycles (every
collection measured at 5,800 intents/s found nothing to free), yet objects that
live as long as an intent's delay survive the young generation, so even young
collections had to walk tens of thousands of them: 50-60 ms pauses. So the
supervisor turns the automatic collector off and runs a `CollectionSchedule`:
a full collection once a minute, or sooner when tracked objects have grown by
GROWTH_LIMIT since the last one, which bounds what a cycle-making bug (an error
path, say) can pile up and how long the one collection takes.
"""

from __future__ import annotations

import gc
import logging
import time

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10
# The supervisor's schedule.
INTERVAL_S = 60.0
GROWTH_LIMIT = 500_000

log = logging.getLogger("at_exec_sim.gc")


def settle_after_start(automatic: bool = True) -> None:
    """Collect and freeze what start-up built; then either rarer automatic collections or none."""
    gc.collect()
    gc.freeze()
    if automatic:
        gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    else:
        gc.disable()


class CollectionSchedule:
    """Full collections at a fixed pace, for a process running with the automatic collector off."""

    def __init__(self, interval_s: float = INTERVAL_S, growth_limit: int = GROWTH_LIMIT) -> None:
        self._interval_s = interval_s
        self._growth_limit = growth_limit
        self._next_at = time.monotonic() + interval_s
        self.collections = 0
        self.freed = 0

    def tick(self, now: float) -> None:
        """Collect if the time has come or tracked objects grew past the limit (called a few times a second)."""
        # Generation 0's count is allocations minus deallocations of tracked objects since
        # the last collection: flat while nothing leaks into cycles.
        if now < self._next_at and gc.get_count()[0] < self._growth_limit:
            return
        started = time.perf_counter()
        freed = gc.collect()
        took_s = time.perf_counter() - started
        self._next_at = time.monotonic() + self._interval_s
        self.collections += 1
        self.freed += freed
        # Cycles found mean some path makes them: worth knowing, not worth alarming.
        log.log(logging.INFO if freed else logging.DEBUG, "garbage collected",
                extra={"freed": freed, "took_ms": round(took_s * 1000, 1)})
