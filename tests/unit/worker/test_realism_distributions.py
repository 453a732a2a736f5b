"""worker.simulator realism models: the distributions of partial fills, slippage and delays.

Distributions (partial-fill share, split ratio, uniform and square-root slippage, uniform and
log-normal delays) are compared with the configured ones by binomial and Kolmogorov-Smirnov tests
over a few thousand intents. The draws are a pure function of (seed, corr_id), so every verdict is
fixed: a test fails only when p < ALPHA. Where the rule is exact (the square-root impact price, the
half spread) it is checked exactly. Pure code: no NATS.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

from common.instruments import parse_instruments
from tests.builders import BOOK
from tests.builders import realism_run as run
from tests.builders import realism_sim as make_sim

ALPHA = 0.001


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
    ratios = [_first_child(run(sim, f"sr{i}", instrument="AAPL", quantity=quantity)[1]) / quantity
              for i in range(3000)]
    assert 0.1 - 1e-8 <= min(ratios) and max(ratios) <= 0.9
    assert stats.kstest(ratios, "uniform", args=(0.1, 0.8)).pvalue > ALPHA


def _first_child(fills) -> float:
    """The quantity of an order's first child fill (one fill per level of the book it took)."""
    return sum(f["fill_quantity"] for f in fills
               if f["execution_latency_ms"] == fills[0]["execution_latency_ms"] and f["fill_status"] != "cancelled")


# -- slippage -------------------------------------------------------------------------------


def _touch(fill, sign: int) -> float:
    return fill["market_data"]["ask" if sign > 0 else "bid"]


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_uniform_slippage_is_uniform_in_whole_ticks_beyond_the_touch_up_to_the_bound(side, sign):
    bps = 5.0
    sim = make_sim(slippage_model="uniform", slippage_bps=bps)
    tick = BOOK.get("BTC/USD").tick_size
    shares = []
    for i in range(4000):
        # BTC/USD near 96,900 on a 0.01 grid: the 48 USD bound is ~4,800 ticks.
        fill = run(sim, f"us{side}{i}", instrument="BTC/USD", side=side, quantity=0.5)[1][0]
        mid = fill["market_data"]["mid"]
        beyond = sign * (fill["fill_price"] - _touch(fill, sign)) / tick
        assert abs(beyond - round(beyond)) < 1e-6 and fill["slippage"] > 0  # the trader pays
        assert 0 <= round(beyond) <= math.ceil(mid * bps / 1e4 / tick)
        shares.append(round(beyond) / (mid * bps / 1e4 / tick))
    assert stats.kstest(shares, "uniform").pvalue > ALPHA


def test_uniform_slippage_is_the_drawn_share_rounded_up_to_a_tick():
    sim = make_sim(slippage_model="uniform", slippage_bps=2.0)
    tick = BOOK.get("EURUSD").tick_size
    for i in range(200):
        fill = run(sim, f"rt{i}", instrument="EURUSD", quantity=1000)[1][0]
        drawn = sim.draws(f"rt{i}")[1] * fill["market_data"]["mid"] * 2.0 / 1e4
        assert fill["fill_price"] == round(fill["market_data"]["ask"] + math.ceil(drawn / tick - 1e-9) * tick, 5)


@pytest.mark.parametrize("y", [0.5, 2.0])
@pytest.mark.parametrize("symbol,quantity", [("AAPL", 250_000), ("BTC/USD", 3.0), ("EURUSD", 25_000_000),
                                             ("SOL/USD", 12_345.678)])
def test_sqrt_impact_price_formula(symbol, quantity, y):
    """The touch plus Y * daily_volatility * sqrt(Q / adv) of the mid, rounded up to whole ticks."""
    sim = make_sim(slippage_model="sqrt_impact", impact_coefficient=y)
    instrument = BOOK.get(symbol)
    tick = instrument.tick_size
    for i in range(150):
        side, sign = ("buy", 1) if i % 2 else ("sell", -1)
        (fill,) = run(sim, f"sq{i}", instrument=symbol, side=side, quantity=quantity)[1]
        mid = fill["market_data"]["mid"]
        impact = mid * y * instrument.daily_volatility * math.sqrt(quantity / instrument.adv)
        expected = _touch(fill, sign) + sign * math.ceil(impact / tick - 1e-9) * tick
        assert fill["fill_price"] == pytest.approx(expected, abs=tick * 1e-6)
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
