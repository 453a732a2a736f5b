"""Reference market data: a quote as a pure function of (seed, instrument, time step).

Runs in the pool's worker processes (built once per worker by the simulator).
Owns the reference price process, the quoted spread and the liquidity the
simulator fills against. Nothing here is a mutable walk that one worker holds:
every worker of every instance that shares the seed computes the same quote for
the same instrument at the same instant, and a replay computes it again.

Price process. Per instrument, in steps of one second from the instruments
file's reference_time:

    log mid(t) = log reference_price + sigma_s * (W(n) - W(n - H)) / sqrt(2)
    n          = (t - reference_time) // 1 s,   H = PRICE_MEMORY_DAYS * 86400 steps
    sigma_s    = daily_volatility / sqrt(86400)

For any two instants less than H apart, the change in log mid is exactly that
of a geometric Brownian motion with this volatility (two independent Brownian
increments, each halved in variance), so a 24-hour log return has standard
deviation daily_volatility and prices move between intents. Over spans longer
than H the price forgets where it was: it stays in a band around
reference_price (log-price standard deviation daily_volatility *
sqrt(PRICE_MEMORY_DAYS / 2), `price_band`), so a limit price set relative to
the reference price keeps its meaning, and a backtest years away from the
reference time does not drift to absurd prices.

W is a standard Brownian motion sampled at whole steps, built by Levy's
midpoint construction (a Brownian bridge) over 2**38 steps (8,700 years) on
each side of the reference time: W at the end of the span is sqrt(2**38) * Z,
and the value at the midpoint of any dyadic interval [a, b] is the endpoints'
mean plus sqrt(b - a) / 2 * Z. Each Z is a normal draw hashed from (seed,
instrument, node) with blake2b, so W(n) costs at most 38 hashes, exactly the
law of a random walk of Gaussian steps, and the same for every caller. Nodes
are memoised (a pure cache, bounded): nearby instants share all but the lowest
levels, so a warm quote costs a handful of dictionary look-ups.

Quote at a step: the spread is spread_bps of the mid, at least one tick;
bid = mid - spread / 2 rounded down to the tick, ask = bid + spread in whole
ticks, and the quoted mid is their average (so it can sit on a half tick).
Volume: what trades in a step, quote.volume = adv / typical_session_s *
(0.5 + v) (v uniform from the step's hash; typical_session_s from the calendar:
23,400 s for a NYSE day, 86,400 s for 24/7), in whole lots, at least one lot.
The simulator lets one order take SIMULATION_LIQUIDITY_SHARE of it per step.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable

from common.instruments import Instrument, InstrumentBook

STEP_MS = 1000
BRIDGE_LEVELS = 38
PRICE_MEMORY_DAYS = 20
MAX_DECIMALS = 12
SECONDS_PER_DAY = 86_400.0

_SPAN = 1 << BRIDGE_LEVELS
_TWO_POW_64 = float(1 << 64)
_TWO_PI = 2.0 * math.pi
# Memoised bridge nodes per instrument before the cache is dropped and rebuilt.
_MAX_NODES = 200_000
_MAX_QUOTES = 50_000
_MEMORY_STEPS = PRICE_MEMORY_DAYS * 86_400
_HALF_SQRT_2 = math.sqrt(0.5)


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


class _Path:
    """One instrument's memoised price path and quoting rules."""

    __slots__ = ("instrument", "key", "log_base", "sigma_step", "nodes", "tick", "decimals", "mid_decimals",
                 "spread_frac", "per_step", "lot")

    def __init__(self, seed: bytes, instrument: Instrument, per_step_volume: float) -> None:
        self.instrument = instrument
        self.key = bytes(seed) + b"|" + instrument.symbol.encode() + b"|"
        self.log_base = math.log(instrument.reference_price)
        self.sigma_step = instrument.daily_volatility / math.sqrt(SECONDS_PER_DAY)
        self.nodes: dict[int, float] = {}
        self.tick = instrument.tick_size
        self.decimals = tick_decimals(instrument.tick_size)
        # A mid between two ticks needs one more decimal.
        self.mid_decimals = min(self.decimals + 1, MAX_DECIMALS)
        self.spread_frac = instrument.spread_bps / 1e4
        self.per_step = per_step_volume
        self.lot = instrument.lot_size

    def _normal(self, node: int) -> float:
        digest = hashlib.blake2b(self.key + node.to_bytes(6, "big", signed=True), digest_size=16).digest()
        u1 = (int.from_bytes(digest[:8], "big") + 1) / (_TWO_POW_64 + 1)  # (0, 1]: log is finite
        u2 = int.from_bytes(digest[8:], "big") / _TWO_POW_64
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)

    def brownian(self, n: int) -> float:
        """W(n): standard Brownian motion at step n from the reference time (either side)."""
        side = 1 if n >= 0 else -1
        m = min(abs(n), _SPAN)
        nodes = self.nodes
        if len(nodes) > _MAX_NODES:
            nodes.clear()
        # Node ids: +c / -c for the midpoint c on each side; +-_SPAN for each end.
        a, wa = 0, 0.0
        b = _SPAN
        wb = nodes.get(side * b)
        if wb is None:
            wb = nodes[side * b] = math.sqrt(_SPAN) * self._normal(side * b)
        while True:
            if m == a:
                return wa
            if m == b:
                return wb
            c = (a + b) >> 1
            wc = nodes.get(side * c)
            if wc is None:
                wc = nodes[side * c] = 0.5 * (wa + wb) + 0.5 * math.sqrt(b - a) * self._normal(side * c)
            if m < c:
                b, wb = c, wc
            else:
                a, wa = c, wc

    def raw_mid(self, step: int) -> float:
        moved = (self.brownian(step) - self.brownian(step - _MEMORY_STEPS)) * _HALF_SQRT_2
        return math.exp(self.log_base + self.sigma_step * moved)

    def quote(self, step: int) -> Quote:
        raw = self.raw_mid(step)
        tick = self.tick
        spread_ticks = max(1, round(raw * self.spread_frac / tick))
        bid_ticks = max(math.floor((raw - spread_ticks * tick / 2) / tick + 1e-9), 1)
        d = self.decimals
        bid = round(bid_ticks * tick, d)
        ask = round((bid_ticks + spread_ticks) * tick, d)
        mid = round((bid + ask) / 2, self.mid_decimals)
        digest = hashlib.blake2b(self.key + b"vol" + step.to_bytes(6, "big", signed=True), digest_size=8).digest()
        v = int.from_bytes(digest, "big") / _TWO_POW_64
        lots = max(math.floor(self.per_step * (0.5 + v) / self.lot), 1)
        return Quote(bid=bid, ask=ask, mid=mid, volume=round(lots * self.lot, 8))


class Market:
    """Quotes for any instrument at any instant, identical for every holder of the seed."""

    def __init__(self, seed: bytes, book: InstrumentBook, session_seconds: Callable[[str], float] | None = None) -> None:
        self._seed = bytes(seed)
        self._book = book
        # calendar name -> typical seconds of trading a day (for per-step volume)
        self._session_seconds = session_seconds or (lambda calendar: SECONDS_PER_DAY)
        self._paths: dict[str, _Path] = {}
        self._by_symbol: dict[str, _Path] = {}
        self._quotes: dict[tuple[str, int], Quote] = {}

    def path(self, instrument: str) -> _Path:
        path = self._paths.get(instrument)
        if path is None:
            info = self._book.get(instrument)
            per_step = info.adv / self._session_seconds(info.calendar) * (STEP_MS / 1000)
            # Spellings of one instrument share one path object (and its node cache).
            path = self._by_symbol.get(info.symbol) or _Path(self._seed, info, per_step)
            if len(self._paths) < 100_000:  # instruments are client-chosen: bound the caches
                self._paths[instrument] = path
                self._by_symbol[info.symbol] = path
        return path

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
            q = self._quotes[cache_key] = self.path(instrument).quote(step)
        return q
