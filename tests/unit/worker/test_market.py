"""worker.market: quotes are a pure function of (seed, instrument, second), on the tick grid,
with the reference price at the reference time and the volatility and volume the instruments file
gives (the price process's statistics: test_price_process_statistics.py)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from common.instruments import load_instruments
from worker.market import Market, Quote, log_price_std, tick_decimals
from worker.sessions import trading_sessions

BOOK = load_instruments()
T0 = 1_764_081_000_123  # 2025-11-25T14:30:00.123Z
DAY_MS = 86_400_000
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


@pytest.mark.parametrize("seed", [b"seed", b"other", b"", b"x" * 40])
def test_reference_price_holds_at_the_reference_time(seed):
    """The fair price is reference_price exactly: the quoted mid is within half a tick of it."""
    m = Market(seed, BOOK)
    for symbol, info in sorted(BOOK.listed.items()):
        mid = m.quote(symbol, BOOK.reference_ms).mid
        assert abs(mid - info.reference_price) <= info.tick_size / 2 + 1e-9 * info.reference_price, symbol


def test_prices_spread_like_a_random_walk_across_seeds():
    """A year after the reference time the log price's standard deviation across seeds is
    daily_volatility * sqrt(trading days) (BTC/USD: 365 a year); a random walk's, not a band's."""
    info = BOOK.get("BTC/USD")
    year = 365 * DAY_MS
    logs = [math.log(Market(f"seed{i}".encode(), BOOK).quote("BTC/USD", BOOK.reference_ms + year).mid
                     / info.reference_price) for i in range(400)]
    # 400 samples: the sample standard deviation is within 15 % of the truth far beyond 3 sigma.
    assert statistics.pstdev(logs) == pytest.approx(log_price_std(info, 365), rel=0.15)


@pytest.mark.parametrize("instrument", ["BTC/USD", "SOL/USD"])
def test_day_and_minute_returns_have_the_configured_volatility(instrument):
    """24/7 instruments: a day's log return has standard deviation daily_volatility on average over
    regimes, a minute's sqrt(1/1440) of it (800 samples 13 days apart over the calendars' years,
    where the volatility regime runs)."""
    info = BOOK.get(instrument)
    m = Market(b"vol-test", BOOK)
    day, minute = [], []
    for k in range(800):
        t = T0 - 15 * 365 * DAY_MS + k * 13 * DAY_MS
        day.append(math.log(m.quote(instrument, t + DAY_MS).mid / m.quote(instrument, t).mid))
        minute.append(math.log(m.quote(instrument, t + 60_000).mid / m.quote(instrument, t).mid))
    # The volatility regime widens the sample's spread (vol_of_vol 0.6): 15 % holds far beyond 3 sigma.
    assert statistics.pstdev(day) == pytest.approx(info.daily_volatility, rel=0.15)
    assert statistics.pstdev(minute) == pytest.approx(info.daily_volatility / math.sqrt(1440), rel=0.2)
    # Fat tails: far from a normal's kurtosis.
    assert stats.kurtosis(day) > 0.3


def test_volume_per_step_follows_volatility_and_lots():
    """A step's volume is adv times its share of the day's variance times (0.5 + u), in whole lots:
    flat through the day for 24/7 (uniform around its mean), U-shaped for a NYSE stock."""
    m = Market(b"seed", BOOK, trading_sessions)
    info = BOOK.get("BTC/USD")
    volumes = [m.quote("BTC/USD", T0 + 1000 * k).volume for k in range(2000)]
    for volume in volumes:
        lots = volume / info.lot_size
        assert abs(lots - round(lots)) < 1e-6 and lots >= 1
    mean = statistics.fmean(volumes)
    assert stats.kstest([v / mean - 0.5 for v in volumes], "uniform").pvalue > P_MIN
    # AAPL on a session (2025-11-25, 14:30Z open): the first and last half hours trade more than midday.
    open_ms = 1_764_081_000_000
    def traded(start_min: int, end_min: int) -> float:
        return sum(m.quote("AAPL", open_ms + 60_000 * k).volume for k in range(start_min, end_min))
    first, midday, last = traded(0, 30), traded(165, 195), traded(360, 390)
    assert first > 2 * midday and last > 2 * midday
    # A day's volume is about adv (times the day's volatility multiplier, mean 1).
    day = sum(m.quote("AAPL", open_ms + 10_000 * k).volume for k in range(0, 2340)) * 10
    assert 0.3 * BOOK.get("AAPL").adv < day < 3 * BOOK.get("AAPL").adv


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
