"""Samples of the synthetic market's price process for its statistical tests: log mids at the
closes and opens of trading days, on regular grids, and at sparse instants over many seeds.

Runs in the test process only (tests/unit/worker/test_price_process_statistics.py). Reads the
market through its public face alone (SyntheticMarket.quote and .sessions over the shipped
instruments file), so the tests hold whatever builds the price. A quote in a region no quote has
touched costs about half a millisecond: the series several tests share (twenty years of closes)
are cached for the process, and the long-horizon samples quote only the instants they need.

A trading day ends at its session's last step (close - STEP_MS) for an exchange calendar and at
UTC midnight for 24/7, the calendar whose trading days are UTC days.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

import numpy as np

from common.instruments import ALWAYS_OPEN, load_instruments
from worker.market import STEP_MS
from worker.synthetic_market import SyntheticMarket

BOOK = load_instruments()
SEED = b"price-process-statistics"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
NYSE = "AAPL"  # the instrument whose calendar (XNYS) gives the US equity trading days


def epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


def years_to_reference(years: int) -> tuple[int, int]:
    return BOOK.reference_ms - round(years * 365.25 * DAY_MS), BOOK.reference_ms


# Twenty years of trading days up to the reference time; the many-seed samples span what every
# calendar covers (worker.sessions builds 2000..2035).
TWENTY_YEARS = years_to_reference(20)
CALENDAR_SPAN = (epoch_ms("2001-01-02"), epoch_ms("2034-12-31"))


def seeds(count: int) -> tuple[bytes, ...]:
    """`count` fixed seeds, the first of them SEED."""
    return (SEED,) + tuple(SEED + b"/" + str(i).encode() for i in range(1, count))


@cache
def market(seed: bytes = SEED) -> SyntheticMarket:
    return SyntheticMarket(seed, BOOK, sessions_on=True)


def log_mids(instrument: str, instants: Sequence[int], seed: bytes = SEED) -> np.ndarray:
    view = market(seed)
    return np.log(np.array([view.quote(instrument, t).mid for t in instants]))


def volumes(instrument: str, instants: Sequence[int], seed: bytes = SEED) -> np.ndarray:
    view = market(seed)
    return np.array([view.quote(instrument, t).volume for t in instants])


@cache
def sessions(instrument: str, start_ms: int, end_ms: int) -> tuple[tuple[int, int], ...]:
    """(open, close) of each session of the instrument's exchange calendar in [start_ms, end_ms).

    Only for calendars whose sessions do not touch (XNYS): open_intervals merges touching ones."""
    return tuple(market().sessions(instrument).open_intervals(start_ms, end_ms))


@cache
def trading_day_ends(instrument: str, start_ms: int, end_ms: int) -> tuple[int, ...]:
    """The instant each trading day of the instrument ends, in [start_ms, end_ms) (24/7, or a
    calendar whose sessions do not touch, as for sessions())."""
    if BOOK.get(instrument).calendar.upper() == ALWAYS_OPEN:
        first = -(-start_ms // DAY_MS) * DAY_MS
        return tuple(range(first, end_ms, DAY_MS))
    return tuple(close - STEP_MS for _, close in sessions(instrument, start_ms, end_ms))


# -- the shared series (seed SEED) ------------------------------------------------------------


@cache
def nyse_closes(instrument: str, years: int = 20) -> np.ndarray:
    """Log mids of `instrument` (of any calendar) at every NYSE close of the last `years` years;
    NYSE's own from its twenty-year series."""
    if instrument == NYSE and years < 20:
        return nyse_closes(NYSE)[-len(trading_day_ends(NYSE, *years_to_reference(years))):]
    return log_mids(instrument, trading_day_ends(NYSE, *years_to_reference(years)))


@cache
def nyse_opens(instrument: str, years: int) -> np.ndarray:
    """Log mids at every NYSE open of the last `years` years (the first step of each session)."""
    return log_mids(instrument, [opens for opens, _ in sessions(NYSE, *years_to_reference(years))])


@cache
def daily_returns(instrument: str) -> np.ndarray:
    """Close-to-close log returns over the twenty years: of UTC days for a 24/7 instrument, of
    NYSE trading days for any other."""
    if BOOK.get(instrument).calendar.upper() == ALWAYS_OPEN:
        return np.diff(log_mids(instrument, trading_day_ends(instrument, *TWENTY_YEARS)))
    return np.diff(nyse_closes(instrument))


@cache
def grid_returns(instrument: str, start_ms: int, step_ms: int, count: int) -> np.ndarray:
    """`count` log returns over consecutive `step_ms` from start_ms."""
    return np.diff(log_mids(instrument, range(start_ms, start_ms + (count + 1) * step_ms, step_ms)))


# -- long horizons over many seeds ------------------------------------------------------------


def summed_returns(returns: np.ndarray, periods: int) -> np.ndarray:
    """Returns over consecutive non-overlapping windows of `periods` of the given returns."""
    usable = len(returns) // periods * periods
    return returns[:usable].reshape(-1, periods).sum(axis=1)


def horizon_returns(instrument: str, days: int, seed_count: int,
                    span: tuple[int, int] = CALENDAR_SPAN) -> np.ndarray:
    """Log returns over consecutive non-overlapping windows of `days` trading days, from
    `seed_count` seeds (independent paths), pooled."""
    ends = trading_day_ends(instrument, *span)[::days]
    return np.concatenate([np.diff(log_mids(instrument, ends, seed)) for seed in seeds(seed_count)])


def yearly_returns(instrument: str, seed_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Log returns from the last trading day ending at or before each anniversary (365 days apart)
    to the next, pooled over `seed_count` seeds; and the trading days each spans."""
    ends = trading_day_ends(instrument, *CALENDAR_SPAN)
    anniversaries = range(CALENDAR_SPAN[0] + DAY_MS, CALENDAR_SPAN[1], 365 * DAY_MS)
    index = [bisect.bisect_right(ends, at) - 1 for at in anniversaries]
    days = np.diff(index)
    instants = [ends[i] for i in index]
    returns = [np.diff(log_mids(instrument, instants, seed)) for seed in seeds(seed_count)]
    return np.concatenate(returns), np.tile(days, seed_count)
