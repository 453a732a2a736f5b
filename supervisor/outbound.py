"""Outbound: release each due event, publish it, count its PubAck, settle the input.

Runs in the supervisor process, on its event loop. Owns the per-event hot path:

    release   the release step pops what the book's schedule has due (bounded by
              MAX_PENDING_EVENTS and the connection), writes it, and flushes the
              socket at once; between wakes it refreshes the vitals
    publish   one event through supervisor/publisher.py, with its message id; an
              event marked reconcile_delayed is held in the book instead
    PubAck    counted by kind; the intent's next event goes out at once when it is
              already due, else into the schedule (order per corr_id); a fill
              ends its agent's held reconciles
    claim     an order's first event the stream had already: supervisor/claims.py
              says whether it was stored for this intent (a redelivery: go on) or
              for another message under the same corr_id (a repeat the corr_id
              window could not know: a duplicate, nothing more is published)
    settle    after the last PubAck the input is acked; collect terminates
              rejections and shutdown naks the hand-back through the same `settle`

Performance: this is the hot path (README "Performance"). The book's dict,
heap and holds are held here directly and bound to locals in the loop; the
calls between components are plain method calls, nothing per event beyond
what the single service class did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from common.config import Settings
from common.error_codes import DUPLICATE_CORR_ID
from common.messages import Rejection
from common.metrics import Metrics, MetricTally
from supervisor.book import InFlightBook
from supervisor.claims import Claim, StoredClaims
from supervisor.connection import NatsConnection
from supervisor.inflight import InFlight
from supervisor.publisher import JetStreamPublisher
from supervisor.vitals import Vitals
from supervisor.wire import ACK, TERM
from worker.faults import RECONCILE_DELAYED
from worker.rejections import DUPLICATE, reject

log = logging.getLogger("at_exec_sim.supervisor")

# Release granularity: an event goes out at most about this much after its simulated time.
RELEASE_TICK_S = 0.001
IDLE_WAKE_S = 0.05


class Outbound:
    def __init__(
        self, settings: Settings, metrics: Metrics, tally: MetricTally, book: InFlightBook,
        publisher: JetStreamPublisher, connection: NatsConnection, vitals: Vitals,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._tally = tally
        self._book = book
        self._in_flight = book.records
        self._holds = book.holds
        self._wake_release = book.wake_release
        # The book's methods the per-event path calls, bound once.
        self._due_at = book.due_at
        self._due_now = book.due_now
        self._schedule_next = book.schedule_next
        self._publisher = publisher
        self._nc = connection.nc
        self._wire = connection.wire
        self._vitals = vitals
        self._subjects = settings.output_subjects
        self._claims = StoredClaims(self._nc.jetstream(), settings.nats_stream)
        self._claim_checks: set[asyncio.Task[None]] = set()

    async def release_loop(self) -> None:
        s, book, publisher, nc = self._settings, self._book, self._publisher, self._nc
        schedule, holds = book.schedule, book.holds
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            if holds:
                book.end_holds(holds.expired(now))
            room = s.max_pending_events - publisher.outstanding
            if room > 0 and nc.is_connected:
                released = schedule.pop_due(now, room)
                for record in released:
                    await self._publish_next(record)
                if released:  # now, not after whatever else is ready on the loop
                    self._wire.flush_now()
            self._vitals.update()
            self._wake_release.clear()
            next_due = book.next_wake()
            if next_due is not None and next_due <= time.monotonic() and room > 0 and nc.is_connected:
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
        if self._in_flight.get(record.stream_seq) is not record:
            return  # handed back while an earlier release awaited: its next delivery publishes it
        assert record.execution is not None
        event = record.execution.events[record.next_event]
        if record.held_event != record.next_event:  # else: its hold is over, it goes out now
            if not self._settings.virtual_clock:
                # Counted from when it could go out: due, and its predecessor stored (a hold is not lateness).
                ready_at = max(self._due_at(record), record.previous_stored_at)
                self._tally.observe(self._metrics.release_lateness, max(0.0, time.monotonic() - ready_at))
            if RECONCILE_DELAYED in event.faults:
                self._book.hold(record)
                return
        await self._publisher.publish(
            self._subjects[event.kind], event.payload, event.msg_id, record.execution.corr_id, record.stream_seq,
            partial(self._event_acked, record), event.faults,
        )

    async def _event_acked(self, record: InFlight, stored_seq: int | None) -> None:
        if stored_seq is not None and record.next_event == 0:
            # Not from here: this runs in the PubAck reader, which must not wait on a request.
            check = asyncio.create_task(self._first_event_stored_before(record, stored_seq))
            self._claim_checks.add(check)
            check.add_done_callback(self._claim_checks.discard)
            return
        await self._stored(record, stored_seq is not None)

    async def _first_event_stored_before(self, record: InFlight, stored_seq: int) -> None:
        claim = await self._claims.first_event_owner(stored_seq, record.stream_seq)
        if self._in_flight.get(record.stream_seq) is not record:
            return  # handed back meanwhile; its next delivery asks again
        if claim is not Claim.OTHER_INTENT:
            await self._stored(record, True)
            return
        execution = record.execution
        assert execution is not None
        self._tally.inc(self._metrics.events_deduplicated, execution.events[0].kind)
        self._tally.inc(self._metrics.duplicate_orders)
        await self.terminate(record, reject(
            record.stream_seq, DUPLICATE, DUPLICATE_CORR_ID, execution.corr_id,
            f"corr_id already executed for agent_id {execution.agent_id} (stream sequence "
            f"{stored_seq} holds its first event): nothing more of it is published"), stored_seq=stored_seq)

    async def terminate(self, record: InFlight, rejection: Rejection, **context: object) -> None:
        """An intent that gets no answer (or no more of one): counted by its type, logged with `context`,
        its input terminated."""
        self._tally.inc(self._metrics.validation_errors, rejection.error_type)
        log.warning(
            "intent rejected",
            extra={"error_code": rejection.error_code, "rejection_type": rejection.error_type,
                   "corr_id": rejection.corr_id, "detail": rejection.detail, "stream_seq": rejection.stream_seq,
                   **context},
        )
        await self.settle(record, TERM)

    async def _stored(self, record: InFlight, duplicate: bool) -> None:
        """The intent's next event has its PubAck (`duplicate`: the stream had it already)."""
        execution = record.execution
        assert execution is not None
        event = execution.events[record.next_event]
        if duplicate:
            # Stored before, by this intent (a redelivery after a lost ack or a crash, on this
            # instance or another). The outputs counters count what this publish added to the stream.
            self._tally.inc(self._metrics.events_deduplicated, event.kind)
        elif event.kind == "fill":
            self._tally.inc(self._metrics.fills_generated, event.fill_type)
        elif event.kind == "reconcile":
            self._tally.inc(self._metrics.reconciles_generated)
        else:
            self._tally.inc(self._metrics.order_updates_generated, event.fill_type)
        if self._holds and event.kind == "fill":
            # The agent traded again: the venue now reports its held positions.
            self._book.end_holds(self._holds.fill_stored(execution.agent_id, record.stream_seq))
        record.next_event += 1
        record.previous_stored_at = time.monotonic()
        if self._publisher.outstanding >= self._settings.max_pending_events - 1:
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
        await self.settle(record, ACK)
        log.info(
            "intent executed",
            extra={"corr_id": execution.corr_id, "instrument": execution.instrument,
                   "order_type": execution.order_type, "simulation_delay_ms": execution.simulation_delay_ms,
                   "fill_status": execution.final_status, "events": len(execution.events)},
        )

    async def settle(self, record: InFlight, verb: bytes) -> None:
        """Take the intent out of the books and ack, term or nak its input (wire.ACK, TERM, nak_after).

        If the answer cannot be sent, the stream redelivers the input after ack_wait.
        """
        self._book.forget(record)
        try:
            await self._wire.ack(record.reply, verb)
        except Exception as exc:
            log.warning(
                "could not settle input; it will be redelivered",
                extra={"stream_seq": record.stream_seq, "error": f"{type(exc).__name__}: {exc}"},
            )
