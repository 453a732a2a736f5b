"""worker.order_types: each order type's verdict against the touch, trigger, limit and awaited level."""

from __future__ import annotations

import pytest

from tests.builders import make_order
from worker.events import NO_PRICE, NOT_MARKETABLE, NOT_TRIGGERED
from worker.market import Quote


def at(price: float, half_spread: float = 0.5) -> Quote:
    """A quote whose mid is `price`, one unit wide by default."""
    return Quote(bid=price - half_spread, ask=price + half_spread, mid=price, volume=1.0)


@pytest.mark.parametrize("side, sign", [("buy", 1), ("sell", -1)])
def test_a_limit_is_marketable_when_it_reaches_the_opposite_touch(side, sign):
    o = make_order(order_type="limit", side=side, price=100.0)
    assert o.rule.verdict(o, at(100.0 - sign * 0.5), False) is None  # the ask (bid) at the limit
    assert o.rule.verdict(o, at(100.0 - sign), False) is None  # through it
    # At the mid, or between the mid and the touch: not marketable.
    for quote in (at(100.0), at(100.0 + sign * 0.25)):
        away = o.rule.verdict(o, quote, False)
        assert away is not None and away.code == NOT_MARKETABLE and away.waits_for_price
    away = o.rule.verdict(o, at(100.0), False)
    assert away.reason == (f"limit not marketable: {side} limit 100.0 {'below ask' if sign > 0 else 'above bid'} "
                           f"{100.0 + sign * 0.5} (IOC)")
    assert o.rule.awaited_level(o, False) == (100.0, sign < 0, "ask" if sign > 0 else "bid")
    assert o.rule.rests_at_limit(o, False)
    assert not o.rule.triggered_by(None)


@pytest.mark.parametrize("side, sign", [("buy", 1), ("sell", -1)])
def test_a_stop_triggers_when_the_touch_reaches_it_and_then_is_a_market_order(side, sign):
    o = make_order(order_type="stop", side=side, stop_price=100.0)
    short = o.rule.verdict(o, at(100.0 - sign), False)
    assert short is not None and short.code == NOT_TRIGGERED and short.waits_for_price
    assert not o.rule.triggered_by(short)
    # The ask (a buy's) at the stop while the mid is short of it: triggered.
    assert o.rule.verdict(o, at(100.0 - sign * 0.5), False) is None and o.rule.triggered_by(None)
    assert o.rule.verdict(o, at(100.0 - sign * 0.75), False).code == NOT_TRIGGERED
    assert o.rule.verdict(o, at(100.0 - sign), True) is None  # once triggered it stays triggered
    assert o.rule.awaited_level(o, False) == (100.0, sign > 0, "ask" if sign > 0 else "bid")
    assert o.rule.awaited_level(o, True) is None  # waits only for trading time
    assert not o.rule.rests_at_limit(o, False)


def test_a_stop_limit_triggers_as_a_stop_then_executes_as_a_limit():
    o = make_order(order_type="stop_limit", side="buy", stop_price=100.0, price=101.0)
    assert o.rule.verdict(o, at(99.0), False).code == NOT_TRIGGERED
    through = o.rule.verdict(o, at(102.0), False)  # stop reached, limit not marketable
    assert through.code == NOT_MARKETABLE and through.reason.startswith("stop_limit triggered, limit not marketable")
    assert o.rule.triggered_by(through)
    assert o.rule.verdict(o, at(100.5), False) is None
    assert o.rule.awaited_level(o, False) == (100.0, True, "ask")
    assert o.rule.awaited_level(o, True) == (101.0, False, "ask")
    assert o.rule.rests_at_limit(o, True) and not o.rule.rests_at_limit(o, False)


def test_a_missing_price_is_a_verdict_that_does_not_wait():
    o = make_order(order_type="stop_limit", side="buy")
    missing = o.rule.verdict(o, at(99.0), False)
    assert missing.code == NO_PRICE and not missing.waits_for_price
    assert make_order(order_type="limit").rule.verdict(make_order(order_type="limit"), at(1.0), False).code == NO_PRICE
