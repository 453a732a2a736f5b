"""Shutdown: the signals, the named steps' end, and the written stop order with its deadlines.

Runs in the supervisor process, on its event loop (the watchdog on a thread of
its own). Owns:

    signals     SIGTERM/SIGINT only set `stop` (a second one sets `stop_now`); the
                first starts the watchdog: past SHUTDOWN_TIMEOUT_SEC + 45 s the
                process exits with status 1, whatever step is stuck
    steps       the supervisor's tasks, each by name (`Steps`)
    the order   1 stop fetching (a fetch under way ends by its own timeout)
                2 finish in-flight intents until SHUTDOWN_TIMEOUT_SEC, or until
                  nothing left can finish by then
                3 hand back what is left: a nak with a delay, so the stream
                  redelivers it soon to another instance
                4 cancel the other steps (TASK_STOP_TIMEOUT_S for each to end)
                5 close the publisher, then the NATS connection (flushing acks)
                6 stop the workers, mark their metric files dead
                7 last gauges, stop the HTTP process
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from common.config import Settings
from common.metrics import mark_process_dead
from supervisor.book import InFlightBook
from supervisor.connection import NatsConnection
from supervisor.intake import Intake
from supervisor.outbound import Outbound
from supervisor.pool import WorkerPool
from supervisor.publisher import JetStreamPublisher
from supervisor.vitals import HttpProcess, Vitals
from supervisor.wire import nak_after

log = logging.getLogger("at_exec_sim.supervisor")

EXIT_OK = 0
EXIT_FAILURE = 1
TASK_STOP_TIMEOUT_S = 5.0
# Past SHUTDOWN_TIMEOUT_SEC plus this, a shutdown step is stuck: the process exits anyway.
SHUTDOWN_GRACE_S = 45.0


class Signals:
    """SIGTERM and SIGINT as two events: `stop` (drain), then `stop_now`."""

    def __init__(self, settings: Settings) -> None:
        self._watchdog_s = settings.shutdown_timeout_s + SHUTDOWN_GRACE_S
        self.stop = asyncio.Event()
        self.stop_now = asyncio.Event()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        if self.stop.is_set():
            log.warning("second signal: stopping now", extra={"signal": signal.Signals(sig).name})
            self.stop_now.set()
        else:
            log.info("signal received: draining", extra={"signal": signal.Signals(sig).name})
            self.stop.set()
            _start_shutdown_watchdog(self._watchdog_s)


@dataclass(frozen=True)
class Steps:
    """The supervisor's steps, each its own task, created together in Service._start_steps."""

    fetch: asyncio.Task[None]
    collect: asyncio.Task[None]
    release: asyncio.Task[None]
    keepalive: asyncio.Task[None]
    topology: asyncio.Task[None]
    keyring: asyncio.Task[None]
    market: asyncio.Task[None] | None = None  # MARKET_DATA=bus: ticks, trimming, gauges

    def all(self) -> tuple[asyncio.Task[None], ...]:
        return (self.fetch, *self.after_fetch())

    def after_fetch(self) -> tuple[asyncio.Task[None], ...]:
        """Every step but fetch: what keeps working while the in-flight intents finish."""
        steps = (self.collect, self.release, self.keepalive, self.topology, self.keyring)
        return steps if self.market is None else (*steps, self.market)


@dataclass(frozen=True)
class Shutdown:
    """The stop order, over the parts Service.run started."""

    settings: Settings
    signals: Signals
    steps: Steps
    book: InFlightBook
    intake: Intake
    outbound: Outbound
    publisher: JetStreamPublisher
    connection: NatsConnection
    pool: WorkerPool
    vitals: Vitals
    http: HttpProcess

    async def run(self, finish_in_flight: bool) -> None:
        """Stop fetching, finish or hand back in-flight work, drain NATS, stop the workers."""
        self.signals.stop.set()
        fetch = self.steps.fetch
        # A fetch under way ends by its own timeout; what it returns is processed, not lost.
        await asyncio.wait([fetch], timeout=self.settings.fetch_timeout_s + 2)
        fetch.cancel()
        if finish_in_flight and self.book.records:
            await self._finish_in_flight()
        await self._hand_back()
        await self._stop_steps()
        log.info("shutdown: fetching stopped, in-flight work settled")
        await self.publisher.close()
        await self.connection.close()
        log.info("shutdown: NATS connection closed")
        await self.pool.stop()
        for pid in self.pool.pids:
            mark_process_dead(pid)
        log.info("shutdown: workers stopped")
        self.vitals.stopped()
        await self.http.stop()
        log.info("at-exec-sim stopped")

    async def _finish_in_flight(self) -> None:
        """Until SHUTDOWN_TIMEOUT_SEC, a second signal, a failed step, or nothing left that can finish in time."""
        book = self.book
        log.info("finishing in-flight intents", extra={"in_flight": len(book.records)})
        deadline = time.monotonic() + self.settings.shutdown_timeout_s
        while book.records and time.monotonic() < deadline and not self.signals.stop_now.is_set():
            if any(t.done() for t in self.steps.after_fetch()):
                break
            if not book.any_finishes_by(deadline):
                break  # what is left (resting orders, long forced delays) is handed back now
            if self.pool.stranded:
                log.warning("no worker left to finish the intents they held; handing them back")
                break
            book.room.clear()
            try:
                await asyncio.wait_for(book.room.wait(), timeout=0.1)
            except TimeoutError:
                pass
        if book.records:
            stuck = list(book.records.values())[:5]
            log.warning(
                "in-flight intents not finished by the shutdown deadline",
                extra={"in_flight": len(book.records),
                       "examples": [(r.stream_seq, book.describe(r)) for r in stuck],
                       "pending_publishes": self.publisher.outstanding},
            )

    async def _hand_back(self) -> None:
        """Nak what is still in flight so the stream redelivers it soon, to another instance.

        The nak asks for its redelivery after FETCH_TIMEOUT_SEC + 1 s: at once, it would go
        into this instance's own pull request still open at the server, which ignores it,
        and wait out a whole ack_wait there. Deliveries that come after it are left alone:
        the stream redelivers them after ack_wait.
        """
        self.intake.refuse_deliveries()
        if not self.book.records:
            return
        log.warning("handing back unfinished intents", extra={"in_flight": len(self.book.records)})
        # Out of the books first: a PubAck arriving meanwhile must not ack a nak'ed input.
        records = self.book.take_all()
        verb = nak_after(self.settings.fetch_timeout_s + 1)
        for record in records:
            await self.outbound.settle(record, verb)

    async def _stop_steps(self) -> None:
        for task in self.steps.after_fetch():
            task.cancel()
        _, stuck = await asyncio.wait(self.steps.all(), timeout=TASK_STOP_TIMEOUT_S)
        for task in stuck:
            # A step that ignores its cancellation must not hold the shutdown (and the port) to the watchdog.
            log.error("supervisor step did not stop; going on without it",
                      extra={"step": task.get_name(), "stack": _task_stack(task)})


def _task_stack(task: asyncio.Task[Any]) -> str:
    buffer = io.StringIO()
    task.print_stack(file=buffer)
    return buffer.getvalue()


def _start_shutdown_watchdog(deadline_s: float) -> None:
    """A stuck shutdown step must not keep the process (and its port, its consumer binding) alive:
    past the deadline the process exits with status 1; anything unacked is redelivered."""

    def watch() -> None:
        time.sleep(deadline_s)
        log.critical("shutdown deadline passed; exiting now", extra={"deadline_s": deadline_s})
        # Where it was stuck, for the post-mortem: every thread's stack on stderr.
        faulthandler.dump_traceback(all_threads=True)
        logging.shutdown()
        os._exit(EXIT_FAILURE)

    threading.Thread(target=watch, name="shutdown-watchdog", daemon=True).start()
