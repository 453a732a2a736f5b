"""The reference price path under every quote: W, the node tree and blocks.

Runs in the pool's worker processes, inside worker.market.Market (one PricePath
per instrument, built on first use). Owns the Brownian motion W each
instrument's mid is made of, the arithmetic that turns W into a quote at a step
(worker.market describes the rule; Market wraps the numbers in a Quote), and
the block and range caches (the search for the first step whose quoted mid
crosses a level reads them: worker/crossing_search.py). Everything here is a pure function of (seed, instrument, step);
the caches only remember what can be rebuilt.

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

W is a standard Brownian motion sampled at whole steps (a random walk of
independent N(0, 1) steps), in two stages:

    nodes   W at every multiple of BLOCK (1,024 steps): Levy's midpoint
            construction over 2**38 steps (8,700 years) on each side of the
            reference time. W at the end of the span is sqrt(2**38) * Z, and the
            value at the midpoint of a dyadic interval [a, b] is the endpoints'
            mean plus sqrt(b - a) / 2 * Z, each Z hashed from (seed, instrument,
            node) with blake2b; at most 28 levels down to a block edge, memoised.
    blocks  the 1,023 steps inside a block [a, a + BLOCK] from its two edges, as
            an exact random-walk bridge: with S_i the partial sums of BLOCK
            normals, W(a + i) = W(a) + S_i - (i / BLOCK) * (S_BLOCK - (W(a + BLOCK) - W(a))).
            The normals come from Philox4x64-10 keyed by blake2b(seed, instrument,
            block) (counter-based: a block needs no other block), its raw 64-bit
            words (random_raw, whose stream numpy keeps) made uniform on their
            top 52 bits and normal by Box-Muller (cos and sin of each pair),
            with ln, cos and sin as series in numpy's +, -, *, / (its np.log,
            np.cos, np.sin differ in the last bit between CPUs: these do not).
            The next BLOCK words of the same stream are the steps' volume draws.

Both stages together are exactly the law of a Gaussian random walk, the same for
every caller, and a whole block is a few dozen numpy operations. A block uses
only integer hashing, Philox and IEEE +, -, *, /, sqrt, so its bits do not
depend on which SIMD kernels numpy picks for the CPU; the nodes and the quote's
exp use Python's math, as before. Beyond 2**38 steps W stays at its end value.

Why 1,024 steps: a quote in an untouched region builds two blocks (n and n - H)
and walks the nodes above them, while a scan pays per block a blake2b, a Philox
rekeying and a node walk besides the per-step numpy work. Measured: blocks of
512 to 4,096 steps scan a day at about the same speed (the per-step work
dominates), while a cold quote grows from ~0.3 ms at 512-1,024 steps to ~0.55 ms
at 4,096. Blocks (W and volume draws) live in a bounded FIFO cache shared by
the instruments of one Market; quote() and first_crossing() read the same
arrays (first_crossing builds, in batches, the blocks quoting has not cached,
with the same row-by-row arithmetic, and does not insert them, so a long scan
cannot flush the blocks live quoting uses).
"""

from __future__ import annotations

import hashlib
import math
from typing import Literal, TypeVar, overload

import numpy as np

from common.instruments import Instrument
from worker.portable_math import cos_sin_turn, log_unit

BRIDGE_LEVELS = 38
BLOCK_LEVELS = 10
BLOCK = 1 << BLOCK_LEVELS  # steps per block (the numpy unit)
PRICE_MEMORY_DAYS = 20
SECONDS_PER_DAY = 86_400.0
# Blocks (W and volume draws, 16 KiB each) quoting keeps per Market: 8 MiB.
MAX_BLOCKS = 512
# Per-block ranges of W(n) - W(n - H) remembered by the crossing search.
MAX_RANGES = 1 << 15

_SPAN = 1 << BRIDGE_LEVELS
_TWO_POW_64 = float(1 << 64)
_TWO_PI = 2.0 * math.pi
# Memoised bridge nodes per instrument before the cache is dropped and rebuilt.
_MAX_NODES = 200_000
MEMORY_STEPS = PRICE_MEMORY_DAYS * 86_400
HALF_SQRT_2 = math.sqrt(0.5)
_HALF = BLOCK // 2
_MASK = BLOCK - 1
_SHIFT = np.uint64(12)
_ONE_BITS = np.uint64(0x3FF0_0000_0000_0000)
_ZERO4 = np.zeros(4, dtype=np.uint64)
_FRACTIONS = np.arange(BLOCK, dtype=np.float64) / BLOCK


K = TypeVar("K")
V = TypeVar("V")


class FifoCache(dict[K, V]):
    """A dict that drops its oldest entries beyond `limit` (a pure cache: values can be rebuilt)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: K, value: V) -> None:
        if len(self) >= self.limit:
            for old in list(self)[: max(1, self.limit // 8)]:
                del self[old]
        self[key] = value


# The caches one Market's paths share: (path key, block) -> (W, volume draws), and
# (path key, block) -> (low, high) of W(n) - W(n - H) in the block.
BlockCache = FifoCache[tuple[bytes, int], tuple[np.ndarray, np.ndarray]]
RangeCache = FifoCache[tuple[bytes, int], tuple[float, float]]


class PricePath:
    """One instrument's price path (memoised nodes, cached blocks) and quoting rules."""

    __slots__ = ("instrument", "key", "log_base", "sigma_step", "nodes", "tick", "decimals", "mid_decimals",
                 "spread_frac", "per_step", "lot", "blocks", "ranges", "bits")

    def __init__(self, seed: bytes, instrument: Instrument, per_step_volume: float, decimals: int,
                 mid_decimals: int, blocks: BlockCache, ranges: RangeCache) -> None:
        self.instrument = instrument
        self.key = bytes(seed) + b"|" + instrument.symbol.encode() + b"|"
        self.log_base = math.log(instrument.reference_price)
        self.sigma_step = instrument.daily_volatility / math.sqrt(SECONDS_PER_DAY)
        self.nodes: dict[int, float] = {}
        self.tick = instrument.tick_size
        # Decimals of the bid and ask, and of the mid (worker.market.tick_decimals).
        self.decimals = decimals
        self.mid_decimals = mid_decimals
        self.spread_frac = instrument.spread_bps / 1e4
        self.per_step = per_step_volume
        self.lot = instrument.lot_size
        # Shared by the Market's paths, keyed (path key, block).
        self.blocks = blocks
        self.ranges = ranges
        # Rekeyed for every block (a fresh Philox costs ~9 us, setting the key ~1 us).
        self.bits = np.random.Philox(key=0)

    # -- the path ---------------------------------------------------------------------------

    def _normal(self, node: int) -> float:
        digest = hashlib.blake2b(self.key + node.to_bytes(6, "big", signed=True), digest_size=16).digest()
        u1 = (int.from_bytes(digest[:8], "big") + 1) / (_TWO_POW_64 + 1)  # (0, 1]: log is finite
        u2 = int.from_bytes(digest[8:], "big") / _TWO_POW_64
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)

    def node(self, n: int) -> float:
        """W(n) for n a multiple of BLOCK (any n works; the walk stops at n's level)."""
        side = 1 if n >= 0 else -1
        m = min(abs(n), _SPAN)
        nodes = self.nodes
        if len(nodes) > _MAX_NODES:
            nodes.clear()
        w = nodes.get(side * m)
        if w is not None:
            return w
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

    def edges(self, j0: int, j1: int) -> dict[int, float]:
        """W(j * BLOCK) for j0 <= j <= j1, walking the node tree once instead of once per edge."""
        out: dict[int, float] = {}
        lo, hi = j0 * BLOCK, j1 * BLOCK
        for side, m_lo, m_hi in ((1, max(lo, 0), hi), (-1, max(-hi, 0), -lo)):
            m_hi = min(m_hi, _SPAN)
            if m_lo > m_hi:
                continue
            self._descend(side, 0, 0.0, _SPAN, self.node(side * _SPAN), m_lo, m_hi, out)
        for j in range(j0, j1 + 1):  # beyond the span (and a lone edge the walk skipped)
            if j * BLOCK not in out:
                out[j * BLOCK] = self.node(j * BLOCK)
        return out

    def _descend(self, side: int, a: int, wa: float, b: int, wb: float, lo: int, hi: int,
                 out: dict[int, float]) -> None:
        """Fill out[side * m] for the multiples m of BLOCK in [lo, hi], within the dyadic [a, b]."""
        if b - a <= BLOCK:
            if lo <= a <= hi:
                out[side * a] = wa
            if lo <= b <= hi:
                out[side * b] = wb
            return
        nodes = self.nodes
        c = (a + b) >> 1
        wc = nodes.get(side * c)
        if wc is None:
            wc = nodes[side * c] = 0.5 * (wa + wb) + 0.5 * math.sqrt(b - a) * self._normal(side * c)
        if lo <= c:
            self._descend(side, a, wa, c, wc, lo, min(hi, c), out)
        if hi >= c:
            self._descend(side, c, wc, b, wb, max(lo, c), hi, out)

    @overload
    def build(self, js: list[int], volume: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...

    @overload
    def build(self, js: list[int], volume: Literal[False]) -> tuple[np.ndarray, None]: ...

    def build(self, js: list[int], volume: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """W over blocks js (row r: W(js[r] * BLOCK + i), i < BLOCK) and, if asked, the volume draws.

        quote() builds one block at a time and the crossing search several: the
        arithmetic is row by row and element by element, so a block's values do
        not depend on which others it is built with.
        """
        count = len(js)
        width = 2 * BLOCK if volume else BLOCK
        raw = np.empty((count, width), dtype=np.uint64)
        left = np.empty(count)
        right = np.empty(count)
        key = self.key + b"block"
        edges: dict[int, float] = {}
        ordered = sorted(set(js))
        run = ordered[:1]
        for j in ordered[1:]:  # one walk of the node tree per run of adjacent blocks
            if j == run[-1] + 1:
                run.append(j)
                continue
            edges.update(self.edges(run[0], run[-1] + 1))
            run = [j]
        if run:
            edges.update(self.edges(run[0], run[-1] + 1))
        bits = self.bits
        for r, j in enumerate(js):
            digest = hashlib.blake2b(key + j.to_bytes(6, "big", signed=True), digest_size=16).digest()
            # Philox keyed by the digest (two little-endian words), counter 0: a fresh stream per block.
            bits.state = {"bit_generator": "Philox", "state": {"counter": _ZERO4, "key": np.frombuffer(digest, "<u8")},
                          "buffer": _ZERO4, "buffer_pos": 4, "has_uint32": 0, "uinteger": 0}
            raw[r] = bits.random_raw(width)
            left[r] = edges[j * BLOCK]
            right[r] = edges[(j + 1) * BLOCK]
        # The top 52 bits as the mantissa of a double in [1, 2), less 1: uniform on [0, 1), exact.
        unit = ((raw >> _SHIFT) | _ONE_BITS).view(np.float64) - 1.0
        radius = np.sqrt(-2.0 * log_unit(1.0 - unit[:, :_HALF]))  # 1 - u in (0, 1]: log is finite
        cos, sin = cos_sin_turn(unit[:, _HALF:BLOCK])
        sums = np.cumsum(np.concatenate((radius * cos, radius * sin), axis=1), axis=1)
        # Shift the partial sums to S_0 .. S_{BLOCK-1}; bridge to the right edge.
        shifted = np.empty_like(sums)
        shifted[:, 0] = 0.0
        shifted[:, 1:] = sums[:, :-1]
        gap = sums[:, -1] - (right - left)
        w = left[:, None] + shifted - _FRACTIONS[None, :] * gap[:, None]
        # Past the end of the span W stays at the end node (a block lies wholly on one side of it).
        for r, j in enumerate(js):
            if j * BLOCK >= _SPAN or (j + 1) * BLOCK <= -_SPAN:
                w[r] = left[r]
        return w, (np.ascontiguousarray(unit[:, BLOCK:]) if volume else None)

    def block(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Block j's W and volume draws, from (and into) the quoting cache."""
        entry = self.blocks.get((self.key, j))
        if entry is None:
            w, v = self.build([j], volume=True)
            entry = (w[0], v[0])
            self.blocks.put((self.key, j), entry)
        return entry

    def brownian(self, n: int) -> float:
        """W(n): standard Brownian motion at step n from the reference time (either side)."""
        w: float = self.block(n >> BLOCK_LEVELS)[0].item(n & _MASK)
        return w

    # -- quoting ----------------------------------------------------------------------------

    def mid_of(self, moved_w: float) -> float:
        """The quoted mid for W(n) - W(n - H) = moved_w (the scalar arithmetic quote() uses)."""
        return self._prices(moved_w)[2]

    def _prices(self, moved_w: float) -> tuple[float, float, float]:
        raw = math.exp(self.log_base + self.sigma_step * (moved_w * HALF_SQRT_2))
        tick = self.tick
        spread_ticks = max(1, round(raw * self.spread_frac / tick))
        return self.from_ticks(max(math.floor((raw - spread_ticks * tick / 2) / tick + 1e-9), 1), spread_ticks)

    def from_ticks(self, bid_ticks: int, spread_ticks: int) -> tuple[float, float, float]:
        """(bid, ask, mid) in decimals from the bid and the spread in whole ticks."""
        tick, d = self.tick, self.decimals
        bid = round(bid_ticks * tick, d)
        ask = round((bid_ticks + spread_ticks) * tick, d)
        return bid, ask, round((bid + ask) / 2, self.mid_decimals)

    def quote(self, step: int) -> tuple[float, float, float, float]:
        """(bid, ask, mid, volume) at `step` (Market.quote makes the Quote)."""
        w, draws = self.block(step >> BLOCK_LEVELS)
        i = step & _MASK
        back = step - MEMORY_STEPS
        bid, ask, mid = self._prices(w.item(i) - self.block(back >> BLOCK_LEVELS)[0].item(back & _MASK))
        lots = max(math.floor(self.per_step * (0.5 + draws.item(i)) / self.lot), 1)
        return bid, ask, mid, round(lots * self.lot, 8)
