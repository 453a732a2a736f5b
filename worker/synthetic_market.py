"""The synthetic market view: the seeded price path and the trading calendars behind MarketView.

Runs in the pool's worker processes (one per worker, built by the simulator).
Owns the joining of worker.market (quotes and crossings, a pure function of
seed, instrument and time step) with worker.sessions (when each calendar
trades). With SIMULATION_MARKET_SESSIONS=off every instrument trades at every
instant (the 24/7 calendar), whatever its calendar says; the per-step volume
still follows the calendar (prices move in each calendar's trading time).
"""

from __future__ import annotations

from collections.abc import Callable

from common.instruments import ALWAYS_OPEN, Instrument, InstrumentBook
from worker.events import iso_ms
from worker.market import STEP_MS, Market, Quote
from worker.sessions import TradingSessions, trading_sessions


class SyntheticMarket:
    """MarketView over a seeded Market and the instruments' calendars."""

    def __init__(self, seed: bytes, book: InstrumentBook, sessions_on: bool,
                 calendars: Callable[[str], TradingSessions] = trading_sessions,
                 unlisted_cache_bytes: int = 32 * 1024 * 1024) -> None:
        # Built at boot, not on the first intents: a calendar takes ~0.1 s to build, and the
        # price paths run on the calendars' trading clocks even with sessions off.
        for calendar in sorted(book.calendars):
            calendars(calendar)
        self.market = Market(seed, book, calendars, unlisted_cache_bytes)
        for symbol in sorted(book.listed):  # their trading clocks and volatility regimes (~0.3 s)
            self.market.path(symbol)
        self._reference_ms = book.reference_ms
        self._calendars = calendars
        self._always_open = calendars(ALWAYS_OPEN)
        self._sessions_on = sessions_on

    @property
    def synthetic_market(self) -> Market:
        return self.market

    def missing(self, instrument: str, at_ms: int) -> str | None:
        """The synthetic path prices every instant: never without a market."""
        return None

    def pricing_instant(self, instrument: str, at_ms: int) -> int:
        return at_ms

    def triggered_quote(self, instrument: str, at_ms: int, seen: Quote) -> Quote:
        """A step's quote is the market's: a triggered order executes against the quote that triggered it."""
        return seen

    def sessions(self, instrument: str) -> TradingSessions:
        """The calendar the instrument trades by (always open with sessions off)."""
        if not self._sessions_on:
            return self._always_open
        return self._calendars(self.market.instrument(instrument).calendar)

    def instrument(self, instrument: str) -> Instrument:
        return self.market.instrument(instrument)

    def decimals(self, instrument: str) -> int:
        return self.market.decimals(instrument)

    def quote(self, instrument: str, at_ms: int) -> Quote:
        return self.market.quote(instrument, at_ms)

    def next_instant_after(self, instrument: str, at_ms: int) -> int:
        # Quotes are constant within a step: the next one starts at the next step.
        return at_ms - (at_ms - self._reference_ms) % STEP_MS + STEP_MS

    def first_crossing(self, instrument: str, start_ms: int, end_ms: int, level: float, above: bool,
                       side: str = "mid") -> int | None:
        if start_ms >= end_ms:
            return None
        intervals = self.sessions(instrument).open_intervals(start_ms, end_ms)
        return self.market.first_crossing(instrument, start_ms, end_ms, level, above, intervals, side)

    def is_open(self, instrument: str, at_ms: int) -> bool:
        return self.sessions(instrument).is_open(at_ms)

    def next_open(self, instrument: str, at_ms: int) -> int | None:
        return self.sessions(instrument).next_open_ms(at_ms)

    def first_open_between(self, instrument: str, start_ms: int, end_ms: int) -> int | None:
        if start_ms >= end_ms:
            return None
        intervals = self.sessions(instrument).open_intervals(start_ms, end_ms)
        return intervals[0][0] if intervals else None

    def session_close(self, instrument: str, at_ms: int) -> int | None:
        return self.sessions(instrument).close_ms(at_ms)

    def closed_reason(self, instrument: str, at_ms: int) -> str:
        sessions = self.sessions(instrument)
        opens = sessions.next_open_ms(at_ms)
        if opens is None:  # past the calendar's precomputed range
            return f"market_closed at {iso_ms(at_ms)}: {sessions.describe(at_ms)}"
        return f"market_closed: {sessions.name} is closed at {iso_ms(at_ms)}; next open {iso_ms(opens)}"
