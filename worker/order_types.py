"""One rule object per order type: when it triggers, when it is marketable, what it waits for.

Runs in the pool's worker processes, used by the execution pipeline (worker.simulator)
through the typed order (worker.order). Owns the order-type rules against the quote at
the market time (a venue's touch: buyers take the ask, sellers the bid):

    market      executes at the fill-price model's prices
    limit       marketable iff buy and limit >= ask, or sell and limit <= bid; fills at
                the model's prices, never beyond the limit
    stop        triggers iff buy and ask >= stop_price, or sell and bid <= stop_price
                (where a buyer's or a seller's trade prints), then executes as market
    stop_limit  triggers as stop, then executes as limit
    otherwise   the default time in force cancels it (not_marketable, stop_not_triggered);
                a DAY or GTC order rests until the quote reaches the level it waits for:
                awaited_level says which level, which way and on which side (a buy
                limit: the ask at or below it; a sell limit: the bid at or above it)

A stop that has triggered (or has filled) stays triggered: its child fills are
checked against the limit only. The intended price (the reference of the fill's
slippage) is the limit for limit/stop_limit, else the mid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from worker.events import NO_PRICE, NOT_MARKETABLE, NOT_TRIGGERED
from worker.market import Quote

if TYPE_CHECKING:  # the typed order holds its rule; the rule only reads the order
    from worker.order import Order

# What a resting order waits for: (level, above, side of the quote), for MarketView.first_crossing.
AwaitedLevel = tuple[float, bool, str]


def touch(quote: Quote, sign: int) -> float:
    """The price an order of side `sign` takes: the ask for a buy, the bid for a sell."""
    return quote.ask if sign > 0 else quote.bid


def touch_side(sign: int) -> str:
    """The side of the quote an order of side `sign` takes ("ask" for a buy)."""
    return "ask" if sign > 0 else "bid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an order does not execute at this quote (reason_code in worker.events)."""

    code: str
    reason: str

    @property
    def waits_for_price(self) -> bool:
        """A resting order waits out this verdict (a stop short of its trigger, a limit away)."""
        return self.code in (NOT_MARKETABLE, NOT_TRIGGERED)


class OrderTypeRule:
    """The market order's rule, and the base of the others: always executes."""

    name = "market"

    def verdict(self, order: Order, quote: Quote, triggered: bool) -> Verdict | None:
        """None when the order executes at this quote, else why not."""
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

    def awaited_level(self, order: Order, triggered: bool) -> AwaitedLevel | None:
        """(level, above, side) a resting order waits for the quote to reach; None: only trading time."""
        return None

    def rests_at_limit(self, order: Order, triggered: bool) -> bool:
        """What it waits for is its limit: it rests in the book there (a maker, worker.matching)."""
        return False


class MarketRule(OrderTypeRule):
    pass


class LimitRule(OrderTypeRule):
    name = "limit"
    stage = "limit"  # how the not-marketable reason names the order

    def verdict(self, order: Order, quote: Quote, triggered: bool) -> Verdict | None:
        limit = order.price
        if limit is None:
            return Verdict(NO_PRICE, f"{self.name} without price cannot execute (IOC)")
        price = touch(quote, order.sign)
        if order.sign * (limit - price) < 0:
            where = "below ask" if order.sign > 0 else "above bid"
            return Verdict(NOT_MARKETABLE,
                           f"{self.stage} not marketable: {order.side} limit {limit} {where} {price} (IOC)")
        return None

    def limit(self, order: Order) -> float | None:
        return order.price

    def awaited_level(self, order: Order, triggered: bool) -> AwaitedLevel | None:
        # A buy limit is marketable at ask <= limit, a sell at bid >= limit.
        return _required(order.price), order.sign < 0, touch_side(order.sign)

    def rests_at_limit(self, order: Order, triggered: bool) -> bool:
        return True


class StopRule(OrderTypeRule):
    name = "stop"

    def verdict(self, order: Order, quote: Quote, triggered: bool) -> Verdict | None:
        return None if triggered else _stop_verdict(self.name, order, quote)

    def triggered_by(self, verdict: Verdict | None) -> bool:
        return verdict is None

    def awaited_level(self, order: Order, triggered: bool) -> AwaitedLevel | None:
        # Triggered, it is a market order: it waits only for trading time.
        return None if triggered else _stop_level(order)


class StopLimitRule(LimitRule):
    name = "stop_limit"
    stage = "stop_limit triggered, limit"

    def verdict(self, order: Order, quote: Quote, triggered: bool) -> Verdict | None:
        if not triggered:
            short_of_stop = _stop_verdict(self.name, order, quote)
            if short_of_stop is not None:
                return short_of_stop
        return super().verdict(order, quote, triggered)

    def triggered_by(self, verdict: Verdict | None) -> bool:
        # Not marketable means the stop was reached: the limit is what it waits for now.
        return verdict is None or verdict.code == NOT_MARKETABLE

    def awaited_level(self, order: Order, triggered: bool) -> AwaitedLevel | None:
        if not triggered:
            return _stop_level(order)
        return super().awaited_level(order, triggered)

    def rests_at_limit(self, order: Order, triggered: bool) -> bool:
        return triggered


def _stop_verdict(name: str, order: Order, quote: Quote) -> Verdict | None:
    """A buy stop triggers at ask >= stop, a sell stop at bid <= stop."""
    stop = order.stop_price
    if stop is None:
        return Verdict(NO_PRICE, f"{name} without stop_price cannot trigger (IOC)")
    price = touch(quote, order.sign)
    if order.sign * (price - stop) < 0:
        where = "above ask" if order.sign > 0 else "below bid"
        return Verdict(NOT_TRIGGERED, f"{name} not triggered: {order.side} stop {stop} {where} {price} (IOC)")
    return None


def _stop_level(order: Order) -> AwaitedLevel:
    # A buy stop waits for the ask to rise to it, a sell stop for the bid to fall to it.
    return _required(order.stop_price), order.sign > 0, touch_side(order.sign)


def _required(price: float | None) -> float:
    # Validation requires the price an order type needs, and a missing one never rests (its
    # verdict is missing_price, which does not wait).
    if price is None:
        raise ValueError("a resting order without the price it waits for")
    return price


RULES: dict[str, OrderTypeRule] = {rule.name: rule for rule in (MarketRule(), LimitRule(), StopRule(), StopLimitRule())}
