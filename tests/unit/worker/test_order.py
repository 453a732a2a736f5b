"""worker.order: the typed order, built once from an accepted intent and its directives."""

from __future__ import annotations

import pytest

from tests.builders import T0, make_order
from worker.directives import Directives, ForcedOutcome
from worker.order_types import LimitRule, MarketRule, StopLimitRule, StopRule
from worker.time_in_force import FillOrKill, GoodForDay, TimeInForce


def test_the_order_is_read_once_from_the_intent():
    o = make_order(corr_id="o1", order_type="stop_limit", side="sell", quantity=250.0, instrument="AAPL", price=189,
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
    o = make_order(order_type=order_type, price=1.5, stop_price=1.4)
    assert type(o.rule) is rule
    assert o.limit == (1.5 if order_type in ("limit", "stop_limit") else None)
    assert o.price == 1.5  # reported on the events whatever the type


def test_directives_decide_resting_random_partials_and_scripting():
    day = Directives("DAY")
    assert make_order(day, order_type="limit", price=1.0).rests
    assert not make_order(day, order_type="market").rests  # a market order executes at once
    assert make_order(day, order_type="market").random_partials
    assert not make_order(day, order_type="limit", price=1.0).random_partials
    assert isinstance(make_order(day).time_in_force, GoodForDay)
    fok = make_order(Directives("FOK"))
    assert isinstance(fok.time_in_force, FillOrKill) and not fok.random_partials
    forced = make_order(Directives("DAY", ForcedOutcome("full")), order_type="limit", price=1.0)
    assert forced.forced == "full" and forced.scripted and not forced.rests and not forced.random_partials
    delayed = make_order(Directives(None, ForcedOutcome(delay_ms=10)))
    assert delayed.scripted and delayed.forced is None and delayed.random_partials
