"""Reference market data: a quote as a pure function of (seed, instrument, time step).

Runs in the pool's worker processes (built once per worker by the simulator).
Owns the public face of the market: Quote, and Market, which quotes any
instrument at any instant in epoch milliseconds, finds the first instant a
resting order's price is crossed within given trading intervals, and keeps what
the instruments' price paths share: the volatility regime and Brownian path of
each factor, a trading clock per calendar and profile, the block and range
caches and the per-step quote cache; and tick_decimals. Nothing here is a
mutable walk that one worker holds: every worker of every instance that shares
the seed computes the same quote for the same instrument at the same instant,
and a replay computes it again.

How the price moves and how a step is quoted: worker/price_path.py; the trading
time it moves in: worker/trading_clock.py and worker/volatility_regime.py; the
seekable Brownian paths: worker/brownian_path.py; the crossing scan:
worker/crossing_search.py.

The touch: bid_size = ask_size = touch_depth * quote.volume / the step's average
volume (adv / the calendar's typical session seconds), in whole lots, at least
one lot, so the book is deeper when more trades (worker/models/book.py builds the
levels beyond it).

Instruments are client-chosen, so what unlisted ones cost is bounded in bytes: their
paths live in a FIFO of unlisted_cache_bytes / UNLISTED_PATH_BYTES entries, each
path's node memo capped at UNLISTED_MAX_NODES (a path is a pure function of the seed
and the symbol: one dropped is rebuilt on demand, with the same values).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from common.instruments import Instrument, InstrumentBook
from worker.brownian_path import (
    BLOCK,
    MAX_BLOCKS,
    MAX_NODES,
    MAX_RANGES,
    STEP_MS,
    BlockCache,
    BrownianPath,
    FifoCache,
    RangeCache,
)
from worker.crossing_search import first_crossing
from worker.price_path import PricePath
from worker.sessions import TradingSessions, trading_sessions
from worker.trading_clock import TradingClock, clock_layout
from worker.volatility_regime import VolatilityRegime

# The path's constants other modules read from here are re-exported.
__all__ = ["BLOCK", "MAX_DECIMALS", "STEP_MS", "Market", "Quote", "log_price_std", "tick_decimals"]

MAX_DECIMALS = 12
SECONDS_PER_DAY = 86_400.0
_MAX_QUOTES = 50_000
# An unlisted instrument's node memo (about 16 distinct stretches of time: enough for one order's
# arrival, child fills and a resting scan), and the most one such path holds with it: the nodes at
# about 170 bytes each plus the path objects (tests/unit/worker/test_market.py measures it).
UNLISTED_MAX_NODES = 512
UNLISTED_PATH_BYTES = 112 * 1024
# Spellings of listed instruments remembered ("btc-usd", "BTCUSD": one path).
_MAX_SPELLINGS = 100_000


def log_price_std(instrument: Instrument, days: float) -> float:
    """Standard deviation of the log fair price `days` days of trading time away from the reference
    time: a random walk, daily_volatility * sqrt(days) (calendar days bound trading days above)."""
    return instrument.daily_volatility * math.sqrt(max(days, 0.0))


@functools.lru_cache(maxsize=1024)
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
    # Where it came from under MARKET_DATA=bus or file: "recorded" (a stored quote or signal, a file's
    # record: the same word for both, so a replay of the bus, priced as a file, says the same), or
    # "synthetic" (the fallback, or the reference a no_market_data rejection reports); "" from the
    # synthetic market alone.
    source: str = ""


def touch_size(touch_depth: float, volume: float, average_volume: float, lot: float) -> float:
    """Units at the touch: touch_depth scaled by the step's volume against its average, whole lots."""
    lots = math.floor(touch_depth * (volume / average_volume) / lot + 1e-9) if average_volume > 0 else 0
    return round(max(lots, 1) * lot, 8)


class Market:
    """Quotes for any instrument at any instant, identical for every holder of the seed."""

    def __init__(self, seed: bytes, book: InstrumentBook,
                 calendars: Callable[[str], TradingSessions] = trading_sessions,
                 unlisted_cache_bytes: int = 32 * 1024 * 1024) -> None:
        self._seed = bytes(seed)
        self._book = book
        self._calendars = calendars
        self._paths: dict[str, PricePath] = {}
        self._by_symbol: dict[str, PricePath] = {}
        self._unlisted: FifoCache[str, PricePath] = FifoCache(max(unlisted_cache_bytes // UNLISTED_PATH_BYTES, 1))
        self._quotes: dict[tuple[str, int], Quote] = {}
        self._regimes: dict[str, VolatilityRegime] = {}
        self._clocks: dict[tuple[str, float, float, str], TradingClock] = {}
        self._factor_paths: dict[str, BrownianPath] = {}
        # Shared by the instruments' paths (see worker/brownian_path.py).
        self._blocks: BlockCache = FifoCache(MAX_BLOCKS)
        self._ranges: RangeCache = FifoCache(MAX_RANGES)

    def path(self, instrument: str) -> PricePath:
        """The instrument's price path (worker.price_path), built on first use."""
        path = self._paths.get(instrument) or self._unlisted.get(instrument)
        if path is None:
            info = self._book.get(instrument)
            if info.symbol not in self._book.listed:
                path = self._new_path(info, UNLISTED_MAX_NODES)
                self._unlisted.put(instrument, path)
                return path
            # Spellings of one instrument share one path object (and its caches).
            path = self._by_symbol.get(info.symbol) or self._new_path(info, MAX_NODES)
            self._by_symbol[info.symbol] = path
            if len(self._paths) < _MAX_SPELLINGS:
                self._paths[instrument] = path
        return path

    def _new_path(self, info: Instrument, max_nodes: int) -> PricePath:
        decimals = tick_decimals(info.tick_size)
        # A mid between two ticks needs one more decimal.
        mid_decimals = min(decimals + 1, MAX_DECIMALS)
        key = self._seed + b"|" + info.symbol.encode() + b"|"
        own = BrownianPath(key, self.clock(info.calendar, info.intraday_shape, info.overnight_share, info.factor),
                           self._book.reference_ms, self._blocks, max_nodes)
        factor = self._factor_path(info.factor) if info.factor_weight != 0.0 else None
        session_s = self._calendars(info.calendar).typical_session_s or SECONDS_PER_DAY
        return PricePath(info, own, factor, decimals, mid_decimals, self._ranges, info.adv / session_s)

    def _factor_path(self, name: str) -> BrownianPath:
        path = self._factor_paths.get(name)
        if path is None:
            spec = self._book.factor(name)
            clock = self.clock(spec.calendar, spec.intraday_shape, spec.overnight_share, name)
            key = self._seed + b"|factor:" + name.encode() + b"|"
            path = self._factor_paths[name] = BrownianPath(key, clock, self._book.reference_ms, self._blocks)
        return path

    def clock(self, calendar: str, intraday_shape: float, overnight_share: float, factor: str) -> TradingClock:
        """The trading clock of a calendar and profile, in the factor's volatility regime (built once)."""
        key = (calendar, intraday_shape, overnight_share, factor)
        found = self._clocks.get(key)
        if found is None:
            regime = self._regimes.get(factor)
            if regime is None:
                spec = self._book.factor(factor)
                regime = self._regimes[factor] = VolatilityRegime(self._seed, factor, spec.vol_of_vol,
                                                                  spec.vol_half_life_days)
            found = self._clocks[key] = TradingClock(clock_layout(self._calendars(calendar), intraday_shape,
                                                                  overnight_share), regime)
        return found

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
