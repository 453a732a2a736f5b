"""Collect: take the workers' results and decide what each intent becomes.

Runs in the supervisor process, on its event loop. Owns the collect step and
the corr_id window (supervisor/idempotency.py). For each outcome of a batch:

    rejection            counted, logged, terminated (AckTerm, via outbound's settle)
    corr_id seen before  from this very message (a redelivery after a lost ack):
                         acked quietly; from another message: a duplicate rejection
    long order           its last event far off: moved to the long-order room
                         (supervisor/long_orders.py), or refused when its agent's
                         share or the room is full (EXEC-017, terminated, counted);
                         a redelivery is never refused (it may have events stored)
    execution            counted, and its first event scheduled at its simulated
                         release time in the book (supervisor/book.py)
    awaiting market      MARKET_DATA=bus: to the bus market (supervisor/market_bus.py),
                         which sends it again once the data it needs is stored

The results arrive on an asyncio queue that the pool's bridge thread fills
(supervisor/pool.py); one wake of the release step follows each batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from common.config import Settings
from common.error_codes import DUPLICATE_CORR_ID, LONG_ORDER_REFUSED
from common.messages import AwaitingMarket, BatchResult, Execution, Rejection
from common.metrics import Metrics, MetricTally
from supervisor.book import InFlightBook
from supervisor.idempotency import CorrIdWindow
from supervisor.inflight import InFlight
from supervisor.long_orders import AGENT_SHARE_FULL
from supervisor.market_bus import BusMarket
from supervisor.outbound import Outbound
from supervisor.wire import ACK
from worker.events import NO_MARKET_DATA
from worker.rejections import DUPLICATE, LONG_ORDER_ROOM, reject

log = logging.getLogger("at_exec_sim.supervisor")


class Collector:
    def __init__(
        self, settings: Settings, metrics: Metrics, tally: MetricTally, book: InFlightBook,
        results: asyncio.Queue[BatchResult], outbound: Outbound, batch_answered: Callable[[int], None],
        market: BusMarket | None = None,
    ) -> None:
        self._market = market  # MARKET_DATA=bus: where intents waiting for market data go
        self._metrics = metrics
        self._tally = tally
        self._book = book
        self._results = results
        self._outbound = outbound
        self._batch_answered = batch_answered  # intake's: room at the workers for the next turns
        self._corr_ids = CorrIdWindow(settings.idempotency_ttl_s, settings.idempotency_max_corr_ids)

    async def collect_loop(self) -> None:
        m, tally, in_flight = self._metrics, self._tally, self._book.records
        schedule_next, settle = self._book.schedule_next, self._outbound.settle
        while True:
            result = await self._results.get()
            self._batch_answered(result.batch_id)
            now = time.monotonic()
            for outcome in result.outcomes:
                record = in_flight.get(outcome.stream_seq)
                if record is None or record.execution is not None:
                    continue  # handed back, or a re-dispatched batch answered twice
                if isinstance(outcome, AwaitingMarket):
                    if self._market is not None:
                        self._market.awaiting(outcome)
                    continue
                if self._market is not None:
                    self._market.answered(outcome.stream_seq)
                if isinstance(outcome, Rejection):
                    await self._reject(record, outcome)
                    continue
                # Before the corr_id is claimed (a refused order may be sent again under it), and only
                # for a corr_id nobody holds: a duplicate is a duplicate, not a long order to refuse.
                if (self._corr_ids.holder(outcome.agent_id, outcome.corr_id, now) is None
                        and self._book.is_long(record, outcome) and not await self._to_long_orders(record, outcome)):
                    continue
                claimed_by = self._corr_ids.claim(outcome.agent_id, outcome.corr_id, outcome.stream_seq, now)
                if claimed_by == outcome.stream_seq and record.redelivered:
                    # This very message again (its ack was lost, e.g. in a NATS crash):
                    # already executed and counted; its events are stored. Settle it quietly.
                    log.info("redelivered intent already executed; acked",
                             extra={"corr_id": outcome.corr_id, "stream_seq": outcome.stream_seq})
                    await settle(record, ACK)
                    continue
                if claimed_by is not None:
                    tally.inc(m.duplicate_orders)
                    await self._reject(
                        record,
                        reject(outcome.stream_seq, DUPLICATE, DUPLICATE_CORR_ID, outcome.corr_id,
                               f"corr_id already filled for agent_id {outcome.agent_id} within IDEMPOTENCY_TTL_SEC"),
                    )
                    continue
                tally.inc(m.orders_received, "accepted")
                self._count_no_market_data(outcome)
                for fault in outcome.faults:
                    tally.inc(m.faults_injected, fault)
                tally.observe(m.simulation_duration, outcome.simulation_s)
                tally.observe(m.intake_duration, now - record.receipt_at)
                record.execution = outcome
                schedule_next(record)
            self._book.wake_release.set()

    async def _to_long_orders(self, record: InFlight, execution: Execution) -> bool:
        """Move a long order to its room: False when it is refused (terminated, counted, logged)."""
        refused = self._book.to_long_orders(record, execution.agent_id, force=record.redelivered)
        if refused is None:
            return True
        self._tally.inc(self._metrics.long_orders_refused, refused)
        room = self._book.long_orders
        detail = (f"agent holds MAX_LONG_ORDERS_PER_AGENT={room.max_per_agent} long orders"
                  if refused == AGENT_SHARE_FULL else f"the long-order room (MAX_LONG_ORDERS={room.max_orders}) is full")
        await self._reject(record, reject(record.stream_seq, LONG_ORDER_ROOM, LONG_ORDER_REFUSED, execution.corr_id,
                                          f"long order refused: {detail}"))
        return False

    def _count_no_market_data(self, execution: Execution) -> None:
        """Under the bus, an order refused for want of market data is the stale alert's evidence."""
        if self._market is not None and execution.ending_code == NO_MARKET_DATA:
            self._market.no_market_data(execution.instrument)

    async def _reject(self, record: InFlight, rejection: Rejection) -> None:
        status = {DUPLICATE: "duplicate", LONG_ORDER_ROOM: "refused"}.get(rejection.error_type, "invalid")
        self._tally.inc(self._metrics.orders_received, status)
        await self._outbound.terminate(record, rejection)
