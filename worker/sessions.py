"""Trading sessions: is an instrument's market open at a given instant?

Runs in the pool's worker processes; the simulator builds every calendar the
instruments file names at worker boot (the file's loader has already checked
the names), then asks is_open / next_open_ms per order. Owns the calendar
rules and the per-process cache of precomputed sessions. Instants are epoch
milliseconds (UTC); a session is the half-open interval [open, close).

Calendars (names are case-insensitive):

    "24/7"   always open, at every instant, with no range limit (crypto).
    "FX"     spot FX 24/5: one session per trading day from 17:00 to 17:00
             America/New_York (DST-aware via zoneinfo), Sunday 17:00 to
             Friday 17:00, every week; the trading days 25 December and
             1 January have no session (closed from 17:00 the evening before
             to 17:00 on the day), when they fall on a weekday.
    "CMES"   CME Globex, with its aliases CME, CBOT, NYMEX and COMEX: 17:00
             Chicago the evening before to 16:00 Chicago, the daily maintenance
             hour closed, holiday halts and early closes (worker.cme_hours).
    other    any exchange_calendars name or alias (XNYS, NASDAQ, XTKS, ...):
             its sessions with holidays and early closes. A session with a
             break (XTKS, XHKG lunch) is closed during the break.

Bounds: sessions are built for trading days 2000-01-01 .. 2035-12-31, narrowed
to what the calendar can evaluate (exchange_calendars' bound_min/bound_max,
e.g. XBOM's holidays stop at 2026). The bounds are fixed, never derived from
today, so a replay gives the same answers later (for the same versions of
exchange_calendars and the tz database). The range covered is [first open,
last close); an instant outside it is closed, next_open_ms and close_ms give
None, and describe() says "outside the calendar's range".

close_ms is the close of the session (the trading-day boundary, where DAY
orders end), not the next instant the market is closed: for FX the next
session opens at that same instant, and in a session with a break the market
pauses before it. For 24/7 it is sys.maxsize.

Why precomputed lists: is_open is on the hot path (thousands of calls per
second per worker). Each calendar is built once per process, lazily, into
plain int lists searched with bisect; pandas is only touched while building,
and exchange_calendars (with pandas, ~0.3 s) is imported only when an exchange
calendar is first asked for, so FX-only or 24/7-only workers never load it.
"""

from __future__ import annotations

import bisect
import statistics
import sys
import warnings
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import import_module
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

# FX and 24/7 are the two calendars that are ours, not an exchange's.
from common.instruments import ALWAYS_OPEN, FX, exchange_calendar_names
from worker.cme_hours import globex_sessions

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2035, 12, 31)

_NEW_YORK = ZoneInfo("America/New_York")
_FX_ROLL = time(17)
# (month, day) of the trading days spot FX does not trade: interbank liquidity is gone.
_FX_HOLIDAYS = ((12, 25), (1, 1))
_GLOBEX = "CMES"
_US_CASH = "XNYS"
_DAY_S = 86400.0


class UnknownCalendar(ValueError):
    """The calendar name is not one we know, or exchange_calendars cannot build it."""


class TradingSessions:
    """Sessions of one calendar as sorted int lists; answers by bisect."""

    def __init__(self, name: str, opens: list[int], ends: list[int], closes: list[int],
                 typical_session_s: float) -> None:
        # One entry per trading interval: a session with a break gives two, both
        # carrying the session's close. Sorted and non-overlapping.
        self.name = name
        self.typical_session_s = typical_session_s
        self._opens = opens
        self._ends = ends
        self._closes = closes
        self.bounds_ms: tuple[int, int] | None = (opens[0], ends[-1]) if opens else None

    def __repr__(self) -> str:
        return f"TradingSessions({self.name!r})"

    def is_open(self, at_ms: int) -> bool:
        i = bisect.bisect_right(self._opens, at_ms) - 1
        return i >= 0 and at_ms < self._ends[i]

    def next_open_ms(self, at_ms: int) -> int | None:
        """at_ms when open, else the next session's open; None outside the range."""
        if self._outside(at_ms):
            return None
        i = bisect.bisect_right(self._opens, at_ms) - 1
        if at_ms < self._ends[i]:
            return at_ms
        # Inside the range and closed, so a later interval exists: the last one
        # ends where the range does.
        return self._opens[i + 1]

    def close_ms(self, at_ms: int) -> int | None:
        """The close of the session trading at at_ms; None when closed."""
        i = bisect.bisect_right(self._opens, at_ms) - 1
        if i >= 0 and at_ms < self._ends[i]:
            return self._closes[i]
        return None

    def open_intervals(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """The stretches of trading time in [start_ms, end_ms), in order: back-to-back
        sessions merged, a break splitting one; empty outside the calendar's range."""
        opens, ends = self._opens, self._ends
        intervals: list[tuple[int, int]] = []
        i = max(bisect.bisect_right(opens, start_ms) - 1, 0)
        while i < len(opens) and opens[i] < end_ms:
            lo, hi = max(opens[i], start_ms), min(ends[i], end_ms)
            if intervals and intervals[-1][1] == lo:  # back-to-back sessions (FX, CME): one stretch
                intervals[-1] = (intervals[-1][0], hi)
            elif lo < hi:
                intervals.append((lo, hi))
            i += 1
        return intervals

    def describe(self, at_ms: int) -> str:
        """A short reason for logs and rejections."""
        if self._outside(at_ms):
            lo, hi = self.bounds_ms or (0, 0)
            return f"{self.name}: outside the calendar's range [{lo}, {hi}) ms"
        if self.is_open(at_ms):
            return f"{self.name}: open"
        i = bisect.bisect_right(self._opens, at_ms) - 1
        if i >= 0 and at_ms < self._closes[i]:
            return f"{self.name}: closed (break)"
        return f"{self.name}: closed"

    def spans(self) -> tuple[list[int], list[int], list[int]]:
        """Every trading interval's open, end and session close, sorted (empty for 24/7)."""
        return self._opens, self._ends, self._closes

    def _outside(self, at_ms: int) -> bool:
        return self.bounds_ms is None or not self.bounds_ms[0] <= at_ms < self.bounds_ms[1]


class _AlwaysOpen(TradingSessions):
    def __init__(self) -> None:
        super().__init__(ALWAYS_OPEN, [], [], [], _DAY_S)

    def is_open(self, at_ms: int) -> bool:
        return True

    def next_open_ms(self, at_ms: int) -> int | None:
        return at_ms

    def close_ms(self, at_ms: int) -> int | None:
        return sys.maxsize

    def open_intervals(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        return [(start_ms, end_ms)] if start_ms < end_ms else []

    def describe(self, at_ms: int) -> str:
        return f"{self.name}: open"


_BY_NAME: dict[str, TradingSessions] = {}


def trading_sessions(name: str) -> TradingSessions:
    """The sessions of calendar `name`, built on first use and kept for the process."""
    key = name.upper()
    found = _BY_NAME.get(key)
    if found is None:
        if key == ALWAYS_OPEN:
            found = _AlwaysOpen()
        elif key == FX:
            found = TradingSessions(FX, *_fx_lists(), _DAY_S)
        else:
            canonical = _canonical(name, key)
            lists = _globex_lists() if canonical == _GLOBEX else _exchange_lists(canonical)
            found = TradingSessions(key, *lists)
        _BY_NAME[key] = found
    return found


def _fx_lists() -> tuple[list[int], list[int], list[int]]:
    # Each trading day Mon..Fri opens at 17:00 New York the evening before; the
    # DST switches fall on Sunday 02:00, inside the weekend, so every session is 24h.
    opens: list[int] = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        if day.weekday() < 5 and (day.month, day.day) not in _FX_HOLIDAYS:
            eve = datetime.combine(day - timedelta(days=1), _FX_ROLL, _NEW_YORK)
            opens.append(int(eve.timestamp()) * 1000)
        day += timedelta(days=1)
    closes = [o + 86_400_000 for o in opens]
    return opens, closes, closes


def _exchange_calendars() -> ModuleType:
    """exchange_calendars (with pandas, ~0.3 s), imported on first use. It ships no type
    information: its values are Any, and are given their types where they enter ours."""
    return import_module("exchange_calendars")


def _canonical(name: str, key: str) -> str:
    xc = _exchange_calendars()
    known = exchange_calendar_names().get(key)
    if known is None:
        raise UnknownCalendar(
            f"unknown trading calendar {name!r}: expected {FX!r}, {ALWAYS_OPEN!r} or an "
            f"exchange_calendars name such as 'XNYS' or 'CMES'")
    canonical: str = xc.resolve_alias(known)
    return canonical


@cache
def _globex_lists() -> tuple[list[int], list[int], list[int], float]:
    # CME's trade dates, with the US cash market's holidays and early closes that set
    # Globex's holiday hours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cme = _build_calendar(_GLOBEX)
        cash = _build_calendar(_US_CASH)
        trade_dates = [session.date() for session in cme.sessions]
        cash_dates = {session.date() for session in cash.sessions}
        early = cash.early_closes
        early_closes = dict(zip((session.date() for session in early), _ms(cash.closes[early]), strict=True))
    return globex_sessions(trade_dates, cash_dates, early_closes)


@cache
def _exchange_lists(canonical: str) -> tuple[list[int], list[int], list[int], float]:
    # Cached per canonical name so aliases (XNAS, NYSE -> XNYS) share one build.
    with warnings.catch_warnings():
        # exchange_calendars triggers pandas deprecation warnings we cannot act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        cal = _build_calendar(canonical)
        opens = _ms(cal.opens)
        closes = _ms(cal.closes)
        has_break = cal.break_starts.notna().tolist()
        break_starts = _ms(cal.break_starts.fillna(cal.closes))
        break_ends = _ms(cal.break_ends.fillna(cal.closes))
    o_list: list[int] = []
    e_list: list[int] = []
    c_list: list[int] = []
    trading_s: list[float] = []
    for o, c, brk, bs, be in zip(opens, closes, has_break, break_starts, break_ends, strict=True):
        if brk:
            o_list += [o, be]
            e_list += [bs, c]
            c_list += [c, c]
            trading_s.append((c - o - (be - bs)) / 1000)
        else:
            o_list.append(o)
            e_list.append(c)
            c_list.append(c)
            trading_s.append((c - o) / 1000)
    typical = float(statistics.median(trading_s)) if trading_s else 0.0
    return o_list, e_list, c_list, typical


@cache
def _build_calendar(canonical: str) -> Any:
    """An exchange_calendars.ExchangeCalendar over our fixed range (or the calendar's own bounds),
    built once per process (CMES's holiday hours read XNYS's, which equities read too)."""
    xc = _exchange_calendars()

    # exchange_calendars' default range follows today's date; ours must not.
    try:
        return xc.get_calendar(canonical, start=FIRST_DAY.isoformat(), end=LAST_DAY.isoformat())
    except Exception as first_error:  # noqa: BLE001 - library errors translated here
        # Some calendars cannot be evaluated over the whole range (AIXK from 2017,
        # XBOM holidays until 2026): narrow to their own fixed bounds, which only
        # the class knows, so build the default instance once to reach it.
        try:
            cls = type(xc.get_calendar(canonical))
            lo, hi = cls.bound_min(), cls.bound_max()
            start = max(FIRST_DAY, lo.date()) if lo is not None else FIRST_DAY
            end = min(LAST_DAY, hi.date()) if hi is not None else LAST_DAY
            return cls(start=start.isoformat(), end=end.isoformat())
        except Exception:  # noqa: BLE001
            raise UnknownCalendar(
                f"trading calendar {canonical!r} cannot be built by exchange_calendars "
                f"{xc.__version__}: {type(first_error).__name__}: {first_error}"
            ) from first_error


def _ms(series: Any) -> list[int]:
    """Epoch milliseconds of a pandas Series of UTC timestamps."""
    values: list[int] = series.dt.as_unit("ms").astype("int64").tolist()
    return values
