"""Reference market data: a quote as a pure function of (seed, instrument, time step).

Runs in the pool's worker processes (built once per worker by the simulator).
Owns the public face of the market: Quote, and Market, which quotes any
instrument at any instant in epoch milliseconds, finds the first instant a
resting order's price is crossed within given trading intervals, keeps one
price path per instrument (and the caches they share) and the per-step quote
cache; and price_band and tick_decimals. Nothing here is a mutable walk that
one worker holds: every worker of every instance that shares the seed computes
the same quote for the same instrument at the same instant, and a replay
computes it again.

How the price is made, the path's two-stage (node tree, then 1,024-step blocks)
construction and the block size are in worker/price_path.py (PricePath, one
per instrument), the crossing scan in worker/crossing_search.py. In short, per instrument, in steps of
STEP_MS from the instruments file's reference_time, the log mid moves like a
geometric Brownian motion with the instrument's daily_volatility over spans
shorter than PRICE_MEMORY_DAYS and stays within `price_band` of
reference_price over longer ones.

Quote at a step: the spread is spread_bps of the mid, at least one tick;
bid = mid - spread / 2 rounded down to the tick, ask = bid + spread in whole
ticks, and the quoted mid is their average (so it can sit on a half tick).
Volume: what trades in a step, quote.volume = adv / typical_session_s *
(0.5 + v) (v uniform from the step's block stream; typical_session_s from the
calendar: 23,400 s for a NYSE day, 86,400 s for 24/7), in whole lots, at least
one lot. The touch: bid_size = ask_size = touch_depth * quote.volume / the
step's average volume (adv / typical_session_s), in whole lots, at least one
lot, so the book is deeper when more trades (worker/models/book.py builds the
levels beyond it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from common.instruments import Instrument, InstrumentBook
from worker.crossing_search import first_crossing
from worker.price_path import (
    BLOCK,
    MAX_BLOCKS,
    MAX_RANGES,
    PRICE_MEMORY_DAYS,
    SECONDS_PER_DAY,
    BlockCache,
    FifoCache,
    PricePath,
    RangeCache,
)

# The path's constants other modules read from here (BLOCK, PRICE_MEMORY_DAYS) are re-exported.
__all__ = ["BLOCK", "MAX_DECIMALS", "PRICE_MEMORY_DAYS", "SECONDS_PER_DAY", "STEP_MS", "Market", "Quote",
           "price_band", "tick_decimals"]

STEP_MS = 1000
MAX_DECIMALS = 12
_MAX_QUOTES = 50_000


def price_band(instrument: Instrument) -> float:
    """Standard deviation of the log mid around log reference_price (over long spans)."""
    return instrument.daily_volatility * math.sqrt(PRICE_MEMORY_DAYS / 2)


def tick_decimals(tick: float) -> int:
    """Decimals needed to write multiples of `tick` exactly (0.25 -> 2, 0.00001 -> 5)."""
    for d in range(MAX_DECIMALS + 1):
        if abs(round(tick, d) - tick) <= tick * 1e-9:
            return d
    return MAX_DECIMALS


@dataclass(frozen=True, slots=True)
class Quote:
    bid: float
    ask: float
    mid: float
    volume: float  # what trades in this step (whole lots)
    # Units shown at the best bid and the best ask (whole lots, at least one; worker/models/book.py
    # builds the levels beyond). 0 only in a quote made by hand without a book.
    bid_size: float = 0.0
    ask_size: float = 0.0


def touch_size(touch_depth: float, volume: float, average_volume: float, lot: float) -> float:
    """Units at the touch: touch_depth scaled by the step's volume against its average, whole lots."""
    lots = math.floor(touch_depth * (volume / average_volume) / lot + 1e-9) if average_volume > 0 else 0
    return round(max(lots, 1) * lot, 8)


class Market:
    """Quotes for any instrument at any instant, identical for every holder of the seed."""

    def __init__(self, seed: bytes, book: InstrumentBook, session_seconds: Callable[[str], float] | None = None) -> None:
        self._seed = bytes(seed)
        self._book = book
        # calendar name -> typical seconds of trading a day (for per-step volume)
        self._session_seconds = session_seconds or (lambda calendar: SECONDS_PER_DAY)
        self._paths: dict[str, PricePath] = {}
        self._by_symbol: dict[str, PricePath] = {}
        self._quotes: dict[tuple[str, int], Quote] = {}
        # Shared by the instruments' paths (see worker/price_path.py).
        self._blocks: BlockCache = FifoCache(MAX_BLOCKS)
        self._ranges: RangeCache = FifoCache(MAX_RANGES)

    def path(self, instrument: str) -> PricePath:
        """The instrument's price path (worker.price_path), built on first use."""
        path = self._paths.get(instrument)
        if path is None:
            info = self._book.get(instrument)
            # Spellings of one instrument share one path object (and its caches).
            path = self._by_symbol.get(info.symbol) or self._new_path(info)
            if len(self._paths) < 100_000:  # instruments are client-chosen: bound the caches
                self._paths[instrument] = path
                self._by_symbol[info.symbol] = path
        return path

    def _new_path(self, info: Instrument) -> PricePath:
        per_step = info.adv / self._session_seconds(info.calendar) * (STEP_MS / 1000)
        decimals = tick_decimals(info.tick_size)
        # A mid between two ticks needs one more decimal.
        mid_decimals = min(decimals + 1, MAX_DECIMALS)
        return PricePath(self._seed, info, per_step, decimals, mid_decimals, self._blocks, self._ranges)

    def instrument(self, instrument: str) -> Instrument:
        return self.path(instrument).instrument

    def decimals(self, instrument: str) -> int:
        """Decimals this instrument's quoted mids are rounded to (fill prices use the same)."""
        return self.path(instrument).mid_decimals

    def quote(self, instrument: str, at_ms: int) -> Quote:
        """The quote at epoch milliseconds `at_ms`; constant within each step."""
        step = (at_ms - self._book.reference_ms) // STEP_MS
        cache_key = (instrument, step)
        q = self._quotes.get(cache_key)
        if q is None:
            if len(self._quotes) > _MAX_QUOTES:
                self._quotes.clear()
            path = self.path(instrument)
            bid, ask, mid, volume = path.quote(step)
            info = path.instrument
            size = touch_size(info.touch_depth, volume, path.per_step, info.lot_size)
            q = self._quotes[cache_key] = Quote(bid=bid, ask=ask, mid=mid, volume=volume, bid_size=size, ask_size=size)
        return q

    def first_crossing(self, instrument: str, start_ms: int, end_ms: int, level: float, above: bool,
                       open_intervals: Iterable[tuple[int, int]] | None = None, side: str = "mid") -> int | None:
        """The earliest instant t in [start_ms, end_ms), inside an open interval if any are given,
        at which quote(instrument, t)'s `side` ("bid", "ask" or "mid") is >= level (above) or
        <= level (not above); None if none.

        open_intervals: half-open [open_ms, close_ms) trading intervals, in any order
        (the caller's sessions over the horizon); None means always open. The answer
        is the later of the crossing step's start, the interval's open and start_ms.
        """
        path = self.path(instrument)
        reference = self._book.reference_ms
        spans = [(start_ms, end_ms)] if open_intervals is None else sorted(open_intervals)
        for opens, closes in spans:
            lo, hi = max(opens, start_ms), min(closes, end_ms)
            if lo >= hi:
                continue
            step = first_crossing(path, (lo - reference) // STEP_MS, (hi - 1 - reference) // STEP_MS, level, above,
                                  side)
            if step is not None:
                return max(lo, reference + step * STEP_MS)
        return None
