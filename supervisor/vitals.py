"""Vitals: what the supervisor tells the outside about itself, and the HTTP process that says it.

Runs in the supervisor process, on its event loop. Owns:

    series      every label of the closed sets created at zero at start (the keyring's
                and the market sources' counters included, whatever the configuration),
                so a dashboard's rate() has a series before the first event of its kind
    gauges      a few times a second (from the release step): the tallied counts
                flushed, the heartbeat /healthz reads, intents in flight, long
                orders and which room is exhausted, pending events, workers alive; the supervisor's collector schedule ticks
                with them (common/gc_policy.py)
    http        the gunicorn process (supervisor/http/server.py): started first,
                started again if it dies (at most every HTTP_RESTART_S), stopped last
    restarts    a replaced worker counted and its metric files marked dead

/healthz learns the supervisor's state only through these metric files.
"""

from __future__ import annotations

import asyncio
import logging
import time

from common.config import Settings
from common.gc_policy import CollectionSchedule
from common.instruments import ASSET_CLASSES
from common.market_messages import REJECTED_TYPES as MARKET_DATA_REJECTED_TYPES
from common.metrics import (
    FILL_TYPES,
    KEYRING_RELOAD_RESULTS,
    LONG_ORDER_REFUSALS,
    MARKET_DATA_SOURCES,
    ORDER_STATUSES,
    ORDER_UPDATE_STATUSES,
    ROOMS,
    Metrics,
    MetricTally,
    mark_process_dead,
)
from supervisor.book import InFlightBook
from supervisor.http.server import HttpServer
from supervisor.pool import WorkerPool
from supervisor.publisher import JetStreamPublisher
from worker.faults import FAULTS
from worker.rejections import REJECTION_TYPES

log = logging.getLogger("at_exec_sim.supervisor")

GAUGE_INTERVAL_S = 0.25
# A crashed HTTP server (a port taken, say) is started again at most this often.
HTTP_RESTART_S = 10.0


def create_series(metrics: Metrics, settings: Settings) -> None:
    """Every label of the closed sets, at zero."""
    for status in ORDER_STATUSES:
        metrics.orders_received.labels(status)
    for fill_type in FILL_TYPES:
        metrics.fills_generated.labels(fill_type)
    for update_status in ORDER_UPDATE_STATUSES:
        metrics.order_updates_generated.labels(update_status)
    for rejection_type in REJECTION_TYPES:
        metrics.validation_errors.labels(rejection_type)
    for fault in FAULTS:
        metrics.faults_injected.labels(fault)
    for subject in settings.output_subjects.values():
        metrics.publish_errors.labels(subject)
    for kind in settings.output_subjects:
        metrics.events_deduplicated.labels(kind)
    for reason in LONG_ORDER_REFUSALS:
        metrics.long_orders_refused.labels(reason)
    for room in ROOMS:
        metrics.room_exhausted.labels(room).set(0)
    # Counters of optional parts (the keyring, a market source) too: a rate() or an alert on them
    # has a series to read whatever the configuration. The market data age gauge is not made here:
    # an age of 0 would claim fresh data.
    for result in KEYRING_RELOAD_RESULTS:
        metrics.keyring_reloads.labels(result)
    for bad_type in MARKET_DATA_REJECTED_TYPES:
        metrics.market_data_rejected.labels(bad_type)
    for source in MARKET_DATA_SOURCES:
        metrics.market_data_received.labels(source)
    for asset_class in ASSET_CLASSES:
        metrics.market_data_missing.labels(asset_class)


def worker_restarted(metrics: Metrics, dead_pid: int) -> None:
    """The pool replaced a dead worker: count it, and let its metric files go."""
    metrics.worker_restarts.inc()
    mark_process_dead(dead_pid)


class HttpProcess:
    """The HTTP server process, and when it was last started."""

    def __init__(self, settings: Settings) -> None:
        self._server = HttpServer(settings)
        self._started_at = 0.0

    def start(self) -> None:
        self._started_at = time.monotonic()
        self._server.start()

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._server.stop, 5.0)

    def restart_if_dead(self, now: float) -> None:
        if not self._server.alive() and now - self._started_at > HTTP_RESTART_S:
            log.error("http server exited; starting a new one", extra={"exitcode": self._server.exitcode()})
            self.start()


class Vitals:
    def __init__(
        self, metrics: Metrics, tally: MetricTally, book: InFlightBook, publisher: JetStreamPublisher,
        pool: WorkerPool, http: HttpProcess, stop: asyncio.Event, collections: CollectionSchedule,
    ) -> None:
        self._metrics = metrics
        self._tally = tally
        self._book = book
        self._publisher = publisher
        self._pool = pool
        self._http = http
        self._stop = stop
        self._collections = collections
        self._at = 0.0

    def update(self, force: bool = False) -> None:
        """Write the tallied counts and the current gauges to the metric files, a few times a second."""
        now = time.monotonic()
        if not force and now - self._at < GAUGE_INTERVAL_S:
            return
        self._at = now
        self._collections.tick(now)
        self._tally.flush()
        self._metrics.heartbeat.set(time.time())
        book = self._book
        self._metrics.intents_in_flight.set(len(book))
        self._metrics.long_orders.set(len(book.long_orders))
        self._metrics.room_exhausted.labels("executing").set(1 if book.executing_full else 0)
        self._metrics.room_exhausted.labels("long_orders").set(1 if book.long_orders.exhausted else 0)
        self._metrics.intents_over_share.set(book.shares.over_share)
        self._metrics.room_exhausted.labels("over_share").set(1 if book.over_share_full else 0)
        self._metrics.pending_events.set(self._publisher.outstanding)
        self._metrics.workers_alive.set(self._pool.alive)
        if not self._stop.is_set():
            self._http.restart_if_dead(now)

    def stopped(self) -> None:
        """The last word at shutdown: everything flushed, the live gauges at zero."""
        self.update(force=True)
        self._metrics.nats_connected.set(0)
        self._metrics.workers_alive.set(0)
        self._metrics.intents_in_flight.set(0)
        self._metrics.long_orders.set(0)
        self._metrics.intents_over_share.set(0)
        for room in ROOMS:
            self._metrics.room_exhausted.labels(room).set(0)
        self._metrics.pending_events.set(0)
