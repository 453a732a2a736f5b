"""worker.synthetic_market: the market view's seeded implementation answers as Market and the calendars do."""

from __future__ import annotations

import pytest

from tests.builders import BOOK, SEED, T0
from worker.market import STEP_MS, Market
from worker.market_view import MarketView
from worker.sessions import trading_sessions
from worker.synthetic_market import SyntheticMarket

INSTRUMENTS = ("AAPL", "EURUSD", "BTC/USD", "ES_F")
INSTANTS = [T0 + k * 3_600_007 for k in range(-60, 60, 7)]


def market() -> Market:
    return Market(SEED, BOOK, trading_sessions)


def test_it_is_a_market_view():
    view: MarketView = SyntheticMarket(SEED, BOOK, sessions_on=True)
    assert view.decimals("AAPL") == market().decimals("AAPL")
    assert view.instrument("AAPL") == market().instrument("AAPL")


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_quotes_are_the_markets(instrument):
    view, old = SyntheticMarket(SEED, BOOK, sessions_on=True), market()
    for at in INSTANTS:
        assert view.quote(instrument, at) == old.quote(instrument, at)


def test_next_instant_after_is_the_next_step_and_the_quote_holds_until_then():
    view = SyntheticMarket(SEED, BOOK, sessions_on=False)
    for at in INSTANTS + [BOOK.reference_ms, BOOK.reference_ms - 1, BOOK.reference_ms + STEP_MS - 1]:
        following = view.next_instant_after("AAPL", at)
        assert 0 < following - at <= STEP_MS and (following - BOOK.reference_ms) % STEP_MS == 0
        assert view.quote("AAPL", following - 1) == view.quote("AAPL", at)


@pytest.mark.parametrize("instrument", INSTRUMENTS)
@pytest.mark.parametrize("sessions_on", [True, False])
def test_first_crossing_is_the_markets_within_the_calendars_open_hours(instrument, sessions_on):
    view, old = SyntheticMarket(SEED, BOOK, sessions_on=sessions_on), market()
    calendar = trading_sessions(BOOK.get(instrument).calendar)
    start, end = T0, T0 + 4 * 86_400_000
    mid = old.quote(instrument, start).mid
    for level, above in ((mid * 1.002, True), (mid * 0.998, False), (mid * 1.5, True)):
        intervals = calendar.open_intervals(start, end) if sessions_on else None
        assert view.first_crossing(instrument, start, end, level, above) == old.first_crossing(
            instrument, start, end, level, above, intervals)
    assert view.first_crossing(instrument, end, start, mid, True) is None


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_sessions_are_the_calendars(instrument):
    view = SyntheticMarket(SEED, BOOK, sessions_on=True)
    calendar = trading_sessions(BOOK.get(instrument).calendar)
    for at in INSTANTS:
        assert view.is_open(instrument, at) == calendar.is_open(at)
        assert view.next_open(instrument, at) == calendar.next_open_ms(at)
        assert view.session_close(instrument, at) == calendar.close_ms(at)
        intervals = calendar.open_intervals(at, at + 86_400_000)
        assert view.first_open_between(instrument, at, at + 86_400_000) == (intervals[0][0] if intervals else None)


def test_with_sessions_off_every_instrument_trades_at_every_instant():
    view = SyntheticMarket(SEED, BOOK, sessions_on=False)
    saturday = 1_705_158_000_000
    assert view.is_open("AAPL", saturday) and view.next_open("AAPL", saturday) == saturday
    assert view.first_open_between("AAPL", saturday, saturday + 1) == saturday
    assert view.first_open_between("AAPL", saturday, saturday) is None


def test_the_closed_reason_names_the_calendar_and_the_next_open():
    view = SyntheticMarket(SEED, BOOK, sessions_on=True)
    saturday = 1_705_158_000_000  # 2024-01-13T15:00:00Z
    assert view.closed_reason("AAPL", saturday) == (
        "market_closed: XNYS is closed at 2024-01-13T15:00:00.000Z; next open 2024-01-16T14:30:00.000Z")
    beyond = 2_209_032_000_000  # 2040-01-01T12:00Z: past the calendar's range
    assert view.closed_reason("AAPL", beyond).startswith(
        "market_closed at 2040-01-01T12:00:00.000Z: XNYS: outside the calendar's range")
