"""How an order that did not fill in full is closed: its last fill and its order update.

Runs in the pool's worker processes, the finish step of the execution pipeline
(worker.simulator). Owns the terminal records of an order short of a full fill:
one "cancelled" or "rejected" fill for the quantity not filled (fill_price the mid,
commission 0, the ending's reason and reason_code) and the OrderOutcome its
executions.order_update reports (status, filled quantity, average fill price never
worse than the limit, the order's total commission). worker.events encodes both; and
the Execution the pipeline returns (order_execution).
"""

from __future__ import annotations

import time

from common.messages import Execution
from worker.event_ids import order_id
from worker.events import CANCELLED, EXPIRED, Fill, OrderHeader, OrderOutcome, encode_events, num
from worker.faults import DUPLICATE_FILL, RECONCILE_DELAYED
from worker.order_state import OrderState


def close_order(state: OrderState) -> OrderOutcome | None:
    """The order update of an order that ended short of a full fill (its last fill appended to
    state.fills); None when it filled in full."""
    ending = state.ending
    if ending is None:
        return None
    order, lots, quote = state.order, state.lots, state.quote
    filled = lots.filled if state.fills else 0
    last = Fill(
        index=len(state.fills) + 1, status=CANCELLED if ending.status == EXPIRED else ending.status,
        quantity=lots.rest(), price=quote.mid, intended_price=quote.mid, quote=quote, delay_ms=state.delay_ms,
        market_ms=state.market_ms, stamp_ms=state.stamp_base_ms + state.delay_ms, commission=0.0, slippage=0.0,
        filled_total=filled, reject_reason=ending.reason, reason_code=ending.code, faults=tuple(state.faults),
    )
    outcome = OrderOutcome(
        status=ending.status, filled_quantity=filled,
        average_fill_price=average_price(state.notional, filled, state.decimals, order.sign, order.limit),
        commission=num(state.fees.charged), fill_count=len(state.fills), last=last,
    )
    state.fills.append(last)
    return outcome


def average_price(notional: float, filled: int | float, decimals: int, sign: int, limit: float | None) -> float | None:
    """Volume-weighted fill price; never worse than the limit (each fill is within it, and the
    rounding of the average must not cross it)."""
    if not filled:
        return None
    average = round(notional / filled, decimals + 4)
    if limit is not None:
        average = min(average, limit) if sign > 0 else max(average, limit)
    return average


def order_execution(stream_seq: int, state: OrderState, clock: str, seeded: bool, started: float) -> Execution:
    """The finished order as the worker returns it: its fills (and ending) encoded as events, the
    faults it carries, and the CPU time since `started` (time.perf_counter)."""
    order, plan = state.order, state.plan
    outcome = close_order(state)
    if plan.duplicate_fill:
        state.faults.append(DUPLICATE_FILL)
    if plan.reconcile_delayed:
        state.faults.append(RECONCILE_DELAYED)
    header = OrderHeader(
        corr_id=order.corr_id, order_id=order_id(order.corr_id), strategy_id=order.strategy_id,
        agent_id=order.agent_id, instrument=order.instrument, side=order.side, order_type=order.order_type,
        quantity=order.quantity, intent_ms=order.intent_ms, clock=clock, seeded=seeded,
        price=order.price, stop_price=order.stop_price, rounded_from=state.rounded_from,
    )
    return Execution(
        stream_seq=stream_seq, corr_id=order.corr_id, instrument=order.instrument, order_type=order.order_type,
        final_status=state.fills[-1].status, simulation_delay_ms=state.fills[0].delay_ms,
        events=encode_events(header, state.fills, outcome, plan.duplicate_fill, plan.reconcile_delayed),
        simulation_s=time.perf_counter() - started, agent_id=order.agent_id, faults=tuple(state.faults),
        ending_code="" if state.ending is None else state.ending.code,
    )
