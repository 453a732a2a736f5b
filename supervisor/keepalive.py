"""Keepalive for long executions: which in-flight intents need a JetStream progress ack now.

Runs in the supervisor's event loop. A forced delay (metadata.exec_sim_force,
up to 24 h), a latency spike, a held reconcile or a resting DAY/GTC order can
outlast the consumer's ack_wait (the server's own, supervisor/jetstream.py); the
stream would then redeliver the intent (up to max_deliver times).
So every intent in flight for more than half of ack_wait since its delivery, or
since its last progress ack, gets one (`+WPI`, which restarts the server's
timer), from a sweep a few times per ack_wait (at most once a second).

`KeepAlive.loop` is the supervisor's keepalive step; the functions below are its pure parts.
No bookkeeping of its own: the book's in-flight dict (supervisor/book.py) keeps insertion order,
records enter it at delivery with `progress_at` = now, and `progressed` moves a
record to the end when it is kept alive. The dict is then ordered by
`progress_at`, so the sweep reads from the front and stops at the first record
that is young enough: when nothing is old, a sweep looks at one record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol, TypeVar

from supervisor.wire import IN_PROGRESS

if TYPE_CHECKING:
    from supervisor.connection import NatsConnection
    from supervisor.inflight import InFlight
    from supervisor.jetstream import TopologyKeeper

log = logging.getLogger("at_exec_sim.supervisor")

# Sweeps at most this far apart; more often under a short ack_wait (see `sweep_interval_s`).
MAX_SWEEP_INTERVAL_S = 1.0


class Tracked(Protocol):
    progress_at: float  # monotonic: delivery, or the last progress ack


R = TypeVar("R", bound=Tracked)


def keepalive_after_s(ack_wait_s: float) -> float:
    """Age (since delivery or the last progress ack) past which an intent is kept alive."""
    return ack_wait_s / 2


def sweep_interval_s(ack_wait_s: float) -> float:
    """Age threshold plus sweep interval stay within three quarters of ack_wait."""
    return min(MAX_SWEEP_INTERVAL_S, ack_wait_s / 4)


def overdue(records: dict[int, R], now: float, after_s: float) -> list[tuple[int, R]]:
    """The records last delivered or kept alive more than `after_s` before `now`, oldest first.

    `records` must be ordered by `progress_at` (see the module docstring).
    """
    limit = now - after_s
    found: list[tuple[int, R]] = []
    for key, record in records.items():
        if record.progress_at > limit:
            break
        found.append((key, record))
    return found


def progressed(records: dict[int, R], key: int, record: R, now: float) -> None:
    """`record` has had its progress ack at `now`: stamp it and move it to the young end."""
    record.progress_at = now
    if records.get(key) is record:
        del records[key]
        records[key] = record


class KeepAlive:
    """The keepalive step: progress acks for intents in flight longer than half of ack_wait."""

    def __init__(self, topology: TopologyKeeper, connection: NatsConnection, in_flight: dict[int, InFlight]) -> None:
        self._topology = topology
        self._nc = connection.nc
        self._wire = connection.wire
        self._in_flight = in_flight

    async def loop(self) -> None:
        in_flight = self._in_flight
        while True:
            # The consumer's own ack_wait: an existing consumer keeps the one it was made with.
            ack_wait_s = self._topology.ack_wait_s
            after_s = keepalive_after_s(ack_wait_s)
            await asyncio.sleep(sweep_interval_s(ack_wait_s))
            if not self._nc.is_connected:
                continue  # nothing reaches the server now; the first sweep after the reconnect catches up
            kept = 0
            for stream_seq, record in overdue(in_flight, time.monotonic(), after_s):
                if in_flight.get(stream_seq) is not record:
                    continue  # settled meanwhile
                try:
                    await self._wire.ack(record.reply, IN_PROGRESS)
                except Exception as exc:
                    log.warning("progress ack failed; retried at the next sweep",
                                extra={"stream_seq": stream_seq, "error": f"{type(exc).__name__}: {exc}"})
                    break
                progressed(in_flight, stream_seq, record, time.monotonic())
                kept += 1
            if kept:
                log.debug("long executions kept alive", extra={"intents": kept})
