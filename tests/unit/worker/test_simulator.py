"""worker.simulator: the execution rules, determinism, and the contract of every event."""

from __future__ import annotations

import math
import random
import re
import string
from dataclasses import replace
from fractions import Fraction

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from common.messages import Execution
from tests.builders import (
    BOOK,
    FILL_V,
    INTENT_V,
    ORDER_UPDATE_V,
    RECEIVED,
    RECONCILE_V,
    SEED,
    T0,
    accept,
    assert_valid,
    fills_of,
    fixed_sim,
    make_intent,
    make_settings,
    make_sim,
    mid_at,
    run,
    update_of,
)
from worker.events import iso_ms
from worker.market import Market
from worker.simulator import ExecutionSimulator

ID = re.compile(r"^[a-zA-Z0-9_-]+$")


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


# -- partial fills ---------------------------------------------------------------------


def _executed(bodies):
    return [b for b in fills_of(bodies) if b["fill_status"] in ("full", "partial")]


@pytest.mark.parametrize("quantity", [2, 3, 10, 100, 12_345, 10_000_000, 250.0])
def test_integral_partials_stay_integral_and_sum_to_order(quantity):
    sim = make_sim(partial_fill_chance=1.0)
    outcomes = set()
    for i in range(200):
        ex, bodies = run(sim, corr_id=f"int{i}", quantity=quantity)
        fills = fills_of(bodies)
        assert len(fills) == 2
        first, second = fills
        assert first["fill_status"] == "partial"
        assert second["fill_status"] in ("full", "cancelled")
        q1, q2 = first["fill_quantity"], second["fill_quantity"]
        assert isinstance(q1, int) and isinstance(q2, int)
        assert 1 <= q1 <= quantity - 1
        assert q1 + q2 == quantity  # what fills plus what is cancelled is the order
        if quantity >= 100:
            assert int(0.1 * quantity) - 1 <= q1 <= math.ceil(0.9 * quantity)
        outcomes.add(second["fill_status"])
        assert ex.final_status == second["fill_status"]
    assert outcomes == {"full", "cancelled"}


@pytest.mark.parametrize("quantity", [0.3, 0.5, 1.5, 0.00001234, 123.456789123, 1e-7])
def test_fractional_partials_positive_and_never_exceed_order(quantity):
    sim = make_sim(partial_fill_chance=1.0)
    for i in range(200):
        _, bodies = run(sim, corr_id=f"frac{i}", quantity=quantity)
        first, second = fills_of(bodies)
        q1, q2 = first["fill_quantity"], second["fill_quantity"]
        assert 0 < q1 < quantity and q2 > 0
        assert round(q1, 8) == q1
        assert q1 + q2 <= quantity  # in float, as a consumer adds them
        assert Fraction(q1) + Fraction(q2) <= Fraction(quantity)  # and exactly
        assert quantity - (q1 + q2) < 1e-9
        assert 0.1 * quantity - 1e-8 <= q1 <= 0.9 * quantity + 1e-8


@pytest.mark.parametrize("quantity", [1, 1.0, 1e-9])
def test_unsplittable_quantities_fill_in_full(quantity):
    sim = make_sim(partial_fill_chance=1.0)
    for i in range(50):
        ex, bodies = run(sim, corr_id=f"one{i}", quantity=quantity)
        assert len(bodies) == 2 and update_of(bodies) is None
        assert bodies[0]["fill_status"] == "full" and bodies[0]["fill_quantity"] == quantity


def test_remainder_fill_is_later_priced_at_later_market_and_honours_limit():
    sim = make_sim(partial_fill_chance=1.0, min_delay_ms=100, max_delay_ms=2000)
    market = Market(SEED, BOOK)
    seen = 0
    for i in range(300):
        mid0 = market.quote("EURUSD", T0).mid
        limit = round(mid0 * 1.0005, 6)  # above any mid within seconds (a 1.5-sigma move takes a day)
        # 999: not a whole number of EURUSD lots (1000), so it splits in units.
        ex, bodies = run(sim, corr_id=f"rem{i}", order_type="limit", price=limit, quantity=999)
        first, second = fills_of(bodies)
        e = ex.events
        if second["fill_status"] == "cancelled":
            assert e[2].release_after_ms == e[0].release_after_ms
            assert second["reject_reason"] == f"remainder cancelled (IOC): {second['fill_quantity']} of 999 not filled"
            assert second["fill_price"] == first["market_data"]["mid"]
            continue
        seen += 1
        extra = e[2].release_after_ms - e[0].release_after_ms
        assert 100 <= extra <= 2000
        assert second["execution_latency_ms"] == e[2].release_after_ms
        assert second["market_data"]["mid"] == market.quote("EURUSD", T0 + e[2].release_after_ms).mid
        assert second["fill_price"] <= limit
        assert second["metadata"]["filled_quantity_total"] == 999
    assert seen > 100


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits - n * p) <= 4 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("chance", [0.1, 0.35])
def test_partial_share_matches_configured_chance(chance):
    sim = make_sim(partial_fill_chance=chance)
    n = 4000
    partials = 0
    for i in range(n):
        ex = sim.simulate(accept(make_intent(corr_id=f"share{i}", quantity=100)))
        partials += ex.events[0].fill_type == "partial"
    assert _binomial_ok(partials, n, chance), partials


def test_remainder_fill_share_is_one_half():
    sim = make_sim(partial_fill_chance=1.0)
    n = 3000
    filled = sum(
        sim.simulate(accept(make_intent(corr_id=f"half{i}", quantity=100))).final_status == "full" for i in range(n)
    )
    assert _binomial_ok(filled, n, 0.5), filled


def test_zero_chance_never_partial():
    sim = make_sim(partial_fill_chance=0.0)
    for i in range(500):
        ex = sim.simulate(accept(make_intent(corr_id=f"nz{i}", quantity=100)))
        assert len(ex.events) == 2 and ex.final_status == "full"


# -- delays and clocks -----------------------------------------------------------------


def test_delays_within_range_and_reach_both_ends():
    sim = make_sim(min_delay_ms=5, max_delay_ms=7, partial_fill_chance=0.5)
    seen = set()
    for i in range(300):
        ex = sim.simulate(accept(make_intent(corr_id=f"d{i}")))
        assert ex.simulation_delay_ms == ex.events[0].release_after_ms
        seen.add(ex.simulation_delay_ms)
        if len(ex.events) == 4 and ex.events[2].fill_type == "full":
            assert 5 <= ex.events[2].release_after_ms - ex.events[0].release_after_ms <= 7
    assert seen == {5, 6, 7}


def test_default_delay_range():
    sim = make_sim()
    delays = [sim.simulate(accept(make_intent(corr_id=f"dd{i}"))).simulation_delay_ms for i in range(1000)]
    assert min(delays) >= 100 and max(delays) <= 2000
    assert min(delays) < 150 and max(delays) > 1950


@pytest.mark.parametrize("delay", [0, 250])
def test_min_equals_max_delay(delay):
    sim = make_sim(min_delay_ms=delay, max_delay_ms=delay, partial_fill_chance=1.0)
    for i in range(100):
        ex = sim.simulate(accept(make_intent(corr_id=f"eq{i}", quantity=10)))
        assert ex.simulation_delay_ms == delay
        if ex.final_status == "full":
            assert ex.events[2].release_after_ms == 2 * delay


def test_virtual_clock_stamps_from_intent_time():
    sim = make_sim(simulation_clock="virtual", partial_fill_chance=1.0)
    for i in range(40):
        ex, bodies = run(sim, corr_id=f"v{i}", quantity=10)
        for event, body in zip(ex.events, bodies):
            assert body["timestamp"] == iso_ms(T0 + event.release_after_ms)
        assert bodies[1]["period_start"] == iso_ms(T0)


def test_wall_clock_stamps_from_receipt_but_prices_alike():
    wall = make_sim(simulation_clock="wall", partial_fill_chance=0.5)
    virtual = make_sim(simulation_clock="virtual", partial_fill_chance=0.5)
    for i in range(60):
        intent = make_intent(corr_id=f"w{i}", quantity=10)
        ew = wall.simulate(accept(intent))
        ev = virtual.simulate(accept(intent))
        assert [e.release_after_ms for e in ew.events] == [e.release_after_ms for e in ev.events]
        for a, b, event in zip(ew.events, ev.events, ew.events):
            bw, bv = orjson.loads(a.payload), orjson.loads(b.payload)
            assert bw["timestamp"] == iso_ms(RECEIVED + event.release_after_ms)
            assert bv["timestamp"] == iso_ms(T0 + event.release_after_ms)
            if a.kind == "fill":
                assert bw["metadata"]["market_time"] == bv["metadata"]["market_time"]
                for key in ("fill_price", "fill_quantity", "market_data", "slippage", "commission", "fill_status"):
                    assert bw[key] == bv[key]
                assert bw["metadata"]["clock"] == "wall" and bv["metadata"]["clock"] == "virtual"


def test_wall_clock_receipt_time_does_not_change_prices():
    sim = make_sim()
    intent = make_intent(corr_id="recv")
    a = orjson.loads(sim.simulate(accept(intent, T0, T0 + 1_000)).events[0].payload)
    b = orjson.loads(sim.simulate(accept(intent, T0, T0 + 90_000)).events[0].payload)
    assert a["fill_price"] == b["fill_price"] and a["market_data"] == b["market_data"]
    assert a["timestamp"] != b["timestamp"]


# -- determinism -----------------------------------------------------------------------


def _mixed_intents(n=200):
    types = [
        dict(order_type="market"),
        dict(order_type="limit", price=1.086),
        dict(order_type="stop", stop_price=1.0849),
        dict(order_type="stop_limit", stop_price=1.0849, price=1.0855),
    ]
    for i in range(n):
        yield make_intent(corr_id=f"det{i}", side="sell" if i % 3 else "buy", quantity=[100, 0.37][i % 2], **types[i % 4])


def test_same_seed_same_intent_gives_identical_bytes_on_two_instances():
    cfg = make_settings(partial_fill_chance=0.5)
    a, b = ExecutionSimulator(cfg, SEED), ExecutionSimulator(cfg, SEED)
    for intent in _mixed_intents():
        ea, eb = a.simulate(accept(intent)), b.simulate(accept(intent))
        assert ea.events == eb.events
        assert (ea.final_status, ea.simulation_delay_ms) == (eb.final_status, eb.simulation_delay_ms)
        # Asked twice, the same instance answers the same (duplicate corr_id -> identical fill).
        assert a.simulate(accept(intent)).events == ea.events


def test_different_seed_gives_different_executions():
    cfg = make_settings(partial_fill_chance=0.5)
    a, b = ExecutionSimulator(cfg, SEED), ExecutionSimulator(cfg, b"another-seed")
    intents = list(_mixed_intents())
    differ = sum(a.simulate(accept(i)).events != b.simulate(accept(i)).events for i in intents)
    assert differ >= 0.95 * len(intents)
    delays_differ = sum(
        a.simulate(accept(i)).simulation_delay_ms != b.simulate(accept(i)).simulation_delay_ms for i in intents
    )
    assert delays_differ >= 0.95 * len(intents)


def test_draws_depend_on_seed_and_corr_id_only():
    a = make_sim()
    b = make_sim(min_delay_ms=1, max_delay_ms=5, slippage_bps=9)
    assert a.draws("abc") == b.draws("abc")
    assert a.draws("abc") != a.draws("abd")
    assert all(0.0 <= u < 1.0 for u in a.draws("abc")) and len(a.draws("abc")) == 8
    assert a.draws("abc") != ExecutionSimulator(make_settings(), b"x").draws("abc")


# -- the shape of an execution ---------------------------------------------------------


def test_events_order_ids_and_links():
    sim = make_sim(partial_fill_chance=1.0)
    for i in range(100):
        corr = f"ord{i}"
        ex, bodies = run(sim, corr_id=corr, quantity=50)
        assert isinstance(ex, Execution)
        assert (ex.stream_seq, ex.corr_id, ex.instrument, ex.order_type) == (1, corr, "EURUSD", "market")
        assert ex.simulation_s > 0
        updated = ex.events[-1].kind == "order_update"
        assert updated == (ex.final_status != "full")
        n = (len(ex.events) - updated) // 2
        assert [e.kind for e in ex.events] == ["fill", "reconcile"] * n + ["order_update"] * updated
        assert [e.msg_id for e in ex.events] == [
            f"{corr}:{kind}:{k}" for k in range(1, n + 1) for kind in ("fill", "reconcile")
        ] + [f"{corr}:order_update:1"] * updated
        releases = [e.release_after_ms for e in ex.events]
        assert releases == sorted(releases)
        assert releases[0:2 * n:2] == releases[1:2 * n:2]
        if updated:  # with the fill that ended the order
            assert releases[-1] == releases[-2] and ex.events[-1].fill_type == ex.final_status
        for k in range(n):
            fill, recon = bodies[2 * k], bodies[2 * k + 1]
            assert ex.events[2 * k].fill_type == fill["fill_status"]
            assert ex.events[2 * k + 1].fill_type is None
            assert fill["fill_id"] == f"fill_{corr}_{k + 1}"
            assert fill["order_id"] == f"ord_{corr}"
            assert recon["reconcile_id"] == f"recon_{corr}_{k + 1}"
            assert recon["fills_processed"] == [fill["fill_id"]]
            assert recon["timestamp"] == recon["period_end"] == fill["timestamp"]
            assert recon["metadata"] == {
                "corr_id": corr, "order_id": fill["order_id"], "fill_index": k + 1, "fill_status": fill["fill_status"],
            }
            assert fill["metadata"]["fill_index"] == k + 1
            assert fill["execution_latency_ms"] == ex.events[2 * k].release_after_ms
        assert ex.final_status == fills_of(bodies)[-1]["fill_status"]


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_commission_and_reconcile_values(side, sign):
    sim = make_sim(commission_bps=1.5, partial_fill_chance=0.5)
    for i in range(100):
        _, bodies = run(sim, corr_id=f"cm{i}", side=side, quantity=2_000, instrument="MSFT")
        for fill, recon in zip(bodies[0::2], bodies[1::2]):  # an order update is left over
            if fill["fill_status"] == "cancelled":
                assert fill["commission"] == 0 and recon["positions"] == []
                continue
            q, p, mid = fill["fill_quantity"], fill["fill_price"], fill["market_data"]["mid"]
            assert fill["commission"] == pytest.approx(q * p * 1.5e-4, rel=1e-9, abs=1e-8)
            (pos,) = recon["positions"]
            assert pos == {
                "instrument": "MSFT", "quantity": sign * q, "avg_price": p, "market_price": mid,
                "market_value": pytest.approx(sign * q * mid, abs=1e-8),
                "unrealized_pnl": pytest.approx(sign * q * (mid - p), abs=1e-8),
            }
            pnl = recon["pnl_summary"]
            assert pnl["total_fees"] == fill["commission"]
            assert pnl["total_pnl"] == pytest.approx(pnl["realized_pnl"] + pnl["unrealized_pnl"], abs=1e-8)
            assert pnl["unrealized_pnl"] == pos["unrealized_pnl"] <= 0
            assert pnl["trade_count"] == 1


def test_long_corr_id_gives_bounded_ids():
    corr = "Z" * 128
    sim = make_sim(partial_fill_chance=1.0)
    ex, bodies = run(sim, corr_id=corr, quantity=40)
    for body in bodies:
        for key in ("order_id", "fill_id", "reconcile_id"):
            if key in body:
                assert len(body[key]) <= 128 and ID.match(body[key])
    assert bodies[0]["corr_id"] == corr
    assert bodies[0]["fill_id"] != bodies[2]["fill_id"]
    assert ex.events[0].msg_id == f"{corr}:fill:1"


# -- every event against the contract -------------------------------------------------

_INSTRUMENTS = ["EURUSD", "USDJPY", "BTC/USD", "ETHUSD", "SOL/USD", "AAPL", "SPY", "ES_F", "CL_F", "NZDUSD",
                "XAU-EUR", "ABC", "Z9Z9Z9Z9Z9Z9Z9Z9Z9Z9"]
_ID_CHARS = string.ascii_letters + string.digits + "_-"


def _random_intent(rng: random.Random, i: int) -> tuple[dict, int]:
    instrument = rng.choice(_INSTRUMENTS)
    ts = T0 + rng.randrange(-10**9, 10**9)
    base = Market(SEED, BOOK).quote(instrument, ts).mid
    order_type = rng.choice(["market", "limit", "stop", "stop_limit"])
    length = rng.choice([1, 8, 36, 127, 128])
    corr_id = "".join(rng.choice(_ID_CHARS) for _ in range(length - len(str(i)))) + str(i) if length > 4 else f"r{i}"
    quantity = rng.choice([1, 2, 7, 100, 10_000, 1_000_000, 0.5, 0.001, 1.23456789, 0.00000001, 3.75, 2.0**60])
    intent = make_intent(corr_id=corr_id[:128], order_type=order_type, side=rng.choice(["buy", "sell"]),
                         quantity=quantity, instrument=instrument, ts_ms=ts)
    # Prices around the mid so every branch (marketable or not, triggered or not) occurs.
    if order_type in ("limit", "stop_limit"):
        intent["price"] = round(base * (1 + rng.uniform(-0.002, 0.002)), 6)
    if order_type in ("stop", "stop_limit"):
        intent["stop_price"] = round(base * (1 + rng.uniform(-0.002, 0.002)), 6)
    return intent, ts


@pytest.mark.parametrize("clock", ["wall", "virtual"])
def test_every_event_validates_against_the_contract(clock):
    rng = random.Random(20240115)
    # Everything on: sessions (weekends, holidays), limited liquidity (child fills), a minimum fee.
    sim = ExecutionSimulator(make_settings(partial_fill_chance=0.5, simulation_clock=clock, slippage_bps=25,
                                           market_sessions=True, liquidity_share=1.0, commission_min=1.0), SEED)
    statuses = set()
    kinds = {"fill": FILL_V, "reconcile": RECONCILE_V, "order_update": ORDER_UPDATE_V}
    for i in range(1500):
        intent, ts = _random_intent(rng, i)
        assert not list(INTENT_V.iter_errors(intent)), intent
        ex = sim.simulate(accept(intent, ts, ts + rng.randrange(0, 300_000), seq=i))
        fills = []
        for event in ex.events:
            body = orjson.loads(event.payload)
            assert_valid(kinds[event.kind], body)
            if event.kind == "fill":
                fills.append(body)
                statuses.add((intent["order_type"], body["fill_status"]))
                assert len(body.get("reject_reason", "")) <= 200
                assert (body["fill_status"] in ("cancelled", "rejected")) == ("reject_reason" in body)
            if event.kind == "order_update":
                statuses.add(("order_update", body["status"], body["metadata"]["reason_code"]))
        executed = sum(Fraction(f["fill_quantity"]) for f in fills if f["fill_status"] in ("full", "partial"))
        assert executed <= Fraction(intent["quantity"])
        assert sum(Fraction(f["fill_quantity"]) for f in fills) <= Fraction(intent["quantity"])
    # Every order type reached full, partial and cancelled (and rejected: a closed market).
    for order_type in ("market", "limit", "stop", "stop_limit"):
        for status in ("full", "partial", "cancelled", "rejected"):
            assert (order_type, status) in statuses, (order_type, status)
    for reason in ("market_closed", "not_marketable", "stop_not_triggered", "remainder_cancelled", "child_fill_limit"):
        assert any(s[0] == "order_update" and s[2] == reason for s in statuses), reason


@hsettings(max_examples=300, deadline=None)
@given(
    corr_id=st.from_regex(r"\A[a-zA-Z0-9_-]{1,128}\Z"),
    instrument=st.from_regex(r"\A[A-Z0-9]{2,9}([/_-]?[A-Z0-9]{1,9})?\Z").filter(lambda s: 3 <= len(s) <= 20),
    side=st.sampled_from(["buy", "sell"]),
    order_type=st.sampled_from(["market", "limit", "stop", "stop_limit"]),
    quantity=st.one_of(st.integers(1, 10**12), st.floats(1e-9, 1e9, allow_nan=False, allow_infinity=False)),
    price=st.floats(1e-6, 1e6),
    stop_price=st.floats(1e-6, 1e6),
    ts=st.integers(0, 4_102_444_800_000),
    chance=st.sampled_from([0.0, 0.5, 1.0]),
    delays=st.sampled_from([(0, 0), (100, 2000), (1, 3_600_000)]),
    realism=st.booleans(),
)
def test_contract_property(corr_id, instrument, side, order_type, quantity, price, stop_price, ts, chance, delays,
                           realism):
    sim = ExecutionSimulator(make_settings(
        partial_fill_chance=chance, min_delay_ms=delays[0], max_delay_ms=delays[1], market_sessions=realism,
        liquidity_share=1.0 if realism else 0.0, latency_model="lognormal" if realism else "uniform",
        slippage_model="sqrt_impact" if realism else "uniform", commission_min=0.5 if realism else 0.0,
    ), SEED)
    intent = make_intent(corr_id=corr_id, instrument=instrument, side=side, order_type=order_type,
                         quantity=quantity, ts_ms=ts)
    if order_type in ("limit", "stop_limit"):
        intent["price"] = price
    if order_type in ("stop", "stop_limit"):
        intent["stop_price"] = stop_price
    ex = sim.simulate(accept(intent, ts, ts, seq=7))
    kinds = [e.kind for e in ex.events]
    updated = kinds[-1] == "order_update"
    assert updated == (ex.final_status != "full")
    assert kinds == ["fill", "reconcile"] * ((len(kinds) - updated) // 2) + ["order_update"] * updated
    validators = {"fill": FILL_V, "reconcile": RECONCILE_V, "order_update": ORDER_UPDATE_V}
    total = Fraction(0)
    for event in ex.events:
        body = orjson.loads(event.payload)
        assert_valid(validators[event.kind], body)
        if event.kind == "fill":
            total += Fraction(body["fill_quantity"])
    assert total <= Fraction(quantity)


def test_settings_dataclass_replace_keeps_simulator_pure():
    # A Settings copy with the same values behaves the same: no hidden state in the instance.
    cfg = make_settings(partial_fill_chance=0.3)
    a = ExecutionSimulator(cfg, SEED)
    b = ExecutionSimulator(replace(cfg), SEED)
    for i in range(50):
        a.simulate(accept(make_intent(corr_id=f"warm{i}")))  # warm a's caches only
    intent = make_intent(corr_id="probe", order_type="limit", price=1.2)
    assert a.simulate(accept(intent)).events == b.simulate(accept(intent)).events
