"""worker.market: quotes are a pure function of (seed, instrument, second), and the price
process has the volatility and band the instruments file gives it (checked statistically)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from common.instruments import load_instruments
from worker.market import PRICE_MEMORY_DAYS, Market, Quote, price_band, tick_decimals

BOOK = load_instruments()
T0 = 1_764_081_000_123  # 2025-11-25T14:30:00.123Z
DAY_MS = 86_400_000
# Far enough apart that two samples share no Brownian increment (the price forgets after 20 days).
INDEPENDENT_MS = (PRICE_MEMORY_DAYS + 1) * DAY_MS
# A test of a distribution fails only below this p-value (fixed seeds: the verdict never flips).
P_MIN = 0.001

instruments = st.from_regex(r"\A[A-Z0-9]{2,8}([/_-]?[A-Z0-9]{1,8})?\Z")


def test_quote_is_pure_across_instances_and_call_order():
    a = Market(b"s1", BOOK)
    b = Market(b"s1", BOOK)
    for instrument in ("EURUSD", "AAPL", "BTC/USD", "ES_F", "UNKNOWN1"):
        for step in range(0, 40_000_000, 997_003):
            assert a.quote(instrument, T0 + step) == b.quote(instrument, T0 + step)
    # A fresh instance asked in reverse time, far away first, fills its caches differently: same answers.
    c = Market(b"s1", BOOK)
    c.quote("EURUSD", T0 + 500 * 365 * DAY_MS)
    for step in reversed(range(0, 40_000_000, 997_003)):
        assert c.quote("EURUSD", T0 + step) == a.quote("EURUSD", T0 + step)


def test_quote_constant_within_a_second_and_moves_between_seconds():
    m = Market(b"seed", BOOK)
    second = (T0 // 1000) * 1000
    assert m.quote("AAPL", second) == m.quote("AAPL", second + 999)
    mids = [m.quote("BTC/USD", second + 1000 * k).mid for k in range(200)]
    assert len(set(mids)) >= 150


def test_different_seed_gives_different_prices():
    a = Market(b"seed-a", BOOK)
    b = Market(b"seed-b", BOOK)
    differ = sum(a.quote("EURUSD", T0 + DAY_MS * k).mid != b.quote("EURUSD", T0 + DAY_MS * k).mid for k in range(100))
    assert differ >= 95


def test_spellings_of_one_instrument_quote_alike():
    m = Market(b"seed", BOOK)
    for step in range(20):
        t = T0 + step * 1000
        assert m.quote("BTC/USD", t) == m.quote("BTCUSD", t) == m.quote("BTC-USD", t)


@pytest.mark.parametrize("instrument", ["EURUSD", "USDJPY", "BTC/USD", "SOL/USD", "AAPL", "SPY", "ES_F", "CL_F",
                                        "GC_F", "ZZTOP"])
def test_quote_shape_ticks_and_spread(instrument):
    info = BOOK.get(instrument)
    m = Market(b"seed", BOOK)
    tick = info.tick_size
    d = tick_decimals(tick)
    for k in range(300):
        q = m.quote(instrument, T0 + 7_777 * k)
        assert isinstance(q, Quote)
        assert 0 < q.bid < q.mid < q.ask
        # bid and ask on the tick grid, the mid their average.
        for price in (q.bid, q.ask):
            assert abs(price / tick - round(price / tick)) < 1e-6
            assert round(price, d) == price
        assert q.mid == pytest.approx((q.bid + q.ask) / 2, abs=10.0**-(d + 1))
        # The spread is spread_bps of the mid in whole ticks, at least one.
        spread_ticks = round((q.ask - q.bid) / tick)
        assert spread_ticks == max(1, round(q.mid * info.spread_bps / 1e4 / tick))


def test_reference_price_holds_at_the_centre_of_the_band():
    """Across seeds, the log mid at any instant is centred on log reference_price with the band's spread."""
    info = BOOK.get("AAPL")
    logs = [math.log(Market(f"seed{i}".encode(), BOOK).quote("AAPL", BOOK.reference_ms).mid / info.reference_price)
            for i in range(600)]
    band = price_band(info)
    assert stats.kstest([x / band for x in logs], "norm").pvalue > P_MIN


@pytest.mark.parametrize("instrument", ["AAPL", "EURUSD", "SOL/USD"])
def test_daily_log_returns_have_the_configured_volatility(instrument):
    """24-hour log returns are normal with standard deviation daily_volatility (KS test, 800 samples)."""
    info = BOOK.get(instrument)
    m = Market(b"vol-test", BOOK)
    returns = []
    for k in range(800):
        t = T0 + k * INDEPENDENT_MS
        returns.append(math.log(m.quote(instrument, t + DAY_MS).mid / m.quote(instrument, t).mid))
    scaled = [r / info.daily_volatility for r in returns]
    assert stats.kstest(scaled, "norm").pvalue > P_MIN
    assert statistics.pstdev(returns) == pytest.approx(info.daily_volatility, rel=0.1)
    # A minute's return: sqrt(1/1440) of a day's (GBM scaling), within the rounding to ticks.
    minute = [math.log(m.quote(instrument, T0 + k * INDEPENDENT_MS + 60_000).mid
                       / m.quote(instrument, T0 + k * INDEPENDENT_MS).mid)
              for k in range(800)]
    assert statistics.pstdev(minute) == pytest.approx(info.daily_volatility / math.sqrt(1440), rel=0.15)


def test_over_long_spans_the_price_stays_in_its_band():
    info = BOOK.get("BTC/USD")
    m = Market(b"band-test", BOOK)
    band = price_band(info)
    logs = [math.log(m.quote("BTC/USD", T0 + k * INDEPENDENT_MS).mid / info.reference_price) for k in range(800)]
    assert stats.kstest([x / band for x in logs], "norm").pvalue > P_MIN
    # Ten years on, the same band: no drift.
    later = [math.log(m.quote("BTC/USD", T0 + 3650 * DAY_MS + k * INDEPENDENT_MS).mid / info.reference_price)
             for k in range(800)]
    assert stats.kstest([x / band for x in later], "norm").pvalue > P_MIN


def test_volume_per_step_follows_adv_and_lots():
    session_s = {"XNYS": 23_400.0}
    m = Market(b"seed", BOOK, lambda calendar: session_s.get(calendar, 86_400.0))
    for instrument, day_s in (("AAPL", 23_400.0), ("BTC/USD", 86_400.0), ("EURUSD", 86_400.0)):
        info = BOOK.get(instrument)
        per_step = info.adv / day_s
        ratios = []
        for k in range(2000):
            volume = m.quote(instrument, T0 + 1000 * k).volume
            lots = volume / info.lot_size
            assert abs(lots - round(lots)) < 1e-6 and lots >= 1
            ratios.append(volume / per_step)
        # (0.5 + v) with v uniform, floored to whole lots.
        assert min(ratios) >= 0.5 - info.lot_size / per_step and max(ratios) < 1.5
        assert stats.kstest([r - 0.5 for r in ratios], "uniform").pvalue > P_MIN


def test_unknown_symbol_price_is_hashed_from_its_name_not_the_seed():
    a = Market(b"one", BOOK)
    b = Market(b"two", BOOK)
    for symbol in ("ZZTOP", "ABC123", "XYZ/QQ", "FOO_BAR", "K9X"):
        ref = BOOK.get(symbol).reference_price
        assert 10.0 <= ref < 500.0
        assert a.instrument(symbol).reference_price == b.instrument(symbol).reference_price == ref


def test_tick_decimals():
    assert [tick_decimals(t) for t in (1.0, 0.25, 0.1, 0.01, 0.001, 0.00001, 0.5)] == [0, 2, 1, 2, 3, 5, 1]


def test_negative_time_is_a_valid_step():
    m = Market(b"seed", BOOK)
    before = BOOK.reference_ms - 1
    assert m.quote("EURUSD", before) == m.quote("EURUSD", before - 999)
    assert m.quote("EURUSD", before) != m.quote("EURUSD", BOOK.reference_ms)


@settings(max_examples=300, deadline=None)
@given(instrument=instruments, at_ms=st.integers(-62_135_596_800_000, 253_402_300_799_999),
       seed=st.binary(min_size=0, max_size=40))
def test_any_instrument_any_time_is_pure_and_sane(instrument, at_ms, seed):
    a = Market(seed, BOOK).quote(instrument, at_ms)
    b = Market(seed, BOOK).quote(instrument, at_ms)
    assert a == b
    assert 0 < a.bid < a.mid < a.ask
    assert all(math.isfinite(x) for x in (a.bid, a.mid, a.ask, a.volume))
    assert a.volume > 0
