"""The supervisor: its start order, and which component owns which arrow of the data flow.

Runs in the supervisor process on one asyncio (uvloop) event loop. `Service.run`
starts the parts in order (HTTP process, workers, NATS connection, topology,
publisher, intake) and wires them; each step then runs as its own named task
(shutdown.Steps) until a signal, a failed step or a failed pool ends the run.

    JetStream consumer
        │ fetch ............ intake.py       pull requests (puller.py), bounded by MAX_IN_FLIGHT,
        │                                    pending events, open requests, RATE_LIMIT_RPS
        ▼
    book.py (in flight) ◄─ dispatch ........ intake.py       a record per delivery; raw bytes in
        │                                    chunks to the pool (pool.py)
        ▼
    workers ─► results ─► collect ........... collect.py      rejection / duplicate: term;
        │                                    execution: first event into the book's schedule
        ▼
    book.py schedule ─► release ............ outbound.py     due events, bounded by MAX_PENDING_EVENTS
        │ (held reconciles wait in book.py holds)
        ▼
    publish ─► PubAck ....................... outbound.py + publisher.py (same-id retries)
        │ next event of the intent, or:
        ▼
    ack / term ............................. outbound.py     `settle`: out of the book, then +ACK/+TERM
    progress ack (+WPI) .................... keepalive.py    intents older than half of ack_wait
    hand-back (nak with delay) ............. shutdown.py     what cannot finish by the deadline
    reconnect, close ....................... connection.py   pull requests reset, release woken
    topology repair, backlog gauge ......... jetstream.py
    keyring file changed ................... keyring_watch.py  the new keys to every worker
    market data (MARKET_DATA=bus) .......... market_bus.py   reader, watermark, ticks; intents
                                             waiting for data (market_waits.py) sent again
    gauges, heartbeat, gc, HTTP restart .... vitals.py
    signals, stop order, watchdog .......... shutdown.py

Each component gets the parts it uses when it is built, after the connection
exists: nothing is optional once running.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from functools import partial
from typing import Any

from common.config import Settings
from common.error_codes import NATS_UNAVAILABLE
from common.gc_policy import CollectionSchedule, settle_after_start
from common.messages import BatchResult
from common.metrics import Metrics, MetricTally
from common.redact import redacted_urls
from supervisor.book import InFlightBook
from supervisor.collect import Collector
from supervisor.connection import NatsConnection, StoppedBeforeConnected, connect
from supervisor.intake import Intake
from supervisor.jetstream import TopologyKeeper
from supervisor.keepalive import KeepAlive
from supervisor.keyring_watch import KeyringWatch
from supervisor.market_bus import BusMarket
from supervisor.outbound import Outbound
from supervisor.pool import WORKER_BOOT_ERROR, WorkerBootError, WorkerPool
from supervisor.publisher import JetStreamPublisher
from supervisor.shutdown import EXIT_FAILURE, EXIT_OK, Shutdown, Signals, Steps
from supervisor.vitals import HttpProcess, Vitals, create_series, worker_restarted

log = logging.getLogger("at_exec_sim.supervisor")


class Service:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._tally = MetricTally()
        create_series(metrics, settings)
        # The recorded market's tapes are the workers' alone: the HTTP process is spawned without them.
        self._http = HttpProcess(dataclasses.replace(settings, recorded_market=None))

    async def run(self) -> int:
        """Run until a signal or a fatal error; return the process exit code."""
        s = self._settings
        signals = Signals(s)
        book = InFlightBook(s)
        results: asyncio.Queue[BatchResult] = asyncio.Queue()
        signals.install(asyncio.get_running_loop())

        self._metrics.started.set(time.time())
        self._http.start()
        # Workers first: they are spawned, but starting them before any
        # connection exists keeps the pool's failure modes independent of NATS.
        pool = WorkerPool(s, s.seed, results.put_nowait, partial(worker_restarted, self._metrics),
                          shutting_down=signals.stop)
        if not await self._start_pool(pool):
            return WORKER_BOOT_ERROR
        connected = await self._connect(signals, book, pool)
        if isinstance(connected, int):
            return connected
        connection, topology = connected
        publisher = JetStreamPublisher(connection.nc, s, self._metrics, self._tally, on_no_stream=topology.suspect)
        await publisher.start()
        intake = Intake(s, connection, book, pool, publisher, signals.stop)
        market = await self._start_market(connection, intake, book)
        await intake.start()

        # Started: what start-up built is frozen out of every later collection (common/gc_policy.py).
        settle_after_start(automatic=False)
        vitals = Vitals(self._metrics, self._tally, book, publisher, pool, self._http, signals.stop,
                        CollectionSchedule())
        outbound = Outbound(s, self._metrics, self._tally, book, publisher, connection, vitals)
        collector = Collector(s, self._metrics, self._tally, book, results, outbound, intake.batch_answered, market)
        steps = Steps(
            fetch=asyncio.create_task(intake.fetch_loop(), name="fetch"),
            collect=asyncio.create_task(collector.collect_loop(), name="collect"),
            release=asyncio.create_task(outbound.release_loop(), name="release"),
            keepalive=asyncio.create_task(KeepAlive(topology, connection, book.records).loop(), name="keepalive"),
            topology=asyncio.create_task(
                topology.keep(lambda: connection.nc.is_connected, self._metrics.consumer_backlog.set), name="topology"
            ),
            keyring=asyncio.create_task(KeyringWatch(s.keyring_file, s.keyring, pool, self._metrics).loop(), name="keyring"),
            market=None if market is None else asyncio.create_task(market.loop(), name="market"),
        )
        log.info("at-exec-sim running", extra={
            "workers": s.workers, "stream": s.nats_stream, "durable": s.nats_durable, "clock": s.simulation_clock,
            "seeded": s.simulation_seed is not None, "market_data": s.market_data})
        exit_code = await self._until_stopped(signals, pool, steps)
        shutdown = Shutdown(s, signals, steps, book, intake, outbound, publisher, connection, pool, vitals, self._http)
        await shutdown.run(finish_in_flight=exit_code == EXIT_OK)
        return exit_code

    async def _start_market(self, connection: NatsConnection, intake: Intake, book: InFlightBook) -> BusMarket | None:
        """MARKET_DATA=bus: the market reader, reading before the first intent is fetched."""
        if self._settings.market_data != "bus":
            return None
        market = BusMarket(self._settings, connection.nc, self._metrics, self._tally, intake.send_again,
                           book.records.__contains__)
        intake.slice_first_passes(market.first_passes)
        await market.start()
        return market

    async def _start_pool(self, pool: WorkerPool) -> bool:
        """Start the workers; False (everything started so far stopped) when one cannot boot."""
        try:
            await pool.start()
        except WorkerBootError as exc:
            log.critical("simulator workers failed to boot; stopping", extra={"error": str(exc)})
            await pool.stop(timeout_s=1.0)
            await self._http.stop()
            return False
        self._metrics.workers_alive.set(pool.alive)
        return True

    async def _connect(
        self, signals: Signals, book: InFlightBook, pool: WorkerPool
    ) -> tuple[NatsConnection, TopologyKeeper] | int:
        """Connect and establish the stream and consumer; else the exit code, everything stopped:
        EXIT_OK for a signal before the connection was made, EXIT_FAILURE when NATS cannot be reached."""
        connection: NatsConnection | None = None
        try:
            connection = await connect(self._settings, self._metrics, signals.stop, book.wake_release.set)
            topology = TopologyKeeper(connection.nc.jetstream(), self._settings)
            await topology.establish()
            return connection, topology
        except StoppedBeforeConnected:
            log.info("signal received before NATS was connected; stopping")
            await pool.stop(timeout_s=1.0)
            await self._http.stop()
            return EXIT_OK
        except Exception as exc:
            log.critical(
                "cannot reach NATS JetStream; stopping",
                extra={"error_code": NATS_UNAVAILABLE, "error": f"{type(exc).__name__}: {exc}",
                       "servers": redacted_urls(self._settings.nats_urls)},
            )
            if connection is not None:
                await connection.close()
            await pool.stop(timeout_s=1.0)
            await self._http.stop()
            return EXIT_FAILURE

    async def _until_stopped(self, signals: Signals, pool: WorkerPool, steps: Steps) -> int:
        """Wait for a signal, a failed pool or a failed step; the exit code that ending calls for."""
        stop_wait = asyncio.create_task(signals.stop.wait(), name="stop-wait")
        ends: list[asyncio.Future[Any]] = [stop_wait, pool.fatal, *steps.all()]
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        exit_code = EXIT_OK
        if pool.fatal.done():
            log.critical("worker pool failed; stopping", extra={"error": str(pool.fatal.exception())})
            exit_code = WORKER_BOOT_ERROR
        for task in steps.all():
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.critical("supervisor step failed", extra={"step": task.get_name()}, exc_info=task.exception())
                exit_code = EXIT_FAILURE
        return exit_code
