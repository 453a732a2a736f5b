"""The market view: the few questions the execution rules ask the market, and nothing else.

Runs in the pool's worker processes; the execution pipeline (worker.simulator) holds one.
Owns the interface between the rules and a source of market data. The first
source is synthetic (worker.synthetic_market: the seeded price path and the
trading calendars); a recorded quote feed or the bus implements the same
Protocol. Instants are epoch milliseconds of market time; a source answers only
from what it holds at or before the instant asked about (no look-ahead), and two
holders of the same data answer alike.

Nothing here assumes a grid of steps: a source whose quotes change at arbitrary
instants answers next_instant_after with the next quote's time.
"""

from __future__ import annotations

from typing import Protocol

from common.instruments import Instrument
from worker.market import Quote


class MarketView(Protocol):
    def instrument(self, instrument: str) -> Instrument:
        """The instrument's reference data (calendar, tick, lot, volatility, average daily volume)."""
        ...

    def decimals(self, instrument: str) -> int:
        """Decimals the instrument's quoted mids (and so its fill prices) are rounded to."""
        ...

    def quote(self, instrument: str, at_ms: int) -> Quote:
        """The quote in force at `at_ms`: bid and ask on the tick grid, their sizes, mid, volume."""
        ...

    def next_instant_after(self, instrument: str, at_ms: int) -> int:
        """The first instant after `at_ms` whose quote may differ from the one at `at_ms`."""
        ...

    def first_crossing(self, instrument: str, start_ms: int, end_ms: int, level: float, above: bool,
                       side: str = "mid") -> int | None:
        """The first trading instant in [start_ms, end_ms) whose quoted `side` ("bid", "ask" or "mid")
        is >= level (above) or <= level (not above); None when there is none."""
        ...

    def triggered_quote(self, instrument: str, at_ms: int, seen: Quote) -> Quote:
        """The quote an order whose stop `seen` (the quote at `at_ms`) reached executes against: `seen`,
        unless the source's quotes are summaries whose extremes printed before their instant
        (recorded bars)."""
        ...

    def missing(self, instrument: str, at_ms: int) -> str | None:
        """Why there is no market data for the instrument at `at_ms` (a rejection's reason), or None."""
        ...

    def pricing_instant(self, instrument: str, at_ms: int) -> int:
        """The instant an order arriving at `at_ms` is priced at (later only for recorded bars)."""
        ...

    def is_open(self, instrument: str, at_ms: int) -> bool:
        """The instrument's market trades at `at_ms`."""
        ...

    def next_open(self, instrument: str, at_ms: int) -> int | None:
        """`at_ms` when open, else the next open; None when no session is known to come."""
        ...

    def first_open_between(self, instrument: str, start_ms: int, end_ms: int) -> int | None:
        """The first trading instant in [start_ms, end_ms), None when there is none."""
        ...

    def session_close(self, instrument: str, at_ms: int) -> int | None:
        """The close of the session trading at `at_ms` (where a DAY order ends); None when closed."""
        ...

    def closed_reason(self, instrument: str, at_ms: int) -> str:
        """Why the market is closed at `at_ms`, for a rejection's reason."""
        ...
