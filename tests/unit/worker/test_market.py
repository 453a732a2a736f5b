"""worker.market: quotes are a pure function of (seed, instrument, second)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from worker.market import MOVE_BPS, Market, Quote, hashed_base_price, normalize, price_decimals

T0 = 1_705_314_660_123  # 2024-01-15T10:31:00.123Z

KNOWN = {
    "EURUSD": 1.085, "GBPUSD": 1.27, "USDJPY": 150.0, "AUDUSD": 0.66, "USDCHF": 0.88, "USDCAD": 1.36,
    "NZDUSD": 0.61, "BTC/USD": 65_000.0, "BTCUSD": 65_000.0, "ETH/USD": 3_500.0, "ETHUSD": 3_500.0,
    "SOL/USD": 150.0, "AAPL": 190.0, "MSFT": 420.0, "GOOGL": 170.0, "AMZN": 185.0, "NVDA": 120.0,
    "TSLA": 250.0, "META": 500.0, "SPY": 550.0, "QQQ": 480.0, "GLD": 220.0, "IWM": 210.0,
    "ES_F": 5_500.0, "NQ_F": 19_500.0, "CL_F": 78.0, "GC_F": 2_400.0,
}
# Half spread in bps by asset class, as documented.
HALF_SPREAD_BPS = {
    "EURUSD": 0.7, "USDJPY": 0.7, "BTC/USD": 3.0, "ETHUSD": 3.0, "AAPL": 1.5, "SPY": 1.5, "ES_F": 0.75,
    "GC_F": 0.75, "ZZTOP": 2.0,
}

instruments = st.from_regex(r"\A[A-Z0-9]{2,8}([/_-]?[A-Z0-9]{1,8})?\Z")


def test_reference_prices_for_common_instruments():
    m = Market(b"seed", {})
    for instrument, base in KNOWN.items():
        assert m.base_price(instrument) == base, instrument


def test_override_wins_and_matches_any_spelling():
    m = Market(b"seed", {"EURUSD": 1.2, "btc/usd": 70_000.0, "NEWCOIN": 3.5})
    assert m.base_price("EURUSD") == 1.2
    assert m.base_price("EUR/USD") == 1.2
    assert m.base_price("BTCUSD") == 70_000.0
    assert m.base_price("BTC-USD") == 70_000.0
    assert m.base_price("NEWCOIN") == 3.5
    assert m.base_price("GBPUSD") == 1.27
    q = m.quote("EURUSD", T0)
    assert abs(q.mid / 1.2 - 1) <= MOVE_BPS / 1e4 + 1e-6


def test_spellings_of_one_instrument_quote_alike():
    m = Market(b"seed", {})
    for step in range(20):
        t = T0 + step * 1000
        assert m.quote("BTC/USD", t) == m.quote("BTCUSD", t) == m.quote("BTC-USD", t)
    assert normalize("es_f") == "ESF"


def test_unknown_symbol_base_is_hashed_from_name_not_seed():
    a = Market(b"one", {})
    b = Market(b"two", {})
    bases = {}
    for symbol in ("ZZTOP", "ABC123", "XYZ/QQ", "FOO_BAR", "K9X"):
        base = a.base_price(symbol)
        assert 10.0 <= base < 500.0
        assert base == b.base_price(symbol) == hashed_base_price(normalize(symbol))
        bases[symbol] = base
    assert len(set(bases.values())) == len(bases)


def test_quote_is_pure_across_instances():
    a = Market(b"s1", {"FOO": 2.0})
    b = Market(b"s1", {"FOO": 2.0})
    for instrument in (*KNOWN, "FOO", "UNKNOWN1"):
        for step in range(0, 40_000, 997):
            assert a.quote(instrument, T0 + step) == b.quote(instrument, T0 + step)
    # Asking in a different order (a fresh instance, reverse time) changes nothing.
    c = Market(b"s1", {"FOO": 2.0})
    for step in reversed(range(0, 40_000, 997)):
        assert c.quote("EURUSD", T0 + step) == a.quote("EURUSD", T0 + step)


def test_quote_constant_within_a_second_and_moves_between_seconds():
    m = Market(b"seed", {})
    second = (T0 // 1000) * 1000
    assert m.quote("AAPL", second) == m.quote("AAPL", second + 999)
    mids = [m.quote("AAPL", second + 1000 * k).mid for k in range(100)]
    assert len(set(mids)) >= 95


def test_different_seed_gives_different_prices():
    a = Market(b"seed-a", {})
    b = Market(b"seed-b", {})
    differ = sum(a.quote("EURUSD", T0 + 1000 * k).mid != b.quote("EURUSD", T0 + 1000 * k).mid for k in range(100))
    assert differ >= 95


@pytest.mark.parametrize("instrument", [*KNOWN, "ZZTOP", "Q1W2E3"])
def test_quote_shape_band_and_rounding(instrument):
    m = Market(b"seed", {})
    base = m.base_price(instrument)
    d = m.decimals(instrument)
    assert d == price_decimals(base)
    tick = 10.0**-d
    lows, highs = [], []
    for k in range(300):
        q = m.quote(instrument, T0 + 1000 * k)
        assert isinstance(q, Quote)
        assert 0 < q.bid < q.mid < q.ask
        for price in (q.bid, q.mid, q.ask):
            assert round(price, d) == price
        # The mid stays within MOVE_BPS of the base (plus half a tick of rounding).
        assert abs(q.mid - base) <= base * MOVE_BPS / 1e4 + tick / 2 + 1e-12
        assert isinstance(q.volume, int) and q.volume > 0
        lows.append(q.mid < base)
        highs.append(q.mid > base)
    # It moves both ways.
    assert sum(lows) > 60 and sum(highs) > 60


@pytest.mark.parametrize("instrument,half_bps", sorted(HALF_SPREAD_BPS.items()))
def test_spread_by_asset_class(instrument, half_bps):
    m = Market(b"seed", {})
    d = m.decimals(instrument)
    for k in range(50):
        q = m.quote(instrument, T0 + 1000 * k)
        spread = q.ask - q.bid
        expected = 2 * q.mid * half_bps / 1e4
        assert abs(spread - expected) <= 10.0**-d + 1e-12


def test_price_decimals_about_seven_significant_digits():
    assert price_decimals(1.085) == 6
    assert price_decimals(0.61) == 7
    assert price_decimals(150.0) == 4
    assert price_decimals(65_000.0) == 2
    assert price_decimals(19_500.0) == 2
    assert price_decimals(5_500.0) == 3
    assert price_decimals(1e-13) == 12
    assert price_decimals(1e9) == 2


def test_tiny_override_stays_positive():
    m = Market(b"seed", {"DUST": 1e-13})
    for k in range(20):
        q = m.quote("DUST", T0 + 1000 * k)
        assert q.bid > 0 and q.mid > 0 and q.ask > 0
        assert q.bid <= q.mid <= q.ask


def test_negative_time_is_a_valid_step():
    m = Market(b"seed", {})
    assert m.quote("EURUSD", -1) == m.quote("EURUSD", -1000)
    assert m.quote("EURUSD", -1) != m.quote("EURUSD", 0)


@settings(max_examples=300, deadline=None)
@given(instrument=instruments, at_ms=st.integers(-10**13, 10**13), seed=st.binary(min_size=0, max_size=40))
def test_any_instrument_any_time_is_pure_and_sane(instrument, at_ms, seed):
    a = Market(seed, {}).quote(instrument, at_ms)
    b = Market(seed, {}).quote(instrument, at_ms)
    assert a == b
    assert 0 < a.bid <= a.mid <= a.ask
    assert all(math.isfinite(x) for x in (a.bid, a.mid, a.ask))
    assert a.volume >= 1
