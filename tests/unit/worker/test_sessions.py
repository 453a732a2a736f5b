"""worker.sessions: exchange sessions, CME Globex hours, FX 24/5 and its holidays, 24/7, names, bounds."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.sessions import (
    ALWAYS_OPEN,
    FX,
    TradingSessions,
    UnknownCalendar,
    trading_sessions,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def ms(iso: str) -> int:
    """Epoch ms of a UTC ISO instant such as '2026-11-24T14:30:00.000Z'."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (at - EPOCH) // timedelta(milliseconds=1)


def open_at(cal: str, *instants: str) -> list[bool]:
    sessions = trading_sessions(cal)
    return [sessions.is_open(ms(t)) for t in instants]


# --- XNYS -------------------------------------------------------------------------------


def test_xnys_regular_day_winter():
    # 2026-11-24 (Tuesday, EST): 09:30-16:00 New York is 14:30Z-21:00Z.
    assert open_at("XNYS", "2026-11-24T14:29:59.999Z", "2026-11-24T14:30:00.000Z",
                   "2026-11-24T20:59:59.999Z", "2026-11-24T21:00:00.000Z") == [
        False, True, True, False]
    xnys = trading_sessions("XNYS")
    assert xnys.close_ms(ms("2026-11-24T16:00:00Z")) == ms("2026-11-24T21:00:00Z")
    assert xnys.next_open_ms(ms("2026-11-24T16:00:00Z")) == ms("2026-11-24T16:00:00Z")


def test_xnys_regular_day_summer():
    # 2026-07-15 (Wednesday, EDT): 13:30Z-20:00Z.
    assert open_at("XNYS", "2026-07-15T13:29:59.999Z", "2026-07-15T13:30:00.000Z",
                   "2026-07-15T19:59:59.999Z", "2026-07-15T20:00:00.000Z") == [
        False, True, True, False]


def test_xnys_holidays_closed_all_day():
    xnys = trading_sessions("XNYS")
    for day in ("2026-11-26", "2026-12-25"):  # Thanksgiving, Christmas
        for hour in range(24):
            at = ms(f"{day}T{hour:02d}:00:00Z")
            assert not xnys.is_open(at)
            assert xnys.close_ms(at) is None
    assert xnys.describe(ms("2026-11-26T15:00:00Z")) == "XNYS: closed"


def test_xnys_early_close_day_after_thanksgiving():
    xnys = trading_sessions("XNYS")
    assert open_at("XNYS", "2026-11-27T14:30:00Z", "2026-11-27T17:59:59.999Z",
                   "2026-11-27T18:00:00Z") == [True, True, False]
    assert xnys.close_ms(ms("2026-11-27T15:00:00Z")) == ms("2026-11-27T18:00:00Z")


def test_xnys_weekend_and_next_open():
    xnys = trading_sessions("XNYS")
    assert not xnys.is_open(ms("2026-11-28T15:00:00Z"))  # Saturday
    # Friday after the close -> Monday's open.
    assert xnys.next_open_ms(ms("2026-11-20T21:00:00Z")) == ms("2026-11-23T14:30:00Z")
    assert xnys.next_open_ms(ms("2026-11-28T15:00:00Z")) == ms("2026-11-30T14:30:00Z")
    # Wednesday's close, Thanksgiving -> Friday's open.
    assert xnys.next_open_ms(ms("2026-11-25T21:00:00Z")) == ms("2026-11-27T14:30:00Z")
    # Christmas Eve closes early, Christmas is a Friday -> Monday the 28th.
    assert xnys.next_open_ms(ms("2026-12-24T18:00:00Z")) == ms("2026-12-28T14:30:00Z")


def test_xnys_typical_session():
    assert trading_sessions("XNYS").typical_session_s == 23400.0


# --- FX ---------------------------------------------------------------------------------


def test_fx_weekend_and_sunday_open_winter():
    assert open_at(FX, "2026-11-28T12:00:00Z",  # Saturday
                   "2026-11-29T21:59:59.999Z",  # Sunday 16:59:59.999 EST
                   "2026-11-29T22:00:00Z") == [False, False, True]


def test_fx_sunday_open_summer():
    assert open_at(FX, "2026-07-12T20:59:59.999Z", "2026-07-12T21:00:00Z") == [False, True]


def test_fx_sunday_open_on_the_dst_switch():
    # DST starts 2026-03-08 at 02:00 New York; the 17:00 open is already EDT.
    assert open_at(FX, "2026-03-08T20:59:59.999Z", "2026-03-08T21:00:00Z") == [False, True]


def test_fx_friday_close_and_weekday_midnight():
    assert open_at(FX, "2026-11-27T21:59:59.999Z", "2026-11-27T22:00:00Z") == [True, False]
    assert open_at(FX, "2026-11-25T00:00:00Z", "2026-11-25T05:00:00Z") == [True, True]


def test_fx_sessions_are_daily_from_17_new_york():
    fx = trading_sessions(FX)
    # Wednesday noon New York: the session ends at 17:00 New York, the next starts there.
    assert fx.close_ms(ms("2026-11-25T17:00:00Z")) == ms("2026-11-25T22:00:00Z")
    assert fx.is_open(ms("2026-11-25T22:00:00Z"))
    assert fx.next_open_ms(ms("2026-11-28T12:00:00Z")) == ms("2026-11-29T22:00:00Z")
    assert fx.typical_session_s == 86400.0


@pytest.mark.parametrize("year", range(2020, 2031))
def test_fx_closed_on_25_december_and_1_january(year: int):
    fx = trading_sessions(FX)
    for day in (f"{year}-12-25", f"{year + 1}-01-01"):
        for hour in range(0, 24, 3):
            assert not fx.is_open(ms(f"{day}T{hour:02d}:00:00Z")), (day, hour)
        # The holiday's trading day is gone: from 17:00 New York the evening before to 17:00 New York.
        evening_before = datetime.fromisoformat(day).replace(tzinfo=NEW_YORK) - timedelta(hours=7)
        assert not fx.is_open(int(evening_before.timestamp() * 1000))


@pytest.mark.parametrize("eve,eve_close,holiday_noon,after,reopen", [
    # Christmas on a Wednesday (2024) and New Year's Day on a Thursday (2026): the trading
    # days either side trade in full; the next session opens 17:00 New York on the holiday.
    ("2024-12-24T12:00:00Z", "2024-12-24T22:00:00Z", "2024-12-25T12:00:00Z", "2024-12-26T12:00:00Z",
     "2024-12-25T22:00:00Z"),
    ("2025-12-31T12:00:00Z", "2025-12-31T22:00:00Z", "2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z",
     "2026-01-01T22:00:00Z"),
    # Christmas on a Friday (2026): closed from Thursday 17:00 New York to Sunday 17:00.
    ("2026-12-24T12:00:00Z", "2026-12-24T22:00:00Z", "2026-12-25T12:00:00Z", "2026-12-28T12:00:00Z",
     "2026-12-27T22:00:00Z"),
    # Christmas on a Monday (2023): the week opens Monday 17:00 New York instead of Sunday.
    ("2023-12-22T12:00:00Z", "2023-12-22T22:00:00Z", "2023-12-25T12:00:00Z", "2023-12-26T12:00:00Z",
     "2023-12-25T22:00:00Z"),
])
def test_fx_trading_days_around_the_holidays_are_open(eve, eve_close, holiday_noon, after, reopen):
    fx = trading_sessions(FX)
    assert open_at(FX, eve, holiday_noon, after) == [True, False, True]
    assert fx.close_ms(ms(eve)) == ms(eve_close) and not fx.is_open(ms(eve_close))
    assert fx.next_open_ms(ms(eve_close)) == fx.next_open_ms(ms(holiday_noon)) == ms(reopen)
    assert not fx.is_open(ms(reopen) - 1) and fx.is_open(ms(reopen))


# --- 24/7 -------------------------------------------------------------------------------


def test_always_open():
    crypto = trading_sessions(ALWAYS_OPEN)
    for t in ("2026-11-28T12:00:00Z", "2026-12-25T00:00:00Z", "1970-01-01T00:00:00Z",
              "2100-01-01T00:00:00Z"):
        assert crypto.is_open(ms(t))
        assert crypto.next_open_ms(ms(t)) == ms(t)
        assert crypto.close_ms(ms(t)) == sys.maxsize
    assert crypto.typical_session_s == 86400.0
    assert crypto.bounds_ms is None


# --- CMES: CME Globex ------------------------------------------------------------------
# A trade date's session runs 17:00 Chicago the evening before to 16:00 Chicago; the hour
# 16:00-17:00 is the daily maintenance halt, Friday 16:00 to Sunday 17:00 the weekend.
# On US holidays the session halts at 12:00 Chicago, on the cash market's early-close days
# it closes at 12:15; New Year's Day, Good Friday and Christmas are closed.


def test_cmes_week():
    assert open_at("CMES", "2026-11-28T12:00:00Z",  # Saturday
                   "2026-11-29T22:59:59.999Z",  # Sunday 16:59:59.999 CST
                   "2026-11-29T23:00:00Z",
                   "2026-11-20T21:59:59.999Z",  # Friday close at 16:00 CST
                   "2026-11-20T22:00:00Z") == [False, False, True, True, False]


def test_cmes_daily_maintenance_halt_is_closed():
    cmes = trading_sessions("CMES")
    # Wednesday 2026-11-25 (CST): 16:00 Chicago is 22:00Z, 17:00 is 23:00Z.
    assert open_at("CMES", "2026-11-25T21:59:59.999Z", "2026-11-25T22:00:00Z", "2026-11-25T22:30:00Z",
                   "2026-11-25T22:59:59.999Z", "2026-11-25T23:00:00Z") == [True, False, False, False, True]
    assert cmes.next_open_ms(ms("2026-11-25T22:30:00Z")) == ms("2026-11-25T23:00:00Z")
    assert cmes.describe(ms("2026-11-25T22:30:00Z")) == "CMES: closed"
    # Summer (CDT): the same hour is 21:00Z-22:00Z.
    assert open_at("CMES", "2026-07-15T20:59:59.999Z", "2026-07-15T21:30:00Z", "2026-07-15T22:00:00Z") == [
        True, False, True]


def test_cmes_session_closes_at_16_chicago_where_day_orders_end():
    cmes = trading_sessions("CMES")
    # Opened Tuesday 17:00 CST for Wednesday's trade date: the close is Wednesday 16:00 CST.
    for at in ("2026-11-24T23:00:00Z", "2026-11-25T06:00:00Z", "2026-11-25T21:59:59.999Z"):
        assert cmes.close_ms(ms(at)) == ms("2026-11-25T22:00:00Z")
    assert cmes.close_ms(ms("2026-11-25T22:30:00Z")) is None
    assert cmes.close_ms(ms("2026-11-25T23:00:00Z")) == ms("2026-11-26T18:00:00Z")  # Thanksgiving's halt
    assert cmes.close_ms(ms("2026-07-15T15:00:00Z")) == ms("2026-07-15T21:00:00Z")  # 16:00 CDT


def test_cmes_typical_session_is_23_hours():
    assert trading_sessions("CMES").typical_session_s == 23 * 3600.0


def test_cmes_weekend_across_the_dst_switches():
    # DST starts Sunday 2026-03-08 (17:00 CDT = 22:00Z); ends Sunday 2026-11-01 (17:00 CST = 23:00Z).
    assert open_at("CMES", "2026-03-06T21:59:59.999Z", "2026-03-06T22:00:00Z",  # Friday 16:00 CST
                   "2026-03-08T21:59:59.999Z", "2026-03-08T22:00:00Z") == [True, False, False, True]
    assert open_at("CMES", "2026-10-30T20:59:59.999Z", "2026-10-30T21:00:00Z",  # Friday 16:00 CDT
                   "2026-11-01T22:59:59.999Z", "2026-11-01T23:00:00Z") == [True, False, False, True]


def test_cmes_us_holiday_halts_at_noon_and_reopens_at_17():
    cmes = trading_sessions("CMES")
    # Martin Luther King Jr. Day, Monday 2026-01-19 (CST): open from Sunday 17:00, halt at 12:00,
    # reopen at 17:00 for Tuesday, which closes at 16:00.
    assert open_at("CMES", "2026-01-18T23:00:00Z", "2026-01-19T17:59:59.999Z", "2026-01-19T18:00:00Z",
                   "2026-01-19T22:30:00Z", "2026-01-19T23:00:00Z") == [True, True, False, False, True]
    assert cmes.close_ms(ms("2026-01-19T15:00:00Z")) == ms("2026-01-19T18:00:00Z")
    assert cmes.next_open_ms(ms("2026-01-19T18:00:00Z")) == ms("2026-01-19T23:00:00Z")
    assert cmes.close_ms(ms("2026-01-19T23:00:00Z")) == ms("2026-01-20T22:00:00Z")
    # Juneteenth, Friday 2026-06-19 (CDT): halt at 12:00 = 17:00Z, then the weekend.
    assert open_at("CMES", "2026-06-19T16:59:59.999Z", "2026-06-19T17:00:00Z", "2026-06-19T21:30:00Z") == [
        True, False, False]
    assert cmes.close_ms(ms("2026-06-19T12:00:00Z")) == ms("2026-06-19T17:00:00Z")
    assert cmes.next_open_ms(ms("2026-06-19T17:00:00Z")) == ms("2026-06-21T22:00:00Z")


def test_cmes_thanksgiving_and_the_day_after():
    cmes = trading_sessions("CMES")
    # Thanksgiving halts at 12:00 CST and reopens at 17:00; Friday closes at 12:15 CST.
    assert open_at("CMES", "2026-11-26T17:59:59.999Z", "2026-11-26T18:00:00Z",
                   "2026-11-26T23:00:00Z", "2026-11-27T18:14:59.999Z", "2026-11-27T18:15:00Z") == [
        True, False, True, True, False]
    assert cmes.next_open_ms(ms("2026-11-26T20:00:00Z")) == ms("2026-11-26T23:00:00Z")
    assert cmes.close_ms(ms("2026-11-27T15:00:00Z")) == ms("2026-11-27T18:15:00Z")
    assert cmes.next_open_ms(ms("2026-11-27T18:15:00Z")) == ms("2026-11-29T23:00:00Z")


def test_cmes_independence_day_early_close_then_holiday_halt():
    cmes = trading_sessions("CMES")
    # 2025: Thursday 3 July closes at 12:15 CDT (17:15Z), Friday 4 July halts at 12:00 CDT (17:00Z).
    assert cmes.close_ms(ms("2025-07-03T14:00:00Z")) == ms("2025-07-03T17:15:00Z")
    assert open_at("CMES", "2025-07-03T17:15:00Z", "2025-07-03T22:00:00Z", "2025-07-04T16:59:59.999Z",
                   "2025-07-04T17:00:00Z") == [False, True, True, False]
    assert cmes.next_open_ms(ms("2025-07-04T17:00:00Z")) == ms("2025-07-06T22:00:00Z")


@pytest.mark.parametrize("eve,close,reopen", [
    # Christmas Eve closes at 12:15 CST; Christmas is closed; Globex reopens at 17:00 CST
    # on Christmas Day, or on Sunday when Christmas is a Friday.
    ("2024-12-24", "2024-12-24T18:15:00Z", "2024-12-25T23:00:00Z"),
    ("2026-12-24", "2026-12-24T18:15:00Z", "2026-12-27T23:00:00Z"),
])
def test_cmes_christmas(eve, close, reopen):
    cmes = trading_sessions("CMES")
    assert cmes.close_ms(ms(f"{eve}T15:00:00Z")) == ms(close)
    assert not cmes.is_open(ms(close))
    assert cmes.next_open_ms(ms(close)) == ms(reopen)
    assert not cmes.is_open(ms(reopen) - 1) and cmes.is_open(ms(reopen))


def test_cmes_new_years_day_and_good_friday_are_closed():
    cmes = trading_sessions("CMES")
    # Thursday 2026-12-31 closes at 16:00 CST; New Year's Day (Friday) is closed.
    assert cmes.close_ms(ms("2026-12-31T15:00:00Z")) == ms("2026-12-31T22:00:00Z")
    assert cmes.next_open_ms(ms("2026-12-31T22:00:00Z")) == ms("2027-01-03T23:00:00Z")
    # Good Friday 2026-04-03: Thursday closes at 16:00 CDT, Globex reopens Sunday 17:00 CDT.
    assert cmes.close_ms(ms("2026-04-02T15:00:00Z")) == ms("2026-04-02T21:00:00Z")
    assert not cmes.is_open(ms("2026-04-03T15:00:00Z"))
    assert cmes.next_open_ms(ms("2026-04-02T21:00:00Z")) == ms("2026-04-05T22:00:00Z")


def test_every_cmes_session_opens_at_17_and_closes_at_16_or_a_holiday_time():
    cmes = trading_sessions("CMES")
    sessions = cmes.open_intervals(*cmes.bounds_ms)  # never back to back: one interval per session
    chicago = ZoneInfo("America/Chicago")
    closes: dict[str, int] = {}
    for lo, hi in sessions:
        opened = datetime.fromtimestamp(lo / 1000, chicago)
        closed = datetime.fromtimestamp(hi / 1000, chicago)
        assert opened.strftime("%H:%M") == "17:00" and opened.weekday() != 4, opened  # never on a Friday
        assert closed.date() == opened.date() + timedelta(days=1) and closed.weekday() < 5, closed
        assert cmes.close_ms(lo) == cmes.close_ms(hi - 1) == hi
        closes[closed.strftime("%H:%M")] = closes.get(closed.strftime("%H:%M"), 0) + 1
    assert set(closes) == {"16:00", "12:00", "12:15"}
    assert 35 * 240 < closes["16:00"] and 35 * 6 < closes["12:00"] < 35 * 12 and 35 * 2 < closes["12:15"] < 35 * 5


def test_cmes_aliases_share_the_globex_hours():
    for alias in ("CME", "cbot", "NYMEX", "COMEX"):
        assert open_at(alias, "2026-11-25T22:30:00Z", "2026-11-25T23:00:00Z") == [False, True]


# --- a calendar with a break ------------------------------------------------------------


def test_xtks_lunch_break_is_closed():
    # 2026-11-24: 09:00-11:30 and 12:30-15:30 Tokyo = 00:00-02:30Z and 03:30-06:30Z.
    assert open_at("XTKS", "2026-11-24T02:29:59.999Z", "2026-11-24T02:30:00Z",
                   "2026-11-24T03:29:59.999Z", "2026-11-24T03:30:00Z",
                   "2026-11-24T06:30:00Z") == [True, False, False, True, False]
    xtks = trading_sessions("XTKS")
    assert xtks.close_ms(ms("2026-11-24T01:00:00Z")) == ms("2026-11-24T06:30:00Z")
    assert xtks.close_ms(ms("2026-11-24T03:00:00Z")) is None
    assert xtks.next_open_ms(ms("2026-11-24T03:00:00Z")) == ms("2026-11-24T03:30:00Z")
    assert xtks.describe(ms("2026-11-24T03:00:00Z")) == "XTKS: closed (break)"


# --- names and cache --------------------------------------------------------------------


def test_unknown_calendar():
    with pytest.raises(UnknownCalendar, match="NOPE") as caught:
        trading_sessions("NOPE")
    assert isinstance(caught.value, ValueError)


def test_names_are_case_insensitive_and_cached():
    assert trading_sessions("fx") is trading_sessions("FX") is trading_sessions("Fx")
    assert trading_sessions("24/7") is trading_sessions(ALWAYS_OPEN)
    assert trading_sessions("xnys") is trading_sessions("XNYS")
    assert isinstance(trading_sessions("XNYS"), TradingSessions)
    assert [trading_sessions(n).name for n in ("fx", "24/7", "xnys", "cme")] == [
        "FX", "24/7", "XNYS", "CME"]


def test_alias_follows_its_calendar():
    nasdaq = trading_sessions("XNAS")
    assert nasdaq.name == "XNAS"
    assert nasdaq.is_open(ms("2026-11-24T14:30:00Z"))
    assert not nasdaq.is_open(ms("2026-11-26T15:00:00Z"))


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize("cal", ["XNYS", "CMES", FX])
@pytest.mark.parametrize("iso", ["1999-06-01T15:00:00Z", "2036-06-02T15:00:00Z"])
def test_outside_the_range_is_closed(cal: str, iso: str):
    sessions = trading_sessions(cal)
    at = ms(iso)
    assert not sessions.is_open(at)
    assert sessions.next_open_ms(at) is None
    assert sessions.close_ms(at) is None
    assert "outside the calendar's range" in sessions.describe(at)


def test_range_is_fixed():
    lo, hi = trading_sessions("XNYS").bounds_ms
    assert lo == ms("2000-01-03T14:30:00Z")  # first session on or after 2000-01-01
    assert hi == ms("2035-12-31T21:00:00Z")  # last session on or before 2035-12-31
    assert trading_sessions("XNYS").next_open_ms(ms("2035-12-31T20:00:00Z")) == ms(
        "2035-12-31T20:00:00Z")


# --- open intervals (what a resting order's scan walks) --------------------------------


@pytest.mark.parametrize("cal", ["XNYS", "XTKS", FX, "CMES", ALWAYS_OPEN])
def test_open_intervals_are_exactly_the_open_instants_of_a_span(cal):
    sessions = trading_sessions(cal)
    start, end = ms("2026-11-20T10:00:00.500Z"), ms("2026-12-01T10:00:00Z")  # Thanksgiving week and two weekends
    intervals = sessions.open_intervals(start, end)
    assert intervals and all(start <= lo < hi <= end for lo, hi in intervals)
    assert all(a[1] < b[0] for a, b in zip(intervals, intervals[1:]))  # sorted, apart (abutting ones merged)
    for t in range(start, end, 7 * 60_000 + 1):  # a probe every 7 minutes and change
        inside = any(lo <= t < hi for lo, hi in intervals)
        assert inside == sessions.is_open(t), (cal, t)
    for lo, hi in intervals:  # the clipped edges are where the sessions open and close
        assert sessions.is_open(lo) and sessions.is_open(hi - 1)
        assert lo == start or not sessions.is_open(lo - 1)
        assert hi == end or not sessions.is_open(hi)


def test_open_intervals_of_an_empty_or_closed_span():
    xnys = trading_sessions("XNYS")
    assert xnys.open_intervals(ms("2026-11-28T12:00:00Z"), ms("2026-11-29T12:00:00Z")) == []  # a weekend
    assert xnys.open_intervals(ms("2026-11-24T15:00:00Z"), ms("2026-11-24T15:00:00Z")) == []
    assert trading_sessions(ALWAYS_OPEN).open_intervals(5, 5) == []
