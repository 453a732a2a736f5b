"""worker.simulator: the order-type rules, one order type at a time.

Market orders slip against the trader within the configured bound; a marketable limit fills at the
market price capped by its limit and one that is not marketable is cancelled (IOC); a stop at or
through the mid executes as a market order and one short of it is cancelled; a stop_limit passes
both stages or is cancelled at the one it fails. Absurd notionals are cancelled, not crashed.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.builders import (
    BOOK,
    FILL_V,
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
from worker.market import Market

# -- market orders ---------------------------------------------------------------------


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_market_order_slips_against_trader_within_bound(side, sign):
    sim = make_sim(slippage_bps=5.0)
    market = Market(SEED, BOOK)
    offsets = []
    for i in range(400):
        ex, bodies = run(sim, corr_id=f"mkt{i}", side=side, instrument="AAPL", quantity=10)
        (fill,) = fills_of(bodies)
        assert fill["fill_status"] == "full" and ex.final_status == "full"
        # Priced at the reference market at intent time + delay.
        quote = market.quote("AAPL", T0 + fill["execution_latency_ms"])
        mid = fill["market_data"]["mid"]
        assert mid == quote.mid
        offset = sign * (fill["fill_price"] - mid)
        assert 0 <= offset <= mid * 5.0 / 1e4 + 1e-9
        assert fill["slippage"] == pytest.approx(offset, abs=1e-9)
        assert fill["metadata"]["intended_price"] == mid
        offsets.append(offset / (mid * 5.0 / 1e4))
    # The draw spreads over the whole range, not a constant.
    assert min(offsets) < 0.05 and max(offsets) > 0.95
    assert 0.4 < sum(offsets) / len(offsets) < 0.6


def test_zero_slippage_fills_at_mid():
    sim = make_sim(slippage_bps=0.0)
    for i in range(50):
        _, bodies = run(sim, corr_id=f"z{i}", side="sell" if i % 2 else "buy")
        assert bodies[0]["fill_price"] == bodies[0]["market_data"]["mid"]
        assert bodies[0]["slippage"] == 0.0


@hsettings(max_examples=200, deadline=None)
@given(
    corr_id=st.from_regex(r"\A[a-zA-Z0-9_-]{1,128}\Z"),
    side=st.sampled_from(["buy", "sell"]),
    slippage_bps=st.floats(0.0, 10_000.0),
    instrument=st.sampled_from(["EURUSD", "USDJPY", "BTC/USD", "AAPL", "ES_F", "NZDUSD", "ODD1"]),
)
def test_slippage_direction_and_bound_property(corr_id, side, slippage_bps, instrument):
    sim = make_sim(slippage_bps=slippage_bps)
    _, bodies = run(sim, corr_id=corr_id, side=side, instrument=instrument)
    fill = bodies[0]
    mid = fill["market_data"]["mid"]
    sign = 1 if side == "buy" else -1
    assert fill["fill_price"] > 0
    assert 0 <= sign * (fill["fill_price"] - mid) <= mid * slippage_bps / 1e4 + 1e-9 * mid
    assert fill["slippage"] >= 0


# -- limit orders -----------------------------------------------------------------------


def test_market_price_and_fill_for_same_corr_id_reused_by_all_types():
    """The draws depend on the corr_id only: a triggered stop fills exactly like a market order."""
    sim = fixed_sim()
    mid = mid_at()
    for i in range(30):
        _, m = run(sim, corr_id=f"same{i}")
        _, s = run(sim, corr_id=f"same{i}", order_type="stop", stop_price=round(mid * 0.99, 6))
        assert s[0]["fill_price"] == m[0]["fill_price"]
        assert s[0]["fill_status"] == "full"


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_marketable_limit_fills_at_market_price_capped_by_limit(side, sign):
    sim = fixed_sim(slippage_bps=50.0)
    mid = mid_at()
    # At the mid (inclusive), just through it, and far through it.
    for limit in (mid, round(mid * (1 + sign * 0.0005), 6), round(mid * (1 + sign * 0.05), 6)):
        capped = 0
        for i in range(60):
            corr = f"lim{i}"
            _, market = run(sim, corr_id=corr, side=side)
            ex, bodies = run(sim, corr_id=corr, side=side, order_type="limit", price=limit)
            (fill,) = fills_of(bodies)
            assert ex.final_status == "full"
            expected = min(limit, market[0]["fill_price"]) if sign > 0 else max(limit, market[0]["fill_price"])
            assert fill["fill_price"] == expected
            assert sign * (fill["fill_price"] - limit) <= 0  # never worse than the limit
            assert fill["metadata"]["intended_price"] == limit
            assert fill["slippage"] == pytest.approx(sign * (fill["fill_price"] - limit), abs=1e-12)
            capped += fill["fill_price"] == limit
        if limit == mid:
            assert capped == 60  # any slippage is capped at a limit equal to the mid
        if abs(limit / mid - 1) > 0.01:
            assert capped == 0  # a far limit never binds


@pytest.mark.parametrize("side,sign,where", [("buy", 1, "below"), ("sell", -1, "above")])
def test_non_marketable_limit_is_cancelled_ioc(side, sign, where):
    sim = fixed_sim(partial_fill_chance=1.0)
    mid = mid_at()
    limit = round(mid * (1 - sign * 0.0001), 6)
    ex, bodies = run(sim, corr_id="nolim", side=side, order_type="limit", price=limit, quantity=250)
    assert len(bodies) == 3  # one cancelled fill, its reconcile and the order update: never partial
    fill, recon, update = bodies
    assert update["status"] == update["event_type"] == "cancelled"
    assert update["reject_reason"] == fill["reject_reason"] and update["metadata"]["reason_code"] == "not_marketable"
    assert update["filled_quantity"] == 0 and update["remaining_quantity"] == 250 and "average_fill_price" not in update
    assert fill["fill_status"] == "cancelled" and ex.final_status == "cancelled"
    assert ex.events[0].fill_type == "cancelled"
    assert fill["fill_quantity"] == 250
    assert fill["fill_price"] == mid
    assert fill["commission"] == 0 and fill["slippage"] == 0
    assert fill["reject_reason"] == f"limit not marketable: {side} limit {limit} {where} mid {mid} (IOC)"
    assert recon["positions"] == [] and recon["pnl_summary"]["total_pnl"] == 0
    assert recon["pnl_summary"]["trade_count"] == 0


# -- stop orders ------------------------------------------------------------------------


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_triggered_stop_executes_as_market(side, sign):
    sim = fixed_sim()
    mid = mid_at()
    for stop in (mid, round(mid * (1 - sign * 0.0002), 6)):  # at the mid triggers too
        ex, bodies = run(sim, corr_id="stop1", side=side, order_type="stop", stop_price=stop)
        _, market = run(sim, corr_id="stop1", side=side)
        assert ex.final_status == "full"
        assert bodies[0]["fill_price"] == market[0]["fill_price"]
        assert bodies[0]["slippage"] == market[0]["slippage"]
        assert bodies[0]["metadata"]["stop_price"] == stop


@pytest.mark.parametrize("side,sign,where", [("buy", 1, "above"), ("sell", -1, "below")])
def test_untriggered_stop_is_cancelled(side, sign, where):
    sim = fixed_sim()
    mid = mid_at()
    stop = round(mid * (1 + sign * 0.0001), 6)
    ex, bodies = run(sim, corr_id="stop2", side=side, order_type="stop", stop_price=stop, quantity=3)
    assert ex.final_status == "cancelled" and len(bodies) == 3
    assert update_of(bodies)["metadata"]["reason_code"] == "stop_not_triggered"
    assert bodies[0]["fill_quantity"] == 3
    assert bodies[0]["fill_price"] == mid
    assert bodies[0]["reject_reason"] == f"stop not triggered: {side} stop {stop} {where} mid {mid} (IOC)"


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
    # Large but representable notionals still execute.
    ex, bodies = run(fixed_sim(), instrument="BTC/USD", quantity=1e290)
    assert ex.final_status == "full"
    assert_valid(FILL_V, bodies[0])
    assert_valid(RECONCILE_V, bodies[1])


# -- stop_limit orders -------------------------------------------------------------------


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_stop_limit_both_stages(side, sign):
    sim = fixed_sim(slippage_bps=20.0)
    mid = mid_at()
    through = round(mid * (1 - sign * 0.0003), 6)  # stop already crossed: triggers
    short = round(mid * (1 + sign * 0.0003), 6)  # stop not reached
    good_limit = round(mid * (1 + sign * 0.0001), 6)  # marketable, binds for big slippage
    bad_limit = round(mid * (1 - sign * 0.0001), 6)  # not marketable

    ex, bodies = run(sim, corr_id="sl", side=side, order_type="stop_limit", stop_price=short, price=good_limit)
    assert ex.final_status == "cancelled"
    assert bodies[0]["reject_reason"].startswith("stop_limit not triggered:")

    ex, bodies = run(sim, corr_id="sl", side=side, order_type="stop_limit", stop_price=through, price=bad_limit)
    assert ex.final_status == "cancelled"
    where = "below" if sign > 0 else "above"
    assert bodies[0]["reject_reason"] == (
        f"stop_limit triggered, limit not marketable: {side} limit {bad_limit} {where} mid {mid} (IOC)"
    )

    _, market = run(sim, corr_id="sl", side=side)
    ex, bodies = run(sim, corr_id="sl", side=side, order_type="stop_limit", stop_price=through, price=good_limit)
    assert ex.final_status == "full"
    pick = min if sign > 0 else max
    assert bodies[0]["fill_price"] == pick(good_limit, market[0]["fill_price"])
    assert bodies[0]["metadata"]["intended_price"] == good_limit
