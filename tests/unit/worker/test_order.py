"""worker.order and worker.order_types: the typed order built from an intent, and each order type's rule."""

from __future__ import annotations

import pytest

from tests.builders import T0, accept, make_intent
from worker.directives import Directives, ForcedOutcome
from worker.events import NO_PRICE, NOT_MARKETABLE, NOT_TRIGGERED
from worker.order import Order, order_from_accepted
from worker.order_types import LimitRule, MarketRule, StopLimitRule, StopRule
from worker.time_in_force import FillOrKill, GoodForDay, TimeInForce, time_in_force_policies

POLICIES = time_in_force_policies(7.0)


def order(directives: Directives | None = None, **intent_kw) -> Order:
    return order_from_accepted(accept(make_intent(**intent_kw), directives=directives), POLICIES)


def test_the_order_is_read_once_from_the_intent():
    o = order(corr_id="o1", order_type="stop_limit", side="sell", quantity=250.0, instrument="AAPL", price=189,
              stop_price=190.5)
    assert (o.corr_id, o.strategy_id, o.agent_id, o.instrument) == ("o1", "strat_1", "agent_1", "AAPL")
    assert (o.side, o.sign, o.order_type, o.intent_ms) == ("sell", -1, "stop_limit", T0)
    assert isinstance(o.rule, StopLimitRule)
    assert o.quantity == 250 and isinstance(o.quantity, int)  # whole quantities become int
    assert o.price == 189 and isinstance(o.price, int)  # as given: an int stays an int on the wire
    assert o.stop_price == 190.5 and o.limit == 189
    assert type(o.time_in_force) is TimeInForce and o.force is None and o.forced is None and not o.scripted


@pytest.mark.parametrize("order_type, rule", [("market", MarketRule), ("limit", LimitRule), ("stop", StopRule),
                                              ("stop_limit", StopLimitRule)])
def test_one_rule_per_order_type_and_a_limit_only_for_limit_types(order_type, rule):
    o = order(order_type=order_type, price=1.5, stop_price=1.4)
    assert type(o.rule) is rule
    assert o.limit == (1.5 if order_type in ("limit", "stop_limit") else None)
    assert o.price == 1.5  # reported on the events whatever the type


def test_directives_decide_resting_random_partials_and_scripting():
    day = Directives("DAY")
    assert order(day, order_type="limit", price=1.0).rests
    assert not order(day, order_type="market").rests  # a market order executes at once
    assert order(day, order_type="market").random_partials
    assert not order(day, order_type="limit", price=1.0).random_partials
    assert isinstance(order(day).time_in_force, GoodForDay)
    fok = order(Directives("FOK"))
    assert isinstance(fok.time_in_force, FillOrKill) and not fok.random_partials
    forced = order(Directives("DAY", ForcedOutcome("full")), order_type="limit", price=1.0)
    assert forced.forced == "full" and forced.scripted and not forced.rests and not forced.random_partials
    delayed = order(Directives(None, ForcedOutcome(delay_ms=10)))
    assert delayed.scripted and delayed.forced is None and delayed.random_partials


@pytest.mark.parametrize("side, sign", [("buy", 1), ("sell", -1)])
def test_a_limit_is_marketable_at_or_through_its_price(side, sign):
    o = order(order_type="limit", side=side, price=100.0)
    assert o.rule.verdict(o, 100.0, False) is None
    assert o.rule.verdict(o, 100.0 - sign, False) is None
    away = o.rule.verdict(o, 100.0 + sign, False)
    assert away is not None and away.code == NOT_MARKETABLE and away.waits_for_price
    assert away.reason == (f"limit not marketable: {side} limit 100.0 {'below' if sign > 0 else 'above'} "
                           f"mid {100.0 + sign} (IOC)")
    assert o.rule.awaited_level(o, False) == (100.0, sign < 0)
    assert not o.rule.triggered_by(None)


@pytest.mark.parametrize("side, sign", [("buy", 1), ("sell", -1)])
def test_a_stop_triggers_at_its_price_and_then_is_a_market_order(side, sign):
    o = order(order_type="stop", side=side, stop_price=100.0)
    short = o.rule.verdict(o, 100.0 - sign, False)
    assert short is not None and short.code == NOT_TRIGGERED and short.waits_for_price
    assert not o.rule.triggered_by(short)
    assert o.rule.verdict(o, 100.0, False) is None and o.rule.triggered_by(None)
    assert o.rule.verdict(o, 100.0 - sign, True) is None  # once triggered it stays triggered
    assert o.rule.awaited_level(o, False) == (100.0, sign > 0)
    assert o.rule.awaited_level(o, True) is None  # waits only for trading time


def test_a_stop_limit_triggers_as_a_stop_then_executes_as_a_limit():
    o = order(order_type="stop_limit", side="buy", stop_price=100.0, price=101.0)
    assert o.rule.verdict(o, 99.0, False).code == NOT_TRIGGERED
    through = o.rule.verdict(o, 102.0, False)  # stop reached, limit not marketable
    assert through.code == NOT_MARKETABLE and through.reason.startswith("stop_limit triggered, limit not marketable")
    assert o.rule.triggered_by(through)
    assert o.rule.verdict(o, 100.5, False) is None
    assert o.rule.awaited_level(o, False) == (100.0, True) and o.rule.awaited_level(o, True) == (101.0, False)


def test_a_missing_price_is_a_verdict_that_does_not_wait():
    o = order(order_type="stop_limit", side="buy")
    missing = o.rule.verdict(o, 99.0, False)
    assert missing.code == NO_PRICE and not missing.waits_for_price
    assert order(order_type="limit").rule.verdict(order(order_type="limit"), 1.0, False).code == NO_PRICE
