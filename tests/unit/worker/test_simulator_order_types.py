"""worker.simulator: the order-type rules, one order type at a time, against the touch.

Market orders fill at the touch (the ask for a buy, the bid for a sell) and beyond it on the tick
grid; a limit is marketable when it reaches the opposite touch and fills never beyond its limit,
one that is not is cancelled (IOC); a stop triggers when the touch reaches it and executes as a
market order, one short of it is cancelled; a stop_limit passes both stages or is cancelled at the
one it fails. Absurd notionals are cancelled, not crashed.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.builders import (
    BOOK,
    FILL_V,
    FIXED_DELAY,
    RECONCILE_V,
    SEED,
    T0,
    assert_valid,
    fills_of,
    fixed_sim,
    make_sim,
    mid_at,
    run,
    update_of,
)
from worker.market import Market, Quote


def quote_at(instrument: str = "EURUSD", at_ms: int = T0 + FIXED_DELAY) -> Quote:
    return Market(SEED, BOOK).quote(instrument, at_ms)


def touch(quote: Quote, sign: int) -> float:
    return quote.ask if sign > 0 else quote.bid


# -- market orders ---------------------------------------------------------------------


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_a_small_market_order_fills_at_the_touch(side, sign):
    sim = make_sim()
    market = Market(SEED, BOOK)
    for i in range(100):
        ex, bodies = run(sim, corr_id=f"mkt{i}", side=side, instrument="AAPL", quantity=10)
        (fill,) = fills_of(bodies)
        assert fill["fill_status"] == "full" and ex.final_status == "full"
        # Priced at the reference market at intent time + delay.
        quote = market.quote("AAPL", T0 + fill["execution_latency_ms"])
        data = fill["market_data"]
        assert (data["bid"], data["ask"], data["mid"]) == (quote.bid, quote.ask, quote.mid)
        assert fill["fill_price"] == touch(quote, sign)
        assert fill["slippage"] == pytest.approx(sign * (fill["fill_price"] - quote.mid), abs=1e-9)
        assert fill["metadata"]["intended_price"] == quote.mid


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_uniform_slippage_is_whole_ticks_beyond_the_touch_up_to_its_bound(side, sign):
    sim = make_sim(slippage_model="uniform", slippage_bps=5.0)
    tick = BOOK.get("AAPL").tick_size
    shares = []
    for i in range(300):
        _, bodies = run(sim, corr_id=f"uni{i}", side=side, instrument="AAPL", quantity=10)
        (fill,) = fills_of(bodies)
        data = fill["market_data"]
        beyond = sign * (fill["fill_price"] - (data["ask"] if sign > 0 else data["bid"])) / tick
        assert abs(beyond - round(beyond)) < 1e-6 and 0 <= round(beyond) <= math.ceil(data["mid"] * 5e-4 / tick)
        shares.append(round(beyond) / math.ceil(data["mid"] * 5e-4 / tick))
    assert min(shares) < 0.1 and max(shares) > 0.9  # the draw spreads over the whole range


@hsettings(max_examples=200, deadline=None)
@given(
    corr_id=st.from_regex(r"\A[a-zA-Z0-9_-]{1,128}\Z"),
    side=st.sampled_from(["buy", "sell"]),
    slippage_bps=st.floats(0.0, 10_000.0),
    model=st.sampled_from(["book", "uniform", "sqrt_impact"]),
    instrument=st.sampled_from(["EURUSD", "USDJPY", "BTC/USD", "AAPL", "ES_F", "NZDUSD", "ODD1"]),
)
def test_every_fill_is_on_the_grid_at_the_touch_or_beyond(corr_id, side, slippage_bps, model, instrument):
    sim = make_sim(slippage_bps=slippage_bps, slippage_model=model)
    _, bodies = run(sim, corr_id=corr_id, side=side, instrument=instrument, quantity=100_000)
    sign = 1 if side == "buy" else -1
    tick = BOOK.get(instrument).tick_size
    for fill in fills_of(bodies):
        data = fill["market_data"]
        assert fill["fill_price"] > 0 and fill["slippage"] >= 0
        assert abs(fill["fill_price"] / tick - round(fill["fill_price"] / tick)) < 1e-6
        assert sign * (fill["fill_price"] - (data["ask"] if sign > 0 else data["bid"])) >= -1e-9


# -- limit orders -----------------------------------------------------------------------


def test_market_price_and_fill_for_same_corr_id_reused_by_all_types():
    """The draws depend on the corr_id only: a triggered stop fills exactly like a market order."""
    sim = fixed_sim(slippage_model="uniform")
    mid = mid_at()
    for i in range(30):
        _, m = run(sim, corr_id=f"same{i}")
        _, s = run(sim, corr_id=f"same{i}", order_type="stop", stop_price=round(mid * 0.99, 6))
        assert s[0]["fill_price"] == m[0]["fill_price"]
        assert s[0]["fill_status"] == "full"


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_a_marketable_limit_fills_from_the_touch_never_beyond_its_limit(side, sign):
    sim = fixed_sim(slippage_model="uniform", slippage_bps=50.0)
    q = quote_at()
    tick = BOOK.get("EURUSD").tick_size
    # At the touch (inclusive), a tick through it, and far through it.
    for limit in (touch(q, sign), round(touch(q, sign) + sign * tick, 5), round(q.mid * (1 + sign * 0.05), 5)):
        capped = 0
        for i in range(60):
            ex, bodies = run(sim, corr_id=f"lim{i}", side=side, order_type="limit", price=limit)
            (fill,) = fills_of(bodies)
            assert ex.final_status == "full"
            assert sign * (fill["fill_price"] - touch(q, sign)) >= 0  # at the touch or beyond
            assert sign * (fill["fill_price"] - limit) <= 0  # never worse than the limit
            assert fill["metadata"]["intended_price"] == limit
            assert fill["slippage"] == pytest.approx(sign * (fill["fill_price"] - limit), abs=1e-12)
            capped += fill["fill_price"] == limit
        if limit == touch(q, sign):
            assert capped == 60
        if abs(limit / q.mid - 1) > 0.01:
            assert capped == 0  # a far limit never binds


@pytest.mark.parametrize("side,sign,where", [("buy", 1, "below ask"), ("sell", -1, "above bid")])
def test_non_marketable_limit_is_cancelled_ioc(side, sign, where):
    sim = fixed_sim(partial_fill_chance=1.0)
    q = quote_at()
    limit = q.mid  # at the mid, inside the spread: not marketable
    ex, bodies = run(sim, corr_id="nolim", side=side, order_type="limit", price=limit, quantity=250)
    assert len(bodies) == 3  # one cancelled fill, its reconcile and the order update: never partial
    fill, recon, update = bodies
    assert update["status"] == update["event_type"] == "cancelled"
    assert update["reject_reason"] == fill["reject_reason"] and update["metadata"]["reason_code"] == "not_marketable"
    assert update["filled_quantity"] == 0 and update["remaining_quantity"] == 250 and "average_fill_price" not in update
    assert fill["fill_status"] == "cancelled" and ex.final_status == "cancelled"
    assert ex.events[0].fill_type == "cancelled"
    assert fill["fill_quantity"] == 250
    assert fill["fill_price"] == q.mid
    assert fill["commission"] == 0 and fill["slippage"] == 0
    assert fill["reject_reason"] == f"limit not marketable: {side} limit {limit} {where} {touch(q, sign)} (IOC)"
    assert recon["positions"] == [] and recon["pnl_summary"]["total_pnl"] == 0
    assert recon["pnl_summary"]["trade_count"] == 0


# -- stop orders ------------------------------------------------------------------------


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_triggered_stop_executes_as_market(side, sign):
    sim = fixed_sim(slippage_model="uniform")
    q = quote_at()
    for stop in (touch(q, sign), round(q.mid * (1 - sign * 0.0002), 5)):  # at the touch triggers too
        ex, bodies = run(sim, corr_id="stop1", side=side, order_type="stop", stop_price=stop)
        _, market = run(sim, corr_id="stop1", side=side)
        assert ex.final_status == "full"
        assert bodies[0]["fill_price"] == market[0]["fill_price"]
        assert bodies[0]["slippage"] == market[0]["slippage"]
        assert bodies[0]["metadata"]["stop_price"] == stop


@pytest.mark.parametrize("side,sign,where", [("buy", 1, "above ask"), ("sell", -1, "below bid")])
def test_untriggered_stop_is_cancelled(side, sign, where):
    sim = fixed_sim()
    q = quote_at()
    stop = round(touch(q, sign) + sign * 0.00001, 5)  # a tick beyond the touch
    ex, bodies = run(sim, corr_id="stop2", side=side, order_type="stop", stop_price=stop, quantity=3)
    assert ex.final_status == "cancelled" and len(bodies) == 3
    assert update_of(bodies)["metadata"]["reason_code"] == "stop_not_triggered"
    assert bodies[0]["fill_quantity"] == 3
    assert bodies[0]["fill_price"] == q.mid
    assert bodies[0]["reject_reason"] == f"stop not triggered: {side} stop {stop} {where} {touch(q, sign)} (IOC)"


def test_stop_without_stop_price_is_cancelled_not_crashed():
    ex, bodies = run(fixed_sim(), order_type="stop")
    assert ex.final_status == "cancelled"
    assert "without stop_price" in bodies[0]["reject_reason"]


def test_absurd_notional_is_cancelled_with_valid_events():
    ex, bodies = run(fixed_sim(), instrument="BTC/USD", quantity=1e305)
    assert ex.final_status == "cancelled"
    assert bodies[0]["reject_reason"].startswith("notional out of range: 1e+305 at mid ")
    assert_valid(FILL_V, bodies[0])
    assert_valid(RECONCILE_V, bodies[1])
    # Walking the book prices an absurd order beyond any notional too.
    ex, bodies = run(fixed_sim(), instrument="BTC/USD", quantity=1e290)
    assert ex.final_status == "cancelled" and bodies[0]["metadata"]["reason_code"] == "notional_out_of_range"
    # Large but representable notionals still execute.
    ex, bodies = run(fixed_sim(), instrument="BTC/USD", quantity=1e100)
    assert ex.final_status == "full"
    assert_valid(FILL_V, bodies[0])
    assert_valid(RECONCILE_V, bodies[1])


# -- stop_limit orders -------------------------------------------------------------------


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_stop_limit_both_stages(side, sign):
    sim = fixed_sim(slippage_model="uniform", slippage_bps=20.0)
    q = quote_at()
    mid = q.mid
    through = round(mid * (1 - sign * 0.0003), 5)  # stop already crossed: triggers
    short = round(mid * (1 + sign * 0.0003), 5)  # stop not reached
    good_limit = round(touch(q, sign) + sign * 0.00001, 5)  # marketable, binds for big slippage
    bad_limit = mid  # inside the spread: not marketable

    ex, bodies = run(sim, corr_id="sl", side=side, order_type="stop_limit", stop_price=short, price=good_limit)
    assert ex.final_status == "cancelled"
    assert bodies[0]["reject_reason"].startswith("stop_limit not triggered:")

    ex, bodies = run(sim, corr_id="sl", side=side, order_type="stop_limit", stop_price=through, price=bad_limit)
    assert ex.final_status == "cancelled"
    where = "below ask" if sign > 0 else "above bid"
    assert bodies[0]["reject_reason"] == (
        f"stop_limit triggered, limit not marketable: {side} limit {bad_limit} {where} {touch(q, sign)} (IOC)"
    )

    _, market = run(sim, corr_id="sl", side=side)
    ex, bodies = run(sim, corr_id="sl", side=side, order_type="stop_limit", stop_price=through, price=good_limit)
    assert ex.final_status == "full"
    pick = min if sign > 0 else max
    assert bodies[0]["fill_price"] == pick(good_limit, market[0]["fill_price"])
    assert bodies[0]["metadata"]["intended_price"] == good_limit
