"""The supervisor's main loop: fetch, dispatch, collect, release, publish, settle.

Runs in the supervisor process on one asyncio (uvloop) event loop:

    fetch     pull a batch from the durable consumer (bounded by MAX_IN_FLIGHT,
              the pending-event bound and RATE_LIMIT_RPS), record each message
              as in flight, hand raw bytes to the pool
    collect   take worker results: a rejection or a duplicate corr_id is
              counted, logged and terminated (AckTerm); an execution has its
              first event scheduled at its simulated release time
    release   publish each due event; the next event of the same intent is
              scheduled only when this one has its PubAck (order per corr_id)
    settle    when an intent's last event has its PubAck, ack the input
    hold      an event marked reconcile_delayed waits, when due, for its agent's
              next fill to be stored, at most FAULT_RECONCILE_DELAY_MAX_MS
              (supervisor/holds.py); the intent's later events wait behind it
    keepalive every intent in flight for half of ack_wait gets a progress ack,
              so a long forced delay or a hold is not redelivered
              (supervisor/keepalive.py)

Shutdown is an ordered sequence with deadlines (see `_shutdown`). Signal
handlers only set an event; a second signal means now.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import itertools
import logging
import os
import signal
import threading
import time
from functools import partial
from typing import Any


from common.config import Settings
from common.error_codes import BUFFER_FULL, DUPLICATE_CORR_ID, NATS_UNAVAILABLE
from common.gc_policy import CollectionSchedule, settle_after_start
from common.messages import BatchResult, IntentBatch, RawIntent, Rejection
from common.metrics import Metrics, MetricTally, mark_process_dead
from supervisor import keepalive
from supervisor.holds import ReconcileHolds
from supervisor.http.server import HttpServer
from supervisor.idempotency import CorrIdWindow
from supervisor.inflight import InFlight, delivery_of_reply
from supervisor.puller import Delivery, IntentPuller, header_value
from supervisor.jetstream import TopologyKeeper
from supervisor.pool import WORKER_BOOT_ERROR, WorkerBootError, WorkerPool
from supervisor.publisher import JetStreamPublisher
from supervisor.rate_limit import FetchRateLimit
from supervisor.release import ReleaseSchedule
from supervisor.wire import ACK, IN_PROGRESS, TERM, HotPathClient, Wire, nak_after
from common.metrics import FILL_TYPES, ORDER_STATUSES, ORDER_UPDATE_STATUSES
from worker.faults import FAULTS, RECONCILE_DELAYED
from worker.rejections import DUPLICATE, REJECTION_TYPES, reject

log = logging.getLogger("at_exec_sim.supervisor")

EXIT_OK = 0
EXIT_FAILURE = 1
# Fewer intents than this per worker chunk cost more in queue overhead than they gain in parallelism.
MIN_CHUNK = 16
GAUGE_INTERVAL_S = 0.25
# Release granularity: an event goes out at most about this much after its simulated time.
RELEASE_TICK_S = 0.001
IDLE_WAKE_S = 0.05
CLOSE_TIMEOUT_S = 10.0
TASK_STOP_TIMEOUT_S = 5.0
# Pull requests open at once: the next is already waiting at the server while one is answered.
MAX_OPEN_PULLS = 2
# Past SHUTDOWN_TIMEOUT_SEC plus this, a shutdown step is stuck: the process exits anyway.
SHUTDOWN_GRACE_S = 45.0
# A crashed HTTP server (a port taken, say) is started again at most this often.
HTTP_RESTART_S = 10.0


class Service:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._tally = MetricTally()
        # Every label of the closed sets exists from the start, at zero, so a
        # dashboard's rate() has a series before the first event of its kind.
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
        self._in_flight: dict[int, InFlight] = {}
        self._corr_ids = CorrIdWindow(settings.idempotency_ttl_s, settings.idempotency_max_corr_ids)
        self._schedule: ReleaseSchedule[InFlight] = ReleaseSchedule()
        # Intents whose reconcile_delayed event waits for the agent's next fill.
        self._holds: ReconcileHolds[InFlight] = ReconcileHolds()
        self._hold_max_s = settings.fault_reconcile_delay_max_ms / 1000
        self._rate = FetchRateLimit(settings.rate_limit_rps, burst=settings.batch_size)
        self._batch_ids = itertools.count()
        self._subjects = settings.output_subjects
        self._nc: HotPathClient | None = None
        self._wire: Wire
        self._topology: TopologyKeeper | None = None
        self._publisher: JetStreamPublisher | None = None
        self._puller: IntentPuller | None = None
        self._handing_back = False
        self._pool: WorkerPool | None = None
        self._http = HttpServer(settings)
        self._http_started_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._buffer_full_logged = False
        self._closing = False
        self._gauges_at = 0.0
        self._collections: CollectionSchedule | None = None  # set once started (see common/gc_policy.py)
        # A fetch asks for at most a batch, and at least this much room (see _fetch_room).
        self._min_fetch = max(1, min(settings.batch_size, settings.max_in_flight // 4))
        self._room_at = settings.max_in_flight - self._min_fetch
        # Under RATE_LIMIT_RPS one: a second request, paid for while idle, would
        # let a flood in at twice the burst the limit promises.
        self._max_open_pulls = 1 if self._rate.enabled else MAX_OPEN_PULLS
        # Created in run(), on the loop that uses them.
        self._stop: asyncio.Event
        self._stop_now: asyncio.Event
        self._wake_release: asyncio.Event
        self._room: asyncio.Event
        self._results: asyncio.Queue[BatchResult]

    # -- lifecycle ------------------------------------------------------------

    async def run(self) -> int:
        """Run until a signal or a fatal error; return the process exit code."""
        self._stop, self._stop_now = asyncio.Event(), asyncio.Event()
        self._wake_release, self._room = asyncio.Event(), asyncio.Event()
        self._results = asyncio.Queue()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

        self._metrics.started.set(time.time())
        self._start_http()
        # Workers first: they are spawned, but starting them before any
        # connection exists keeps the pool's failure modes independent of NATS.
        self._pool = WorkerPool(self._settings, self._settings.seed, self._results.put_nowait, self._on_worker_restart)
        try:
            await self._pool.start()
        except WorkerBootError as exc:
            log.critical("simulator workers failed to boot; stopping", extra={"error": str(exc)})
            await self._pool.stop(timeout_s=1.0)
            await self._stop_http()
            return WORKER_BOOT_ERROR
        self._metrics.workers_alive.set(self._pool.alive)
        try:
            await self._connect()
            self._topology = TopologyKeeper(self._nc.jetstream(), self._settings)  # type: ignore[union-attr]
            await self._topology.establish()
        except Exception as exc:
            log.critical(
                "cannot reach NATS JetStream; stopping",
                extra={"error_code": NATS_UNAVAILABLE, "error": f"{type(exc).__name__}: {exc}",
                       "servers": list(self._settings.nats_urls)},
            )
            await self._close_nats()
            await self._pool.stop(timeout_s=1.0)
            await self._stop_http()
            return EXIT_FAILURE
        self._publisher = JetStreamPublisher(
            self._nc, self._settings, self._metrics, self._tally, on_no_stream=self._topology.suspect  # type: ignore[arg-type]
        )
        await self._publisher.start()
        self._puller = IntentPuller(self._nc, self._settings, self._dispatch)  # type: ignore[arg-type]
        await self._puller.start()

        self._tasks = [
            asyncio.create_task(self._fetch_loop(), name="fetch"),
            asyncio.create_task(self._collect_loop(), name="collect"),
            asyncio.create_task(self._release_loop(), name="release"),
            asyncio.create_task(self._keepalive_loop(), name="keepalive"),
            asyncio.create_task(
                self._topology.keep(lambda: self._nc.is_connected, self._metrics.consumer_backlog.set),  # type: ignore[union-attr]
                name="topology",
            ),
        ]
        settle_after_start(automatic=False)
        self._collections = CollectionSchedule()
        log.info(
            "at-exec-sim running",
            extra={"workers": self._settings.workers, "stream": self._settings.nats_stream,
                   "durable": self._settings.nats_durable, "clock": self._settings.simulation_clock,
                   "seeded": self._settings.simulation_seed is not None},
        )
        stop_wait = asyncio.create_task(self._stop.wait(), name="stop-wait")
        assert self._pool.fatal is not None
        await asyncio.wait([stop_wait, self._pool.fatal, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        exit_code = EXIT_OK
        if self._pool.fatal.done():
            log.critical("worker pool failed; stopping", extra={"error": str(self._pool.fatal.exception())})
            exit_code = WORKER_BOOT_ERROR
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.critical("supervisor step failed", extra={"step": task.get_name()}, exc_info=task.exception())
                exit_code = EXIT_FAILURE
        await self._shutdown(finish_in_flight=exit_code == EXIT_OK)
        return exit_code

    def _on_signal(self, sig: int) -> None:
        if self._stop.is_set():
            log.warning("second signal: stopping now", extra={"signal": signal.Signals(sig).name})
            self._stop_now.set()
        else:
            log.info("signal received: draining", extra={"signal": signal.Signals(sig).name})
            self._stop.set()
            _start_shutdown_watchdog(self._settings.shutdown_timeout_s + SHUTDOWN_GRACE_S)

    async def _shutdown(self, finish_in_flight: bool) -> None:
        """Stop fetching, finish or hand back in-flight work, drain NATS, stop the workers."""
        self._stop.set()
        fetch = self._tasks[0]
        # A fetch under way ends by its own timeout; what it returns is processed, not lost.
        await asyncio.wait([fetch], timeout=self._settings.fetch_timeout_s + 2)
        fetch.cancel()
        if finish_in_flight and self._in_flight:
            log.info("finishing in-flight intents", extra={"in_flight": len(self._in_flight)})
            deadline = time.monotonic() + self._settings.shutdown_timeout_s
            while self._in_flight and time.monotonic() < deadline and not self._stop_now.is_set():
                if any(t.done() for t in self._tasks[1:]):
                    break
                if not self._any_finishes_by(deadline):
                    break  # what is left (resting orders, long forced delays) is handed back now
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), timeout=0.1)
                except asyncio.TimeoutError:
                    pass
            if self._in_flight:
                stuck = list(self._in_flight.values())[:5]
                log.warning(
                    "in-flight intents not finished by the shutdown deadline",
                    extra={"in_flight": len(self._in_flight),
                           "examples": [(r.stream_seq, "awaiting worker" if r.execution is None else
                                         f"event {r.next_event + 1} of {len(r.execution.events)}"
                                         + (" (held reconcile)" if r.stream_seq in self._holds else ""))
                                        for r in stuck],
                           "pending_publishes": self._publisher.outstanding if self._publisher else None},
                )
        await self._hand_back()
        for task in self._tasks[1:]:
            task.cancel()
        _, stuck = await asyncio.wait(self._tasks, timeout=TASK_STOP_TIMEOUT_S)
        for task in stuck:
            # A step that ignores its cancellation must not hold the shutdown (and the port) to the watchdog.
            log.error("supervisor step did not stop; going on without it",
                      extra={"step": task.get_name(), "stack": _task_stack(task)})
        log.info("shutdown: fetching stopped, in-flight work settled")
        if self._publisher is not None:
            await self._publisher.close()
        await self._close_nats()
        log.info("shutdown: NATS connection closed")
        if self._pool is not None:
            await self._pool.stop()
            for pid in self._pool.pids:
                mark_process_dead(pid)
            log.info("shutdown: workers stopped")
        self._update_gauges(force=True)
        self._metrics.nats_connected.set(0)
        self._metrics.workers_alive.set(0)
        self._metrics.intents_in_flight.set(0)
        self._metrics.pending_events.set(0)
        await self._stop_http()
        log.info("at-exec-sim stopped")

    def _any_finishes_by(self, deadline: float) -> bool:
        """Whether some intent in flight can be answered before `deadline`: one still with the
        workers, or whose last event falls due by then (a held reconcile ends by its max wait)."""
        hold_s = self._hold_max_s if self._holds else 0.0
        for record in self._in_flight.values():
            execution = record.execution
            if execution is None or self._settings.virtual_clock:
                return True
            last_due = record.receipt_at + execution.events[-1].release_after_ms / 1000
            if last_due + hold_s <= deadline:
                return True
        return False

    def _start_http(self) -> None:
        self._http_started_at = time.monotonic()
        self._http.start()

    async def _stop_http(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._http.stop, 5.0)

    async def _hand_back(self) -> None:
        """Nak what is still in flight so the stream redelivers it soon, to another instance.

        The nak asks for its redelivery after FETCH_TIMEOUT_SEC + 1 s: at once, it would go
        into this instance's own pull request still open at the server, which ignores it,
        and wait out a whole ack_wait there. Deliveries that come after it are left alone:
        the stream redelivers them after ack_wait.
        """
        self._handing_back = True
        if not self._in_flight:
            return
        log.warning("handing back unfinished intents", extra={"in_flight": len(self._in_flight)})
        records = list(self._in_flight.values())
        # Out of the books first: a PubAck arriving meanwhile must not ack a nak'ed input.
        self._in_flight.clear()
        self._schedule.drain()
        self._holds.drain()
        verb = nak_after(self._settings.fetch_timeout_s + 1)
        for record in records:
            await self._settle(record, verb)

    # -- NATS connection ------------------------------------------------------

    async def _connect(self) -> None:
        deadline = time.monotonic() + self._settings.connect_timeout_s
        while True:
            try:
                nc = HotPathClient()
                await nc.connect(
                    servers=list(self._settings.nats_urls),
                    name=self._settings.service_name,
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,  # fail-stop waits for NATS, however long
                    reconnect_time_wait=0.5,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_nats_error,
                )
                self._nc, self._wire = nc, Wire(nc)
                self._metrics.nats_connected.set(1)
                return
            except Exception as exc:
                if time.monotonic() >= deadline or self._stop.is_set():
                    raise
                log.warning("NATS not reachable yet; retrying", extra={"error_code": NATS_UNAVAILABLE, "error": str(exc)})
                await asyncio.sleep(0.5)

    async def _close_nats(self) -> None:
        """Flush what is buffered (acks above all), then close.

        Not nc.drain(): it waits for the pull subscription's queue to be marked
        done, which fetch never does, and so always runs into its timeout.
        """
        if self._nc is None or self._nc.is_closed:
            return
        self._closing = True
        if self._nc.is_connected:
            try:
                await asyncio.wait_for(self._nc.flush(), timeout=5)
            except Exception as exc:
                log.warning("flush before close failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        try:
            await asyncio.wait_for(self._nc.close(), timeout=CLOSE_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("NATS close did not finish in time; going on", extra={"timeout_s": CLOSE_TIMEOUT_S})

    async def _on_disconnected(self) -> None:
        self._metrics.nats_connected.set(0)
        if self._closing:
            return
        log.error("NATS disconnected: fetching paused, events held", extra={"error_code": NATS_UNAVAILABLE})
        if self._puller is not None:
            self._puller.reset()

    async def _on_reconnected(self) -> None:
        self._metrics.nats_connected.set(1)
        if self._puller is not None:
            self._puller.reset()  # pull requests do not outlive the connection they came on
        log.info("NATS reconnected: resuming", extra={"server": str(self._nc.connected_url.netloc) if self._nc and self._nc.connected_url else None})
        self._wake_release.set()

    async def _on_nats_error(self, exc: Exception) -> None:
        log.debug("NATS client error", extra={"error": f"{type(exc).__name__}: {exc}"})

    def _on_worker_restart(self, dead_pid: int) -> None:
        self._metrics.worker_restarts.inc()
        mark_process_dead(dead_pid)

    # -- fetch ----------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        while not self._stop.is_set():
            wanted = self._fetch_room()
            if wanted <= 0:
                await self._wait_room()
                continue
            allowed = self._rate.allowance(wanted)
            if allowed <= 0:
                await asyncio.sleep(self._rate.wait_s())
                continue
            # Paid for in full when asked: a request that expires short is not refunded.
            self._rate.spend(allowed)
            try:
                await self._puller.pull(allowed)  # type: ignore[union-attr]
            except Exception as exc:
                if not self._nc.is_connected:  # type: ignore[union-attr]
                    continue  # _fetch_room holds us while disconnected
                log.warning("pull request failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(0.2)

    def _fetch_room(self) -> int:
        """How many intents may be fetched now (0: wait)."""
        if not self._nc.is_connected:  # type: ignore[union-attr]
            return 0
        assert self._publisher is not None
        if self._publisher.outstanding >= self._settings.max_pending_events:
            if not self._buffer_full_logged:
                log.warning(
                    "pending-event buffer full: fetching paused, nothing dropped",
                    extra={"error_code": BUFFER_FULL, "pending_events": self._publisher.outstanding},
                )
                self._buffer_full_logged = True
            return 0
        self._buffer_full_logged = False
        assert self._puller is not None
        if self._puller.open_requests >= self._max_open_pulls:
            return 0
        room = self._settings.max_in_flight - len(self._in_flight) - self._puller.waiting
        # At the in-flight cap, each settled intent would otherwise free room for a
        # pull request of one: wait for a worthwhile batch (each pull request is a
        # request, a reply and a timer for the server and a round trip for us).
        return min(self._settings.batch_size, room) if room >= self._min_fetch else 0

    async def _wait_room(self) -> None:
        """Until intents are settled or a pull request ends (at most 0.1 s)."""
        self._room.clear()
        assert self._puller is not None
        self._puller.changed.clear()
        room, pulled = asyncio.ensure_future(self._room.wait()), asyncio.ensure_future(self._puller.changed.wait())
        await asyncio.wait((room, pulled), timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
        room.cancel()
        pulled.cancel()

    def _dispatch(self, deliveries: list[Delivery]) -> None:
        if self._handing_back:
            return  # past the hand-back: the stream redelivers these after ack_wait
        received_at, received_at_ms = time.monotonic(), time.time() * 1000
        raws: list[RawIntent] = []
        for delivery in deliveries:
            try:
                stream_seq, delivered, stored_at_ms = delivery_of_reply(delivery.reply)
            except ValueError:
                log.error("delivery without a JetStream ack subject ignored", extra={"reply": delivery.reply[:120]})
                continue
            if delivered >= self._settings.max_deliver > 0:
                # A long execution (a resting order) handed back at every restart runs out of deliveries.
                log.warning("last delivery MAX_DELIVER allows: if this instance stops before the intent is "
                            "answered, the stream will not deliver it again",
                            extra={"stream_seq": stream_seq, "delivered": delivered})
            held = self._in_flight.get(stream_seq)
            if held is not None:
                # Redelivered while we still work on it: answer the newest delivery, process once.
                held.reply = delivery.reply
                keepalive.progressed(self._in_flight, stream_seq, held, received_at)  # its ack_wait restarted
                continue
            # The simulated delay counts from the venue's receipt, the stream's stored time, so
            # the pickup and the simulation happen inside it rather than on top of it. A
            # server clock ahead of ours counts as no wait; by this clock, an event never
            # goes out before its own timestamp.
            receipt_at = received_at - max(0.0, received_at_ms - stored_at_ms) / 1000
            self._in_flight[stream_seq] = InFlight(delivery.reply, stream_seq, delivered > 1, receipt_at, received_at)
            raws.append(RawIntent(stream_seq, delivery.data, header_value(delivery.headers, b"X-Signature"),
                                  stored_at_ms))
        if not raws:
            return
        assert self._pool is not None
        chunk = max(MIN_CHUNK, -(-len(raws) // self._settings.workers))
        for start in range(0, len(raws), chunk):
            self._pool.dispatch(IntentBatch(next(self._batch_ids), tuple(raws[start : start + chunk])))

    # -- collect --------------------------------------------------------------

    async def _collect_loop(self) -> None:
        m = self._metrics
        while True:
            result = await self._results.get()
            now = time.monotonic()
            for outcome in result.outcomes:
                record = self._in_flight.get(outcome.stream_seq)
                if record is None or record.execution is not None:
                    continue  # handed back, or a re-dispatched batch answered twice
                if isinstance(outcome, Rejection):
                    await self._reject(record, outcome)
                    continue
                claimed_by = self._corr_ids.claim(outcome.corr_id, outcome.stream_seq, now)
                if claimed_by == outcome.stream_seq and record.redelivered:
                    # This very message again (its ack was lost, e.g. in a NATS crash):
                    # already executed and counted; its events are stored. Settle it quietly.
                    log.info("redelivered intent already executed; acked",
                             extra={"corr_id": outcome.corr_id, "stream_seq": outcome.stream_seq})
                    await self._settle(record, ACK)
                    continue
                if claimed_by is not None:
                    self._tally.inc(m.duplicate_orders)
                    await self._reject(
                        record,
                        reject(outcome.stream_seq, DUPLICATE, DUPLICATE_CORR_ID, outcome.corr_id,
                               "corr_id already filled within IDEMPOTENCY_TTL_SEC"),
                    )
                    continue
                self._tally.inc(m.orders_received, "accepted")
                for fault in outcome.faults:
                    self._tally.inc(m.faults_injected, fault)
                self._tally.observe(m.simulation_duration, outcome.simulation_s)
                self._tally.observe(m.intake_duration, now - record.receipt_at)
                record.execution = outcome
                self._schedule_next(record)
            self._wake_release.set()

    async def _reject(self, record: InFlight, rejection: Rejection) -> None:
        status = "duplicate" if rejection.error_type == DUPLICATE else "invalid"
        self._tally.inc(self._metrics.orders_received, status)
        self._tally.inc(self._metrics.validation_errors, rejection.error_type)
        log.warning(
            "intent rejected",
            extra={"error_code": rejection.error_code, "rejection_type": rejection.error_type,
                   "corr_id": rejection.corr_id, "detail": rejection.detail, "stream_seq": rejection.stream_seq},
        )
        await self._settle(record, TERM)

    # -- release and publish --------------------------------------------------

    def _due_at(self, record: InFlight) -> float:
        assert record.execution is not None
        event = record.execution.events[record.next_event]
        return 0.0 if self._settings.virtual_clock else record.receipt_at + event.release_after_ms / 1000

    def _due_now(self, record: InFlight) -> bool:
        return self._due_at(record) <= time.monotonic()

    def _schedule_next(self, record: InFlight) -> None:
        due = self._due_at(record)
        self._schedule.add(due, record.stream_seq, record)
        if record.next_event and due <= time.monotonic():
            self._wake_release.set()  # the intent's next event is due now

    async def _release_loop(self) -> None:
        s = self._settings
        assert self._publisher is not None and self._nc is not None
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            if self._holds:
                self._end_holds(self._holds.expired(now))
            room = s.max_pending_events - self._publisher.outstanding
            if room > 0 and self._nc.is_connected:
                released = self._schedule.pop_due(now, room)
                for record in released:
                    await self._publish_next(record)
                if released:  # now, not after whatever else is ready on the loop
                    self._wire.flush_now()
            self._update_gauges()
            self._wake_release.clear()
            next_due = self._schedule.next_due()
            if self._holds:
                hold_ends = self._holds.next_deadline()
                if hold_ends is not None and (next_due is None or hold_ends < next_due):
                    next_due = hold_ends
            if next_due is not None and next_due <= time.monotonic() and room > 0 and self._nc.is_connected:
                await asyncio.sleep(0)  # more is due: let PubAcks and fetches run first
                continue
            # Woken by the timer, by new results, or by a PubAck that frees room. The
            # timer never fires sooner than a tick, so one wake-up (and one socket
            # write) releases every event that fell due meanwhile; never early.
            wait_s = IDLE_WAKE_S if next_due is None else min(IDLE_WAKE_S, max(next_due - time.monotonic(), RELEASE_TICK_S))
            timer = loop.call_later(wait_s, self._wake_release.set)
            await self._wake_release.wait()
            timer.cancel()

    async def _publish_next(self, record: InFlight) -> None:
        assert record.execution is not None and self._publisher is not None
        event = record.execution.events[record.next_event]
        if record.held_event != record.next_event:  # else: its hold is over, it goes out now
            if not self._settings.virtual_clock:
                # Counted from when it could go out: due, and its predecessor stored (a hold is not lateness).
                ready_at = max(self._due_at(record), record.previous_stored_at)
                self._tally.observe(self._metrics.release_lateness, max(0.0, time.monotonic() - ready_at))
            if RECONCILE_DELAYED in event.faults:
                self._hold(record)
                return
        await self._publisher.publish(
            self._subjects[event.kind], event.payload, event.msg_id, record.execution.corr_id,
            partial(self._event_acked, record), event.faults,
        )

    def _hold(self, record: InFlight) -> None:
        """Hold the intent's due event until its agent's next fill is stored, or the maximum wait."""
        assert record.execution is not None
        record.held_event = record.next_event
        now = time.monotonic()
        fell_due = now if self._settings.virtual_clock else min(now, max(self._due_at(record), record.previous_stored_at))
        self._holds.hold(record.execution.agent_id, record.stream_seq, record, fell_due + self._hold_max_s)

    def _end_holds(self, records: list[InFlight]) -> None:
        """Send held events out (scheduled now, so the release step bounds them like any other)."""
        if not records:
            return
        now = time.monotonic()
        for record in records:
            if self._in_flight.get(record.stream_seq) is record:  # else handed back meanwhile
                self._schedule.add(now, record.stream_seq, record)
        self._wake_release.set()

    async def _event_acked(self, record: InFlight, duplicate: bool) -> None:
        execution = record.execution
        assert execution is not None
        event = execution.events[record.next_event]
        if duplicate:
            # Stored before: a redelivery after a lost ack, or the same corr_id executed by
            # another instance. The outputs counters count what this publish added to the stream.
            self._tally.inc(self._metrics.events_deduplicated, event.kind)
        elif event.kind == "fill":
            self._tally.inc(self._metrics.fills_generated, event.fill_type)
        elif event.kind == "reconcile":
            self._tally.inc(self._metrics.reconciles_generated)
        else:
            self._tally.inc(self._metrics.order_updates_generated, event.fill_type)
        if self._holds and event.kind == "fill":
            # The agent traded again: the venue now reports its held positions.
            self._end_holds(self._holds.fill_stored(execution.agent_id, record.stream_seq))
        record.next_event += 1
        record.previous_stored_at = time.monotonic()
        if self._publisher is not None and self._publisher.outstanding >= self._settings.max_pending_events - 1:
            self._wake_release.set()  # the release step may be waiting for room
        if self._in_flight.get(record.stream_seq) is not record:
            return  # handed back during shutdown; the redelivery re-publishes under the same ids
        if record.next_event < len(execution.events):
            if self._due_now(record) and self._publisher.outstanding < self._settings.max_pending_events:
                # Already due (a fill's reconcile, say): sent from here, in the same socket
                # write as the acks of this read, without a heap entry and a release wake-up.
                await self._publish_next(record)
            else:
                self._schedule_next(record)
            return
        await self._settle(record, ACK)
        log.info(
            "intent executed",
            extra={"corr_id": execution.corr_id, "instrument": execution.instrument,
                   "order_type": execution.order_type, "simulation_delay_ms": execution.simulation_delay_ms,
                   "fill_status": execution.final_status, "events": len(execution.events)},
        )

    async def _settle(self, record: InFlight, verb: bytes) -> None:
        """Take the intent out of the books and ack, term or nak its input (wire.ACK, TERM, nak_after).

        If the answer cannot be sent, the stream redelivers the input after ack_wait.
        """
        self._in_flight.pop(record.stream_seq, None)
        if len(self._in_flight) <= self._room_at:
            self._room.set()
        try:
            await self._wire.ack(record.reply, verb)
        except Exception as exc:
            log.warning(
                "could not settle input; it will be redelivered",
                extra={"stream_seq": record.stream_seq, "error": f"{type(exc).__name__}: {exc}"},
            )

    # -- keepalive ------------------------------------------------------------

    async def _keepalive_loop(self) -> None:
        """Progress acks for intents in flight longer than half of ack_wait (see supervisor/keepalive.py)."""
        while True:
            # The consumer's own ack_wait: an existing consumer keeps the one it was made with.
            ack_wait_s = self._topology.ack_wait_s if self._topology is not None else self._settings.ack_wait_s
            after_s = keepalive.keepalive_after_s(ack_wait_s)
            await asyncio.sleep(keepalive.sweep_interval_s(ack_wait_s))
            if not self._nc.is_connected:  # type: ignore[union-attr]
                continue  # nothing reaches the server now; the first sweep after the reconnect catches up
            kept = 0
            for stream_seq, record in keepalive.overdue(self._in_flight, time.monotonic(), after_s):
                if self._in_flight.get(stream_seq) is not record:
                    continue  # settled meanwhile
                try:
                    await self._wire.ack(record.reply, IN_PROGRESS)
                except Exception as exc:
                    log.warning("progress ack failed; retried at the next sweep",
                                extra={"stream_seq": stream_seq, "error": f"{type(exc).__name__}: {exc}"})
                    break
                keepalive.progressed(self._in_flight, stream_seq, record, time.monotonic())
                kept += 1
            if kept:
                log.debug("long executions kept alive", extra={"intents": kept})

    def _update_gauges(self, force: bool = False) -> None:
        """Write the tallied counts and the current gauges to the metric files, a few times a second."""
        now = time.monotonic()
        if not force and now - self._gauges_at < GAUGE_INTERVAL_S:
            return
        self._gauges_at = now
        if self._collections is not None:
            self._collections.tick(now)
        self._tally.flush()
        self._metrics.heartbeat.set(time.time())
        self._metrics.intents_in_flight.set(len(self._in_flight))
        if self._publisher is not None:
            self._metrics.pending_events.set(self._publisher.outstanding)
        if self._pool is not None:
            self._metrics.workers_alive.set(self._pool.alive)
        if not self._http.alive() and not self._stop.is_set() and now - self._http_started_at > HTTP_RESTART_S:
            log.error("http server exited; starting a new one", extra={"exitcode": self._http.exitcode()})
            self._start_http()


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
