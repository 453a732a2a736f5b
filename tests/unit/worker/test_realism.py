"""worker.simulator realism models, checked statistically and, where the rule is exact, exactly.

Distributions (partial-fill share, split ratio, uniform and square-root slippage, uniform and
log-normal delays) are compared with the configured ones by binomial and Kolmogorov-Smirnov tests
over a few thousand intents. The draws are a pure function of (seed, corr_id), so every verdict is
fixed: a test fails only when p < ALPHA. Liquidity, fees and the trading calendar (a holiday, an
early close, the FX weekend) are checked exactly. Pure code: no NATS.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from fractions import Fraction

import orjson
import pytest
from scipy import stats

from common.config import CHILD_FILL_INTERVAL_MS
from common.instruments import parse_instruments
from tests.builders import BOOK, accept, by_kind, executed, make_intent, seeded_settings, seeded_sim
from worker.events import EXECUTED_STATUSES
from worker.simulator import ExecutionSimulator

ALPHA = 0.001
T0 = 1_795_014_000_000  # 2026-11-18T15:00:00Z, a Wednesday: every calendar is open


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def make_sim(**kw) -> ExecutionSimulator:
    """A simulator with only what a test turns on: no sessions, unlimited liquidity, no partials."""
    return seeded_sim("realism", **kw)


def run(sim, corr_id, ts_ms=T0, received_ms=None, **kw):
    """(execution, fill bodies, reconcile bodies, order update body or None) of one intent."""
    intent = make_intent(corr_id, **{"instrument": "BTC/USD", "quantity": 1, **kw}, ts_ms=ts_ms)
    ex = sim.simulate(accept(intent, ts_ms, ts_ms if received_ms is None else received_ms))
    return (ex, *by_kind(ex))


def exact_sum(fills) -> Fraction:
    return sum((Fraction(f["fill_quantity"]) for f in fills), Fraction(0))


# -- partial fills --------------------------------------------------------------------------


@pytest.mark.parametrize("chance", [0.1, 0.5])
def test_partial_fill_share_and_remainder_half_fills_half_cancels(chance):
    sim = make_sim(partial_fill_chance=chance)
    n = 4000
    partials = remainder_filled = 0
    for i in range(n):
        ex, fills, _, update = run(sim, f"pf{i}", instrument="AAPL", quantity=100)
        if fills[0]["fill_status"] != "partial":
            assert [f["fill_status"] for f in fills] == ["full"] and update is None
            continue
        partials += 1
        first, second = fills
        if second["fill_status"] == "full":
            remainder_filled += 1
            assert update is None and first["fill_quantity"] + second["fill_quantity"] == 100
            continue
        assert second["fill_status"] == "cancelled" and second["metadata"]["reason_code"] == "remainder_cancelled"
        assert update["status"] == "cancelled" and update["metadata"]["reason_code"] == "remainder_cancelled"
        assert update["filled_quantity"] == first["fill_quantity"]
        assert update["remaining_quantity"] == 100 - first["fill_quantity"]
    assert stats.binomtest(partials, n, chance).pvalue > ALPHA, (partials, n * chance)
    assert stats.binomtest(remainder_filled, partials, 0.5).pvalue > ALPHA, (remainder_filled, partials)


def test_partial_split_ratio_is_uniform_between_tenth_and_nine_tenths():
    sim = make_sim(partial_fill_chance=1.0)
    quantity = 10**8  # whole units: the truncation to a unit is 1e-8 of the order
    ratios = [run(sim, f"sr{i}", instrument="AAPL", quantity=quantity)[1][0]["fill_quantity"] / quantity
              for i in range(3000)]
    assert 0.1 - 1e-8 <= min(ratios) and max(ratios) <= 0.9
    assert stats.kstest(ratios, "uniform", args=(0.1, 0.8)).pvalue > ALPHA


# -- slippage -------------------------------------------------------------------------------


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_uniform_slippage_is_uniform_up_to_the_bound_and_against_the_trader(side, sign):
    bps = 5.0
    sim = make_sim(slippage_bps=bps)
    shares = []
    for i in range(4000):
        # BTC/USD near 96,900 priced at 0.001: the rounding is 2e-6 of the 48 USD bound.
        fill = run(sim, f"us{side}{i}", instrument="BTC/USD", side=side, quantity=0.5)[1][0]
        mid = fill["market_data"]["mid"]
        assert sign * (fill["fill_price"] - mid) >= 0 and fill["slippage"] >= 0  # the trader pays
        assert sign * (fill["fill_price"] - mid) <= mid * bps / 1e4
        assert 0 <= fill["metadata"]["slippage_bps"] <= bps
        shares.append(fill["metadata"]["slippage_bps"] / bps)
    assert stats.kstest(shares, "uniform").pvalue > ALPHA


def test_uniform_slippage_is_the_drawn_share_rounded_and_never_beyond_the_bound():
    # EURUSD mids have 6 decimals and a 2 bps bound is ~207 of them: rounding is visible.
    sim = make_sim(slippage_bps=2.0)
    half_decimal = 0.5 * 10.0 ** -sim.market.decimals("EURUSD")
    for i in range(200):
        fill = run(sim, f"rt{i}", instrument="EURUSD", quantity=1000)[1][0]
        mid = fill["market_data"]["mid"]
        drawn = sim.draws(f"rt{i}")[1] * mid * 2.0 / 1e4
        assert abs(fill["fill_price"] - (mid + drawn)) <= half_decimal + 1e-12, (i, fill["fill_price"], mid + drawn)
        assert fill["fill_price"] - mid <= mid * 2.0 / 1e4 + 1e-12


def _impact_cost(fill, instrument, y) -> float:
    q = fill["market_data"]
    half_spread = (q["ask"] - q["bid"]) / 2 / q["mid"]
    return half_spread + y * instrument.daily_volatility * math.sqrt(fill["fill_quantity"] / instrument.adv)


@pytest.mark.parametrize("y", [0.5, 2.0])
@pytest.mark.parametrize("symbol,quantity", [("AAPL", 250_000), ("BTC/USD", 3.0), ("EURUSD", 25_000_000),
                                             ("SOL/USD", 12_345.678)])
def test_sqrt_impact_price_formula(symbol, quantity, y):
    sim = make_sim(slippage_model="sqrt_impact", impact_coefficient=y)
    instrument = BOOK.get(symbol)
    half_decimal = 0.5 * 10.0 ** -sim.market.decimals(symbol)
    for i in range(150):
        side, sign = ("buy", 1) if i % 2 else ("sell", -1)
        fill = run(sim, f"sq{i}", instrument=symbol, side=side, quantity=quantity)[1][0]
        mid = fill["market_data"]["mid"]
        expected = mid * (1 + sign * _impact_cost(fill, instrument, y))
        assert abs(fill["fill_price"] - expected) <= half_decimal * (1 + 1e-9)
        assert sign * (fill["fill_price"] - mid) > 0


def test_sqrt_impact_grows_with_quantity_over_adv():
    sim = make_sim(slippage_model="sqrt_impact")
    sizes = [100, 10_000, 1_000_000, 10_000_000]  # AAPL: 2e-6 .. 0.18 of its ADV
    for i in range(100):
        # The same corr_id: the same delay, so the same quote for every size.
        fills = [run(sim, f"mono{i}", instrument="AAPL", quantity=q)[1][0] for q in sizes]
        assert len({f["market_data"]["mid"] for f in fills}) == 1
        slippages = [f["slippage"] for f in fills]
        assert slippages == sorted(set(slippages)), slippages  # strictly increasing


def _book_with_volatility(vol: float):
    return parse_instruments({"defaults": {
        "asset_class": "other", "calendar": "24/7", "reference_price": 100.0, "daily_volatility": vol,
        "spread_bps": 1.0, "adv": 1_000_000, "tick_size": 0.0001, "lot_size": 1}})


def test_sqrt_impact_grows_with_volatility():
    quantity = 10_000  # sqrt(q / adv) = 0.1: impact = Y * vol / 10
    impacts = {}
    for vol in (0.01, 0.04):
        sim = make_sim(slippage_model="sqrt_impact", instruments=_book_with_volatility(vol))
        measured = []
        for i in range(200):
            fill = run(sim, f"vol{i}", instrument="TEST", quantity=quantity)[1][0]
            q = fill["market_data"]
            measured.append(fill["slippage"] / q["mid"] - (q["ask"] - q["bid"]) / 2 / q["mid"])
        impacts[vol] = measured
        # Rounding to 5 decimals at a price near 100 is ~5e-7 of the mid.
        assert all(abs(m - vol / 10) < 1e-6 for m in measured), (vol, min(measured), max(measured))
    ratio = (sum(impacts[0.04]) / len(impacts[0.04])) / (sum(impacts[0.01]) / len(impacts[0.01]))
    assert ratio == pytest.approx(4.0, rel=1e-3)


@pytest.mark.parametrize("side,touch", [("buy", "ask"), ("sell", "bid")])
def test_sqrt_impact_without_impact_pays_the_half_spread(side, touch):
    sim = make_sim(slippage_model="sqrt_impact", impact_coefficient=0.0)
    for symbol, quantity in (("AAPL", 5_000_000), ("EURUSD", 10**9), ("BTC/USD", 500.0)):
        for i in range(100):
            fill = run(sim, f"hs{i}", instrument=symbol, side=side, quantity=quantity)[1][0]
            assert fill["fill_price"] == fill["market_data"][touch]
            assert fill["market_data"]["ask"] > fill["market_data"]["bid"]


# -- delays ---------------------------------------------------------------------------------


def test_uniform_delay_is_uniform_on_min_max():
    lo, hi = 100, 5100
    sim = make_sim(min_delay_ms=lo, max_delay_ms=hi)
    delays = [run(sim, f"ud{i}")[1][0]["execution_latency_ms"] for i in range(5000)]
    assert lo <= min(delays) and max(delays) <= hi
    # Integers in a span of 5001: the continuity correction (+0.5) leaves 1e-4 of discreteness.
    span = hi - lo + 1
    assert stats.kstest([(d - lo + 0.5) / span for d in delays], "uniform").pvalue > ALPHA


def test_remainder_delay_is_a_second_uniform_delay():
    lo, hi = 100, 5100
    sim = make_sim(min_delay_ms=lo, max_delay_ms=hi, partial_fill_chance=1.0)
    extra = []
    for i in range(6000):
        fills = run(sim, f"rd{i}", instrument="AAPL", quantity=100)[1]
        if fills[1]["fill_status"] == "full":
            extra.append(fills[1]["execution_latency_ms"] - fills[0]["execution_latency_ms"])
    assert len(extra) > 2500 and lo <= min(extra) and max(extra) <= hi
    assert stats.kstest([(d - lo + 0.5) / (hi - lo + 1) for d in extra], "uniform").pvalue > ALPHA


@pytest.mark.parametrize("symbol", ["EURUSD", "BTC/USD", "SOL/USD"])
def test_lognormal_delay_distribution(symbol):
    lo, median, sigma = 50, 2000.0, 0.75
    sim = make_sim(latency_model="lognormal", min_delay_ms=lo, max_delay_ms=10**9, latency_median_ms=median,
                   latency_sigma=sigma)
    scale = median * BOOK.get(symbol).daily_volatility / 0.02
    logs = [math.log(run(sim, f"ln{i}", instrument=symbol)[1][0]["execution_latency_ms"] - lo + 0.5)
            for i in range(4000)]
    assert stats.kstest(logs, "norm", args=(math.log(scale), sigma)).pvalue > ALPHA
    # A wrong scale or shape would be rejected by the same test.
    assert stats.kstest(logs, "norm", args=(math.log(scale * 1.1), sigma)).pvalue < ALPHA
    assert stats.kstest(logs, "norm", args=(math.log(scale), sigma * 1.25)).pvalue < ALPHA


def test_lognormal_delay_is_clamped_at_max():
    lo, hi, median = 100, 400, 150.0
    sim = make_sim(latency_model="lognormal", min_delay_ms=lo, max_delay_ms=hi, latency_median_ms=median,
                   latency_sigma=1.0)
    n = 4000
    delays = [run(sim, f"cl{i}", instrument="CL_F")[1][0]["execution_latency_ms"] for i in range(n)]  # vol 0.02
    assert lo <= min(delays) and max(delays) == hi
    clamped = delays.count(hi)
    expected = 1 - stats.norm.cdf(math.log((hi - lo) / median))  # P(scale * e^(sigma Z) >= max - min)
    assert stats.binomtest(clamped, n, expected).pvalue > ALPHA, (clamped, n * expected)


def test_lognormal_delay_scale_grows_with_volatility():
    sim = make_sim(latency_model="lognormal", min_delay_ms=0, max_delay_ms=10**9, latency_median_ms=1000.0)
    sol, eur = [], []
    for i in range(2000):
        # The same corr_id draws the same normal for both: only the scale differs.
        sol.append(run(sim, f"sc{i}", instrument="SOL/USD")[1][0]["execution_latency_ms"])
        eur.append(run(sim, f"sc{i}", instrument="EURUSD")[1][0]["execution_latency_ms"])
        assert sol[-1] >= eur[-1]
    vol_ratio = BOOK.get("SOL/USD").daily_volatility / BOOK.get("EURUSD").daily_volatility  # 11
    sol.sort()
    eur.sort()
    assert sol[1000] / eur[1000] == pytest.approx(vol_ratio, rel=0.01)


# -- liquidity and child fills --------------------------------------------------------------


@pytest.mark.parametrize("symbol,quantity,share,unit", [
    ("AAPL", 20_000, 1.0, 1), ("AAPL", 20_000, 0.3, 1),
    ("BTC/USD", 2.5, 1.0, 1e-5), ("BTC/USD", 1.23456789, 1.0, 1e-8),  # whole lots of 0.00001; else 1e-8 parts
    ("EURUSD", 50_000_000, 1.0, 1000), ("EURUSD", 12_345_678, 1.0, 1), ("EURUSD", 20_000_000.5, 1.0, 1e-8),
])
def test_child_fills_take_the_step_liquidity_and_add_up_to_the_order(symbol, quantity, share, unit):
    sim = make_sim(liquidity_share=share, max_child_fills=1000)
    for i in range(20):
        ex, fills, _, update = run(sim, f"liq{i}", instrument=symbol, quantity=quantity)
        assert update is None and ex.final_status == "full"
        assert len(fills) >= 2 and [f["fill_status"] for f in fills] == ["partial"] * (len(fills) - 1) + ["full"]
        for f in fills[:-1]:
            available = share * f["market_data"]["volume"]
            assert available - unit * (1 + 1e-9) < f["fill_quantity"] <= available  # all of it, in whole units
        for f in fills:
            assert abs(f["fill_quantity"] / unit - round(f["fill_quantity"] / unit)) < 1e-6
            assert isinstance(f["fill_quantity"], int) == isinstance(unit, int)
        for a, b in zip(fills, fills[1:]):
            assert b["execution_latency_ms"] - a["execution_latency_ms"] == CHILD_FILL_INTERVAL_MS
        total = exact_sum(fills)
        assert total <= Fraction(quantity)
        assert Fraction(quantity) - total <= Fraction(1, 10**12) * max(quantity, 1)
        assert fills[-1]["metadata"]["filled_quantity_total"] == quantity


def test_liquidity_remainder_cancel_cancels_the_rest_at_once():
    sim = make_sim(liquidity_share=1.0, liquidity_remainder="cancel")
    for i in range(50):
        ex, fills, recons, update = run(sim, f"lc{i}", instrument="AAPL", quantity=20_000)
        first, cancel = fills
        assert first["fill_status"] == "partial" and first["fill_quantity"] == first["market_data"]["volume"]
        assert cancel["fill_status"] == "cancelled" and cancel["metadata"]["reason_code"] == "liquidity_exhausted"
        assert cancel["fill_quantity"] == 20_000 - first["fill_quantity"]
        assert cancel["execution_latency_ms"] == first["execution_latency_ms"]
        assert ex.events[-1].release_after_ms == ex.events[0].release_after_ms
        assert update["status"] == "cancelled" and update["metadata"]["reason_code"] == "liquidity_exhausted"
        assert update["filled_quantity"] == first["fill_quantity"] and recons[1]["positions"] == []


@pytest.mark.parametrize("limit", [1, 3])
def test_child_fill_limit_cancels_the_rest(limit):
    sim = make_sim(liquidity_share=1.0, max_child_fills=limit)
    for i in range(50):
        ex, fills, _, update = run(sim, f"cfl{i}", instrument="AAPL", quantity=100_000)
        done = executed(fills)
        assert len(done) == limit and len(fills) == limit + 1
        last = fills[-1]
        assert last["fill_status"] == "cancelled" and last["metadata"]["reason_code"] == "child_fill_limit"
        assert exact_sum(done) + Fraction(last["fill_quantity"]) == 100_000
        assert update["metadata"]["reason_code"] == "child_fill_limit" and update["metadata"]["fill_count"] == limit
        assert update["filled_quantity"] == exact_sum(done) and update["remaining_quantity"] == last["fill_quantity"]


@pytest.mark.parametrize("symbol,quantity,unit", [("AAPL", 100, 1), ("EURUSD", 10_000, 1000), ("BTC/USD", 0.5, 1e-5)])
def test_liquidity_below_one_unit_still_fills_one_unit(symbol, quantity, unit):
    # The documented minimum: one unit (a lot when the order is whole lots) per step, however thin.
    sim = make_sim(liquidity_share=1e-12, max_child_fills=5)
    _, fills, _, update = run(sim, "thin", instrument=symbol, quantity=quantity)
    assert [f["fill_quantity"] for f in executed(fills)] == [unit] * 5
    assert update["metadata"]["reason_code"] == "child_fill_limit"


# -- fees -----------------------------------------------------------------------------------


def test_per_unit_commission_is_quantity_times_rate_per_fill():
    sim = make_sim(liquidity_share=1.0, commission_model="per_unit", commission_per_unit=0.005, max_child_fills=100)
    seen = 0
    for i in range(30):
        _, fills, recons, _ = run(sim, f"pu{i}", instrument="AAPL", quantity=20_000, side="sell" if i % 2 else "buy")
        for fill, recon in zip(fills, recons):
            assert fill["commission"] == pytest.approx(fill["fill_quantity"] * 0.005, abs=1e-8)
            assert recon["pnl_summary"]["total_fees"] == fill["commission"]
            seen += 1
    assert seen > 100


@pytest.mark.parametrize("minimum", [4.0, 25.0])
@pytest.mark.parametrize("quantity,max_fills", [(5_000, 100), (20_000, 3)])
def test_commission_minimum_applies_per_order(minimum, quantity, max_fills):
    rate = 0.001
    sim = make_sim(liquidity_share=1.0, commission_model="per_unit", commission_per_unit=rate,
                   commission_min=minimum, max_child_fills=max_fills)
    for i in range(40):
        ex, fills, recons, update = run(sim, f"cmin{i}", instrument="AAPL", quantity=quantity)
        done = executed(fills)
        assert len(done) >= 2
        raw = float(exact_sum(done)) * rate
        paid = sum(f["commission"] for f in fills)
        assert paid == pytest.approx(max(minimum, raw), abs=1e-7)
        assert done[0]["commission"] == pytest.approx(max(minimum, done[0]["fill_quantity"] * rate), abs=1e-8)
        assert all(f["commission"] == 0 for f in fills if f["fill_status"] not in EXECUTED_STATUSES)
        for fill, recon in zip(fills, recons):
            assert recon["pnl_summary"]["total_fees"] == fill["commission"]
        if update is not None:
            assert update["commission"] == pytest.approx(paid, abs=1e-7)
        assert (update is not None) == (quantity == 20_000)


def test_order_with_nothing_filled_pays_no_minimum():
    sim = make_sim(commission_model="per_unit", commission_per_unit=0.01, commission_min=10.0, min_delay_ms=0,
                   max_delay_ms=0)
    mid = sim.market.quote("AAPL", T0).mid
    _, fills, recons, update = run(sim, "nf", instrument="AAPL", quantity=500, order_type="limit",
                                   price=round(mid * 0.9, 2))
    assert [f["fill_status"] for f in fills] == ["cancelled"]
    assert fills[0]["commission"] == 0 and recons[0]["pnl_summary"]["total_fees"] == 0
    assert update["commission"] == 0 and update["filled_quantity"] == 0


# -- trading sessions -----------------------------------------------------------------------


def session_sim(delay_ms=250, clock="virtual", **kw) -> ExecutionSimulator:
    return make_sim(market_sessions=True, min_delay_ms=delay_ms, max_delay_ms=delay_ms, simulation_clock=clock, **kw)


def assert_rejected_closed(fills, update, quantity, calendar):
    (fill,) = fills
    assert fill["fill_status"] == "rejected" and fill["metadata"]["reason_code"] == "market_closed"
    assert fill["fill_quantity"] == quantity and fill["commission"] == 0
    assert fill["reject_reason"].startswith(f"market_closed: {calendar} is closed at ")
    assert update["status"] == update["event_type"] == "rejected"
    assert update["metadata"]["reason_code"] == "market_closed" and update["filled_quantity"] == 0


@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_holiday_rejects_equity_while_crypto_fills(clock):
    sim = session_sim(clock=clock, commission_min=5.0)
    christmas = ms("2026-12-25T15:00:00Z") - 250  # arrives at 15:00:00.000
    monday_open = ms("2026-12-28T15:00:00Z")  # under the wall clock, received when NYSE is open: no matter
    ex, fills, _, update = run(sim, "xmas", ts_ms=christmas, received_ms=monday_open, instrument="AAPL", quantity=10)
    assert_rejected_closed(fills, update, 10, "XNYS")
    assert fills[0]["reject_reason"] == ("market_closed: XNYS is closed at 2026-12-25T15:00:00.000Z; "
                                         "next open 2026-12-28T14:30:00.000Z")
    assert update["commission"] == 0 and ex.final_status == "rejected"
    _, fills, _, update = run(sim, "xmas", ts_ms=christmas, received_ms=monday_open, instrument="BTC/USD")
    assert [f["fill_status"] for f in fills] == ["full"] and update is None


@pytest.mark.parametrize("clock", ["virtual", "wall"])
def test_fx_weekend_rejected_while_crypto_fills(clock):
    sim = session_sim(clock=clock)
    saturday = ms("2026-11-28T12:00:00Z") - 250
    _, fills, _, update = run(sim, "sat", ts_ms=saturday, received_ms=T0, instrument="EURUSD", quantity=1000)
    assert_rejected_closed(fills, update, 1000, "FX")
    assert fills[0]["reject_reason"].endswith("next open 2026-11-29T22:00:00.000Z")  # Sunday 17:00 New York
    _, fills, _, update = run(sim, "sat", ts_ms=saturday, received_ms=T0, instrument="BTC/USD")
    assert [f["fill_status"] for f in fills] == ["full"] and update is None


@pytest.mark.parametrize("arrival,opened", [
    ("2026-11-27T21:59:59.999Z", True),  # Friday 16:59:59.999 New York
    ("2026-11-27T22:00:00.000Z", False),  # Friday 17:00: the week ends
    ("2026-11-29T21:59:59.999Z", False),
    ("2026-11-29T22:00:00.000Z", True),  # Sunday 17:00 New York (EST): the week begins
])
def test_fx_week_boundaries(arrival, opened):
    _, fills, _, _ = run(session_sim(), "fxw", ts_ms=ms(arrival) - 250, instrument="EURUSD", quantity=1000)
    assert fills[0]["fill_status"] == ("full" if opened else "rejected")


@pytest.mark.parametrize("clock", ["virtual", "wall"])
@pytest.mark.parametrize("arrival,opened", [
    ("2026-11-27T17:59:59.000Z", True),  # early close day (13:00 New York)
    ("2026-11-27T17:59:59.999Z", True),
    ("2026-11-27T18:00:00.000Z", False),
    ("2026-11-25T18:00:00.000Z", True),  # a normal day closes at 21:00Z
])
def test_early_close(clock, arrival, opened):
    sim = session_sim(delay_ms=700, clock=clock)
    ex, fills, _, update = run(sim, "ec", ts_ms=ms(arrival) - 700, received_ms=ms("2026-11-25T15:00:00Z"),
                               instrument="AAPL", quantity=10)
    assert fills[0]["metadata"]["market_time"] == arrival
    if opened:
        assert [f["fill_status"] for f in fills] == ["full"] and update is None
    else:
        assert_rejected_closed(fills, update, 10, "XNYS")


def test_child_fills_across_the_close_cancel_the_remainder():
    sim = session_sim(delay_ms=0, liquidity_share=1.0, max_child_fills=100)
    ex, fills, _, update = run(sim, "close", ts_ms=ms("2026-11-27T17:59:57.000Z"), instrument="AAPL",
                               quantity=100_000)
    done = executed(fills)
    assert [f["metadata"]["market_time"] for f in done] == [
        "2026-11-27T17:59:57.000Z", "2026-11-27T17:59:58.000Z", "2026-11-27T17:59:59.000Z"]
    last = fills[-1]
    assert last["fill_status"] == "cancelled" and last["metadata"]["reason_code"] == "market_closed"
    assert last["metadata"]["market_time"] == "2026-11-27T18:00:00.000Z"
    assert update["status"] == "cancelled" and update["metadata"]["reason_code"] == "market_closed"
    assert 0 < update["filled_quantity"] == exact_sum(done) and exact_sum(fills) == 100_000


# -- determinism ----------------------------------------------------------------------------


def _everything_on(seed: str) -> ExecutionSimulator:
    return seeded_sim(seed, market_sessions=True, liquidity_share=1.0, partial_fill_chance=0.3,
                    slippage_model="sqrt_impact", latency_model="lognormal", commission_model="per_unit",
                    commission_per_unit=0.002, commission_min=1.0, max_child_fills=8)


def _mixed_intents(n=500):
    rng = random.Random(7)
    for i in range(n):
        symbol = rng.choice(["AAPL", "EURUSD", "BTC/USD", "SOL/USD", "ES_F"])
        ts = T0 + rng.randrange(-30 * 86_400_000, 30 * 86_400_000)  # weekends and closed hours too
        mid = BOOK.get(symbol).reference_price
        kind = rng.choice(["market", "limit", "stop", "stop_limit"])
        extra = {}
        if kind in ("limit", "stop_limit"):
            extra["price"] = round(mid * rng.uniform(0.9, 1.1), 2)
        if kind in ("stop", "stop_limit"):
            extra["stop_price"] = round(mid * rng.uniform(0.9, 1.1), 2)
        quantity = rng.choice([1, 100, 20_000, 2.5, 0.37, 5_000_000])
        yield ts, make_intent(f"mix{i}", instrument=symbol, side=rng.choice(["buy", "sell"]), quantity=quantity,
                              order_type=kind, ts_ms=T0, **extra)


def _execute_all(sim):
    return [sim.simulate(accept(it, ts, ts + 5000)).events for ts, it in _mixed_intents()]


def test_everything_on_is_byte_identical_for_a_seed_and_differs_across_seeds():
    a, b, c = _execute_all(_everything_on("s1")), _execute_all(_everything_on("s1")), _execute_all(_everything_on("s2"))
    assert a == b
    statuses = {e.fill_type for events in a for e in events if e.kind == "fill"}
    assert statuses == {"full", "partial", "cancelled", "rejected"}
    first_prices = [(orjson.loads(x[0].payload), orjson.loads(y[0].payload)) for x, y in zip(a, c)]
    executed_both = [(p, q) for p, q in first_prices
                     if p["fill_status"] in EXECUTED_STATUSES and q["fill_status"] in EXECUTED_STATUSES]
    assert len(executed_both) > 100
    differ = sum(p["fill_price"] != q["fill_price"] for p, q in executed_both)
    assert differ >= 0.95 * len(executed_both), (differ, len(executed_both))


# -- edges a review found (each one a defect before its fix) ---------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("symbol,quantity", [("AAPL", 2245.0000023), ("BTC/USD", 0.17938001), ("BTC/USD", 2.5),
                                             ("EURUSD", 1234567.89012345), ("SOL/USD", 0.30000000000000004)])
def test_awkward_fractional_orders_finish_at_once_and_never_overfill(symbol, quantity):
    sim = make_sim(liquidity_share=0.05, partial_fill_chance=0.5, max_child_fills=50)
    for i in range(20):
        _, fills, _, _ = run(sim, f"awk{i}", instrument=symbol, quantity=quantity)
        assert exact_sum(fills) <= Fraction(quantity)
        assert all(f["fill_quantity"] > 0 for f in fills)


def _last_release(ex) -> int:
    return max(e.release_after_ms for e in ex.events)


@pytest.mark.parametrize("max_delay,max_fills", [(0, 1), (0, 10), (500, 2), (500, 10), (2000, 3)])
def test_longest_execution_bounds_every_release(max_delay, max_fills):
    """ack_wait is derived from Settings.longest_execution_ms: no event may be due later."""
    sim = make_sim(min_delay_ms=max_delay, max_delay_ms=max_delay, liquidity_share=0.01,
                   partial_fill_chance=0.5, max_child_fills=max_fills)
    bound = seeded_settings("realism", min_delay_ms=max_delay, max_delay_ms=max_delay, liquidity_share=0.01,
                                    max_child_fills=max_fills).longest_execution_ms
    worst = max(_last_release(run(sim, f"lx{i}", instrument="BTC/USD", quantity=5)[0]) for i in range(300))
    assert worst <= bound
    assert worst >= bound - max_delay - 1000  # the bound is not slack by more than one step


def test_absurd_orders_under_impact_stay_within_the_contract():
    from jsonschema import Draft202012Validator

    from common.contracts import FILL, RECONCILE, load_schema

    validators = {"fill": Draft202012Validator(load_schema(FILL)), "reconcile": Draft202012Validator(load_schema(RECONCILE))}
    sim = make_sim(slippage_model="sqrt_impact", liquidity_share=1.0)
    for quantity in (1e250, 1e200, 2.0**60, 2**53 + 1):
        ex = sim.simulate(accept(make_intent("abs", instrument="BTC/USD", quantity=quantity, ts_ms=T0), T0, T0))
        for event in ex.events:
            body = orjson.loads(event.payload)
            if event.kind in validators:
                assert not list(validators[event.kind].iter_errors(body)), (quantity, event.kind, body)


def test_huge_orders_still_meet_the_liquidity():
    sim = make_sim(liquidity_share=1.0)
    _, fills, _, update = run(sim, "huge", instrument="EURUSD", quantity=2.0**60)
    assert fills[0]["fill_status"] == "partial" and fills[0]["fill_quantity"] < 2.0**60 / 1000
    assert update is not None and update["metadata"]["reason_code"] == "child_fill_limit"


def test_a_triggered_stop_stays_triggered_through_its_child_fills():
    sim = make_sim(liquidity_share=1.0, max_child_fills=30)
    for i in range(200):
        mid = sim.market.quote("BTC/USD", T0).mid
        _, fills, _, update = run(sim, f"st{i}", order_type="stop", stop_price=round(mid * 0.9999, 2), quantity=3)
        if executed(fills):
            assert update is None or update["metadata"]["reason_code"] != "stop_not_triggered"


def test_average_fill_price_is_never_worse_than_the_limit():
    sim = make_sim(liquidity_share=0.2, partial_fill_chance=1.0)
    seen = 0
    for i in range(300):
        mid = sim.market.quote("AAPL", T0).mid
        side, sign = ("buy", 1) if i % 2 else ("sell", -1)
        limit = mid * (1 + sign * 0.00005)  # inside the slippage: the limit binds, unrounded
        _, fills, _, update = run(sim, f"avg{i}", instrument="AAPL", side=side, order_type="limit", price=limit,
                                  quantity=5000)
        if update is not None and update.get("average_fill_price") is not None:
            seen += 1
            assert sign * (update["average_fill_price"] - limit) <= 0
    assert seen > 50
