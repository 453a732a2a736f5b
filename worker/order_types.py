"""One rule object per order type: when it triggers, when it is marketable, what it waits for.

Runs in the pool's worker processes, used by the execution pipeline (worker.simulator)
through the typed order (worker.order). Owns the order-type rules; s is the side's
sign (+1 buy, -1 sell) and mid the reference mid at the market time:

    market      executes at the fill-price model's price
    limit       marketable iff buy and limit >= mid, or sell and limit <= mid; fills at
                the model's price capped by the limit (never worse)
    stop        triggers iff buy and mid >= stop_price, or sell and mid <= stop_price,
                then executes as market
    stop_limit  triggers as stop, then executes as limit
    otherwise   the default time in force cancels it (not_marketable, stop_not_triggered);
                a DAY or GTC order rests until the price path reaches the level it waits for

A stop that has triggered (or has filled) stays triggered: its child fills are
checked against the limit only. The intended price (the reference of the fill's
slippage) is the limit for limit/stop_limit, else the mid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from worker.events import NO_PRICE, NOT_MARKETABLE, NOT_TRIGGERED

if TYPE_CHECKING:  # the typed order holds its rule; the rule only reads the order
    from worker.order import Order


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an order does not execute at this mid (reason_code in worker.events)."""

    code: str
    reason: str

    @property
    def waits_for_price(self) -> bool:
        """A resting order waits out this verdict (a stop short of its trigger, a limit away)."""
        return self.code in (NOT_MARKETABLE, NOT_TRIGGERED)


class OrderTypeRule:
    """The market order's rule, and the base of the others: always executes, at the mid's price."""

    name = "market"

    def verdict(self, order: Order, mid: float, triggered: bool) -> Verdict | None:
        """None when the order executes at this mid, else why not."""
        return None

    def triggered_by(self, verdict: Verdict | None) -> bool:
        """The order's stop is reached once this verdict is given (stops only)."""
        return False

    def limit(self, order: Order) -> float | None:
        """The price a fill must not be worse than; None for no limit."""
        return None

    def intended_price(self, order: Order, mid: float) -> float:
        """The price a fill's slippage is measured from: the mid, or the limit of a limit type."""
        limit = self.limit(order)
        return mid if limit is None else limit

    def awaited_level(self, order: Order, triggered: bool) -> tuple[float, bool] | None:
        """(level, above) a resting order waits for the mid to reach; None: only trading time."""
        return None


class MarketRule(OrderTypeRule):
    pass


class LimitRule(OrderTypeRule):
    name = "limit"
    stage = "limit"  # how the not-marketable reason names the order

    def verdict(self, order: Order, mid: float, triggered: bool) -> Verdict | None:
        limit = order.price
        if limit is None:
            return Verdict(NO_PRICE, f"{self.name} without price cannot execute (IOC)")
        if order.sign * (limit - mid) < 0:
            where = "below" if order.sign > 0 else "above"
            return Verdict(NOT_MARKETABLE, f"{self.stage} not marketable: {order.side} limit {limit} {where} mid {mid} (IOC)")
        return None

    def limit(self, order: Order) -> float | None:
        return order.price

    def awaited_level(self, order: Order, triggered: bool) -> tuple[float, bool] | None:
        # A buy limit is marketable at mid <= limit, a sell at mid >= limit.
        return _required(order.price), order.sign < 0


class StopRule(OrderTypeRule):
    name = "stop"

    def verdict(self, order: Order, mid: float, triggered: bool) -> Verdict | None:
        return None if triggered else _stop_verdict(self.name, order, mid)

    def triggered_by(self, verdict: Verdict | None) -> bool:
        return verdict is None

    def awaited_level(self, order: Order, triggered: bool) -> tuple[float, bool] | None:
        # Triggered, it is a market order: it waits only for trading time.
        return None if triggered else (_required(order.stop_price), order.sign > 0)


class StopLimitRule(LimitRule):
    name = "stop_limit"
    stage = "stop_limit triggered, limit"

    def verdict(self, order: Order, mid: float, triggered: bool) -> Verdict | None:
        if not triggered:
            short_of_stop = _stop_verdict(self.name, order, mid)
            if short_of_stop is not None:
                return short_of_stop
        return super().verdict(order, mid, triggered)

    def triggered_by(self, verdict: Verdict | None) -> bool:
        # Not marketable means the stop was reached: the limit is what it waits for now.
        return verdict is None or verdict.code == NOT_MARKETABLE

    def awaited_level(self, order: Order, triggered: bool) -> tuple[float, bool] | None:
        if not triggered:
            return _required(order.stop_price), order.sign > 0
        return super().awaited_level(order, triggered)


def _stop_verdict(name: str, order: Order, mid: float) -> Verdict | None:
    """A buy stop triggers at mid >= stop, a sell stop at mid <= stop."""
    stop = order.stop_price
    if stop is None:
        return Verdict(NO_PRICE, f"{name} without stop_price cannot trigger (IOC)")
    if order.sign * (mid - stop) < 0:
        where = "above" if order.sign > 0 else "below"
        return Verdict(NOT_TRIGGERED, f"{name} not triggered: {order.side} stop {stop} {where} mid {mid} (IOC)")
    return None


def _required(price: float | None) -> float:
    # Validation requires the price an order type needs, and a missing one never rests (its
    # verdict is missing_price, which does not wait).
    if price is None:
        raise ValueError("a resting order without the price it waits for")
    return price


RULES: dict[str, OrderTypeRule] = {rule.name: rule for rule in (MarketRule(), LimitRule(), StopRule(), StopLimitRule())}
