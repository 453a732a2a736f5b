"""CME Globex hours: the sessions of the CMES calendar (and its aliases CME, CBOT, NYMEX, COMEX).

Runs in the pool's worker processes, called by worker.sessions when it first builds
CMES; pure (dates and zoneinfo in, sorted int lists out). Owns the Globex rules,
modelled on CME's published hours for equity index futures (ES, NQ) and applied to
every instrument on the calendar:

    session        trade date D runs from 17:00 Chicago on the calendar day before D
                   to 16:00 Chicago on D; its close (where DAY orders end) is that
                   16:00. The hour 16:00-17:00 is the daily maintenance halt; Friday
                   16:00 to Sunday 17:00 is the weekend. America/Chicago via
                   zoneinfo, so both ends follow daylight saving time.
    trade dates    exchange_calendars' CMES sessions: every weekday except New
                   Year's Day, Good Friday, Christmas and the national days of
                   mourning it lists (closed all day; trading resumes at 17:00
                   Chicago on the holiday for the next trade date).
    US holidays    a trade date on which the New York Stock Exchange is closed (MLK
                   Day, Presidents Day, Memorial Day, Juneteenth, Independence Day,
                   Labor Day, Thanksgiving, and NYSE's unscheduled closures) halts at
                   12:00 Chicago; Globex reopens at 17:00 for the next trade date.
    early closes   a trade date on which NYSE closes early (the day after
                   Thanksgiving, Christmas Eve, 3 July: 13:00 New York) closes 15
                   minutes after NYSE, 12:15 Chicago.

Not modelled: Globex's earlier schedules (until 2021 equity futures closed at 16:15 with
a 15:15-15:30 pause, and holidays halted at 10:30 in some years; today's hours apply to
the whole range), the abbreviated session Globex sometimes holds on Good Friday when the
US jobs report falls on it, short sessions on days of mourning, and the holiday hours of
products other than equity index futures (energy, metals and grains sometimes halt
later or stay closed).
"""

from __future__ import annotations

import statistics
from collections.abc import Container, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CHICAGO = ZoneInfo("America/Chicago")
GLOBEX_OPEN = time(17)  # on the calendar day before the trade date
GLOBEX_CLOSE = time(16)
HOLIDAY_HALT = time(12)
AFTER_CASH_EARLY_CLOSE_MS = 15 * 60_000


def globex_sessions(trade_dates: Iterable[date], cash_dates: Container[date],
                    cash_early_closes_ms: Mapping[date, int]) -> tuple[list[int], list[int], list[int], float]:
    """(opens, ends, closes, typical trading seconds) of the Globex trade dates, in epoch ms.

    trade_dates: CME's trade dates in order; cash_dates: NYSE's; cash_early_closes_ms: NYSE's
    close on its early-close days. No session has a break, so ends and closes are one list."""
    opens: list[int] = []
    closes: list[int] = []
    for day in trade_dates:
        opens.append(_chicago_ms(day - timedelta(days=1), GLOBEX_OPEN))
        if day not in cash_dates:
            closes.append(_chicago_ms(day, HOLIDAY_HALT))
        elif day in cash_early_closes_ms:
            closes.append(cash_early_closes_ms[day] + AFTER_CASH_EARLY_CLOSE_MS)
        else:
            closes.append(_chicago_ms(day, GLOBEX_CLOSE))
    typical = float(statistics.median((c - o) / 1000 for o, c in zip(opens, closes, strict=True))) if opens else 0.0
    return opens, closes, closes, typical


def _chicago_ms(day: date, at: time) -> int:
    return int(datetime.combine(day, at, CHICAGO).timestamp()) * 1000
