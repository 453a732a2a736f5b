"""worker.price_grid and the arrival step: limit and stop prices on the tick grid, quantities on the lot grid.

Off the grid an order is rejected at arrival (price_off_tick, quantity_off_lot: a `rejected` fill and
order update, valid against their schemas), or with SIMULATION_OFF_GRID=round rounded the passive way
and then simulated exactly as the on-grid order it became. Binary floats of decimal multiples (0.1
ticks, 0.00001 ticks and lots) count as on the grid; forced outcomes skip the rule.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from common.config import load_settings
from tests.builders import BOOK, FIXED_DELAY, T0, by_kind, execute, make_order, mid_at
from worker.directives import Directives, ForcedOutcome
from worker.events import REASON_CODES
from worker.price_grid import PriceGrid, on_grid

REJECT, ROUND, ACCEPT = {"off_grid": "reject"}, {"off_grid": "round"}, {"off_grid": "accept"}
# Far from ES's market in either direction: the branch never depends on where the mid is.
ES_FAR_BELOW, ES_FAR_ABOVE = 3000.0, 9000.0


def ending(bodies: list[dict]) -> tuple[str, str, str]:
    """(status, reason_code, reject_reason) of the order update."""
    update = [b for b in bodies if "event_type" in b][0]
    return update["status"], update["metadata"]["reason_code"], update["reject_reason"]


# -- rejected off the grid (the default) -------------------------------------------------


def test_an_es_limit_off_the_tick_is_rejected_naming_instrument_value_and_tick():
    ex, bodies = execute(REJECT, instrument="ES_F", order_type="limit", side="buy", quantity=1, price=5891.638)
    fills, reconciles, update = by_kind(ex)
    assert ex.final_status == "rejected"
    assert [f["fill_status"] for f in fills] == ["rejected"] and fills[0]["fill_quantity"] == 1
    assert fills[0]["metadata"]["reason_code"] == "price_off_tick"
    assert reconciles[0]["positions"] == [] and update is not None
    assert ending(bodies) == ("rejected", "price_off_tick", "ES_F limit 5891.638 is not a multiple of tick_size 0.25")


def test_half_an_es_contract_is_rejected_off_the_lot():
    ex, bodies = execute(REJECT, instrument="ES_F", order_type="market", quantity=0.5)
    assert ex.final_status == "rejected"
    assert ending(bodies) == ("rejected", "quantity_off_lot", "ES_F quantity 0.5 is not a multiple of lot_size 1")
    assert by_kind(ex)[0][0]["fill_quantity"] == 0.5  # the order as it was sent, refused whole


def test_an_es_stop_off_the_tick_is_rejected():
    ex, bodies = execute(REJECT, instrument="ES_F", order_type="stop", side="buy", quantity=2, stop_price=5900.1)
    assert ending(bodies) == ("rejected", "price_off_tick", "ES_F stop 5900.1 is not a multiple of tick_size 0.25")


def test_a_stop_limit_is_checked_on_both_prices():
    _, bodies = execute(REJECT, instrument="ES_F", order_type="stop_limit", side="sell", quantity=1,
                        stop_price=5900.0, price=5899.9)
    assert ending(bodies)[1:] == ("price_off_tick", "ES_F limit 5899.9 is not a multiple of tick_size 0.25")


def test_a_price_the_order_type_does_not_use_is_not_checked():
    # A market order's stray price field takes no part in its execution.
    ex, _ = execute(REJECT, instrument="ES_F", order_type="market", quantity=1, price=5891.638)
    assert ex.final_status == "full"


@pytest.mark.parametrize("instrument,order_type,quantity,prices", [
    ("ES_F", "limit", 3, {"price": 5891.75}),
    ("ES_F", "stop", 3, {"stop_price": 5900.25}),
    ("GC_F", "limit", 2, {"price": 2641.3}),
    ("GC_F", "stop_limit", 2, {"stop_price": 2641.3, "price": 2641.2 + 0.1}),  # 2641.2999999999997
    ("EURUSD", "limit", 5000, {"price": 1.03541}),
    ("EURUSD", "stop", 3000, {"stop_price": 1.00003}),
    ("BTC/USD", "market", 0.00001, {}),
    ("BTC/USD", "limit", 0.00003, {"price": 96000.07}),
    ("BTC/USD", "market", 12345.67891, {}),
])
def test_values_on_the_grid_are_accepted(instrument, order_type, quantity, prices):
    for side in ("buy", "sell"):
        ex, bodies = execute(REJECT, instrument=instrument, order_type=order_type, side=side, quantity=quantity, **prices)
        update = [b for b in bodies if "event_type" in b]
        codes = {u["metadata"]["reason_code"] for u in update}
        assert not codes & {"price_off_tick", "quantity_off_lot"}, (side, update)
        assert ex.final_status != "rejected"


def test_the_new_reason_codes_are_known():
    assert {"price_off_tick", "quantity_off_lot"} <= set(REASON_CODES)


# -- the grid predicate against binary floats ---------------------------------------------

STEPS = (0.25, 0.1, 0.01, 0.001, 0.00001, 0.00000001, 1.0, 1000.0)


@hsettings(max_examples=400, deadline=None)
@given(step=st.sampled_from(STEPS), multiple=st.integers(1, 10**12))
def test_every_decimal_multiple_is_on_the_grid(step, multiple):
    value = float(Decimal(multiple) * Decimal(repr(step)))  # what an agent's JSON carries
    assert on_grid(value, step)


@hsettings(max_examples=400, deadline=None)
@given(step=st.sampled_from(STEPS), multiple=st.integers(0, 10**9), off=st.floats(1e-6, 1 - 1e-6))
def test_a_value_a_millionth_of_a_step_away_is_off_the_grid(step, multiple, off):
    value = float((Decimal(multiple) + Decimal(off)) * Decimal(repr(step)))
    assert not on_grid(value, step)


def test_float_arithmetic_noise_is_on_the_grid():
    assert on_grid(0.1 + 0.2, 0.1) and on_grid(2641.2 + 0.1, 0.1) and on_grid(1.03541, 0.00001)
    assert on_grid(3 * 0.00001, 0.00001) and on_grid(12345.67891, 0.00001) and on_grid(5891.75, 0.25)
    assert not on_grid(5891.638, 0.25) and not on_grid(5900.1, 0.25) and not on_grid(1.035415, 0.00001)
    assert not on_grid(0.000015, 0.00001) and not on_grid(0.5, 1.0)


# -- rounded under SIMULATION_OFF_GRID=round ------------------------------------------------


@pytest.mark.parametrize("order_type,side,prices,rounded", [
    ("limit", "buy", {"price": 5891.638}, {"price": 5891.5}),  # a buy limit rounds down
    ("limit", "sell", {"price": 5891.638}, {"price": 5891.75}),  # a sell limit up
    ("stop", "buy", {"stop_price": 5900.1}, {"stop_price": 5900.25}),  # a buy stop up
    ("stop", "sell", {"stop_price": 5900.1}, {"stop_price": 5900.0}),  # a sell stop down
    ("stop_limit", "buy", {"stop_price": 5900.1, "price": 5901.3}, {"stop_price": 5900.25, "price": 5901.25}),
])
def test_rounding_is_never_to_the_traders_advantage(order_type, side, prices, rounded):
    order = make_order(instrument="ES_F", order_type=order_type, side=side, quantity=1, **prices)
    admitted = PriceGrid(load_settings({"SIMULATION_OFF_GRID": "round"})).admit(order, BOOK.get("ES_F"))
    assert admitted.refusal is None
    assert {name: getattr(admitted.order, name) for name in rounded} == rounded
    assert dict(admitted.rounded_from) == prices


def test_quantity_rounds_down_to_whole_lots_and_zero_lots_is_rejected():
    grid = PriceGrid(load_settings({"SIMULATION_OFF_GRID": "round"}))
    cases = [("ES_F", 2.7, 2), ("EURUSD", 5500, 5000), ("BTC/USD", 0.000019, 0.00001), ("BTC/USD", 1.234567891, 1.23456)]
    for instrument, quantity, expected in cases:
        admitted = grid.admit(make_order(instrument=instrument, quantity=quantity), BOOK.get(instrument))
        assert admitted.order.quantity == expected and type(admitted.order.quantity) is type(expected)
        assert dict(admitted.rounded_from) == {"quantity": quantity}
    refused = grid.admit(make_order(instrument="ES_F", quantity=0.5), BOOK.get("ES_F"))
    assert refused.refusal is not None and refused.refusal.code == "quantity_off_lot"
    assert refused.refusal.reason == "ES_F quantity 0.5 is less than one lot_size 1"


def test_a_price_that_would_round_to_zero_is_rejected():
    grid = PriceGrid(load_settings({"SIMULATION_OFF_GRID": "round"}))
    refused = grid.admit(make_order(instrument="ES_F", order_type="limit", price=0.1, quantity=1), BOOK.get("ES_F"))
    assert refused.refusal is not None and refused.refusal.code == "price_off_tick"
    # The sell side rounds up, away from zero: accepted at one tick.
    sell = grid.admit(make_order(instrument="ES_F", order_type="limit", side="sell", price=0.1, quantity=1),
                      BOOK.get("ES_F"))
    assert sell.refusal is None and sell.order.price == 0.25


@pytest.mark.parametrize("order_type,side,quantity,prices,on_grid_prices,on_grid_quantity", [
    ("market", "buy", 7.9, {}, {}, 7),
    ("limit", "buy", 3, {"price": ES_FAR_ABOVE + 0.1}, {"price": ES_FAR_ABOVE}, 3),  # marketable: fills
    ("limit", "buy", 3, {"price": ES_FAR_BELOW + 0.1}, {"price": ES_FAR_BELOW}, 3),  # not marketable
    ("limit", "sell", 3.5, {"price": ES_FAR_BELOW + 0.1}, {"price": ES_FAR_BELOW + 0.25}, 3),
    ("stop", "sell", 2, {"stop_price": ES_FAR_ABOVE + 0.1}, {"stop_price": ES_FAR_ABOVE}, 2),  # triggered
    ("stop", "buy", 2, {"stop_price": ES_FAR_ABOVE + 0.1}, {"stop_price": ES_FAR_ABOVE + 0.25}, 2),
])
def test_a_rounded_order_executes_exactly_as_the_on_grid_order_it_became(
        order_type, side, quantity, prices, on_grid_prices, on_grid_quantity):
    common = {"instrument": "ES_F", "order_type": order_type, "side": side}
    rounded_ex, rounded = execute(ROUND, quantity=quantity, **prices, **common)
    plain_ex, plain = execute(ROUND, quantity=on_grid_quantity, **on_grid_prices, **common)
    assert rounded_ex.final_status == plain_ex.final_status
    requested = {"quantity": quantity} if quantity != on_grid_quantity else {}
    requested.update({name: value for name, value in prices.items() if value != on_grid_prices[name]})
    for event, plain_event in zip(rounded, plain, strict=True):
        assert event["metadata"].pop("rounded_from", None) == (requested if "reconcile_id" not in event else None)
        assert event == plain_event


def test_a_rounded_resting_order_rests_at_its_rounded_level():
    # GTC: it waits for the mid to reach the rounded limit, so it fills where the on-grid order does.
    directives = {"metadata": {"time_in_force": "GTC"}}
    common = {"instrument": "ES_F", "order_type": "limit", "side": "buy", "quantity": 1, **directives}
    # A point below ES's market at the test's instant (a tick and a half off the grid): it rests, then fills.
    on_grid_level = math.floor(mid_at("ES_F", T0 + FIXED_DELAY)) - 1.0
    off_grid_level = on_grid_level + 0.15  # a buy rounds down
    ex, rounded = execute(ROUND, price=off_grid_level, **common)
    _, plain = execute(ROUND, price=on_grid_level, **common)
    assert ex.final_status == "full" and rounded[0]["execution_latency_ms"] > 1_000
    for event, plain_event in zip(rounded, plain, strict=True):
        assert event["metadata"].pop("rounded_from", None) == (
            {"price": off_grid_level} if "fill_id" in event else None)
        assert event == plain_event
    assert rounded[0]["metadata"]["limit_price"] == on_grid_level and rounded[0]["fill_price"] <= on_grid_level


# -- forced outcomes and the setting ----------------------------------------------------------


def test_a_forced_outcome_skips_the_grid():
    ex, bodies = execute(REJECT, instrument="ES_F", quantity=0.5, metadata={"exec_sim_force": {"outcome": "full"}})
    assert ex.final_status == "full" and bodies[0]["fill_quantity"] == 0.5


def test_a_forced_delay_alone_still_meets_the_grid():
    ex, bodies = execute(REJECT, instrument="ES_F", quantity=0.5, metadata={"exec_sim_force": {"delay_ms": 250}})
    assert ending(bodies)[:2] == ("rejected", "quantity_off_lot")


def test_forced_outcomes_are_not_rounded_either():
    order = make_order(instrument="ES_F", quantity=0.5,
                       directives=Directives(force=ForcedOutcome(outcome="full")))
    admitted = PriceGrid(load_settings({"SIMULATION_OFF_GRID": "round"})).admit(order, BOOK.get("ES_F"))
    assert admitted.order is order and admitted.refusal is None and admitted.rounded_from == ()


def test_accept_takes_the_order_as_sent():
    ex, bodies = execute(ACCEPT, instrument="ES_F", order_type="limit", side="buy", quantity=0.5, price=9000.123)
    assert ex.final_status == "full" and bodies[0]["fill_quantity"] == 0.5
    assert bodies[0]["metadata"]["limit_price"] == 9000.123 and "rounded_from" not in bodies[0]["metadata"]
