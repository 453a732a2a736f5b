"""How an order that did not fill in full is closed: its last fill and its order update.

Runs in the pool's worker processes, the finish step of the execution pipeline
(worker.simulator). Owns the terminal records of an order short of a full fill:
one "cancelled" or "rejected" fill for the quantity not filled (fill_price the mid,
commission 0, the ending's reason and reason_code) and the OrderOutcome its
executions.order_update reports (status, filled quantity, average fill price never
worse than the limit, the order's total commission). worker.events encodes both.
"""

from __future__ import annotations

from worker.events import CANCELLED, EXPIRED, Fill, OrderOutcome, num
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
