"""A Brownian motion in trading time, seekable: its value at any step from the reference time.

Runs in the pool's worker processes, inside worker.price_path.PricePath (each
instrument reads its own path and its factor's; a factor's path is shared by its
instruments). Owns B(tau(n)), a standard Brownian motion B run on a trading
clock tau (worker/trading_clock.py), at whole steps n of STEP_MS from the
reference time, with B = 0 at the reference time, in two stages:

    nodes   the value at every multiple of BLOCK (1,024 steps): Levy's construction
            over 2**38 steps (8,700 years) on each side of the reference time. The
            end of the span is sqrt(u(end)) * Z; the midpoint c of a dyadic interval
            [a, b] is the Brownian bridge's law given its ends, in clock time
            u = |tau(n) - tau(0)|:  mean w_a + (u_c - u_a) / (u_b - u_a) * (w_b - w_a),
            variance (u_c - u_a)(u_b - u_c) / (u_b - u_a); each Z hashed from
            (seed, path, node) with blake2b; at most 28 levels, memoised.
    blocks  the 1,023 steps inside a block [a, a + BLOCK] from its two edges, as an
            exact bridge of independent steps with variances v_i = tau(a + i + 1) -
            tau(a + i): with S_i the partial sums of sqrt(v_i) Z_i, C_i those of v_i
            and V = C_BLOCK, B(a + i) = B(a) + S_i - (C_i / V) (S_BLOCK - (B(a + BLOCK) - B(a))).
            The normals come from Philox4x64-10 keyed by blake2b(seed, path, block)
            (counter-based: a block needs no other), its raw words made uniform on
            their top 52 bits and normal by Box-Muller with the portable ln, cos and
            sin of worker.portable_math; the next BLOCK words are the steps' volume
            draws.

Both stages together are exactly the law of B sampled at the steps, the same for
every caller, and a block is a few dozen numpy operations. A block uses only
integer hashing, Philox and IEEE +, -, *, /, sqrt, so its bits do not depend on
the CPU; the nodes use Python's math. Beyond 2**38 steps the path stays at its
end value. Blocks live in a bounded FIFO cache shared by a Market's paths.
"""

from __future__ import annotations

import hashlib
import math
from typing import TypeVar

import numpy as np

from worker.portable_math import box_muller, keyed_words, unit_floats
from worker.trading_clock import TradingClock

STEP_MS = 1000
BRIDGE_LEVELS = 38
BLOCK_LEVELS = 10
BLOCK = 1 << BLOCK_LEVELS  # steps per block (the numpy unit)
# Blocks (values, step variances, volume draws: 24 KiB each) quoting keeps per Market: 12 MiB.
MAX_BLOCKS = 512
# Per-block ranges of the log offset remembered by the crossing search.
MAX_RANGES = 1 << 15

_SPAN = 1 << BRIDGE_LEVELS
_TWO_POW_64 = float(1 << 64)
_TWO_PI = 2.0 * math.pi
# Memoised bridge nodes per path before the cache is dropped and rebuilt (~170 bytes a node).
MAX_NODES = 200_000
_HALF = BLOCK // 2
_MASK = BLOCK - 1
_OFFSETS = np.arange(BLOCK + 1, dtype=np.int64) * STEP_MS

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


# (path key, block) -> (values, step variances, volume draws), and -> (low, high) of a log offset.
BlockCache = FifoCache[tuple[bytes, int], tuple[np.ndarray, np.ndarray, np.ndarray]]
RangeCache = FifoCache[tuple[bytes, int], tuple[float, float]]


class BrownianPath:
    """B(tau(n)) at any step n: memoised nodes, cached blocks."""

    __slots__ = ("key", "clock", "reference_ms", "tau_ref", "nodes", "blocks", "max_nodes")

    def __init__(self, key: bytes, clock: TradingClock, reference_ms: int, blocks: BlockCache,
                 max_nodes: int = MAX_NODES) -> None:
        self.key = key
        self.clock = clock
        self.reference_ms = reference_ms
        self.tau_ref = clock.at_ms(reference_ms)
        # side * m -> (B, u) at the node
        self.nodes: dict[int, tuple[float, float]] = {}
        self.blocks = blocks
        self.max_nodes = max_nodes

    def _bounded_nodes(self) -> dict[int, tuple[float, float]]:
        """The node memo, dropped once it holds more than max_nodes (a walk adds at most
        2 * BRIDGE_LEVELS before the next check)."""
        if len(self.nodes) > self.max_nodes:
            self.nodes.clear()
        return self.nodes

    def _u(self, side: int, m: int) -> float:
        """Clock time from the reference to step side * m, counted away from it (>= 0)."""
        return side * (self.clock.at_ms(self.reference_ms + side * m * STEP_MS) - self.tau_ref)

    def _normal(self, node: int) -> float:
        digest = hashlib.blake2b(self.key + node.to_bytes(6, "big", signed=True), digest_size=16).digest()
        u1 = (int.from_bytes(digest[:8], "big") + 1) / (_TWO_POW_64 + 1)  # (0, 1]: log is finite
        u2 = int.from_bytes(digest[8:], "big") / _TWO_POW_64
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)

    def _midpoint(self, side: int, c: int, wa: float, ua: float, wb: float, ub: float) -> tuple[float, float]:
        uc = self._u(side, c)
        span = ub - ua
        if span <= 0.0:
            w = wa
        else:
            left, right = uc - ua, ub - uc
            spread = math.sqrt(max(left * right / span, 0.0))
            w = wa + left / span * (wb - wa) + spread * self._normal(side * c)
        self.nodes[side * c] = (w, uc)
        return w, uc

    def _end(self, side: int) -> tuple[float, float]:
        found = self.nodes.get(side * _SPAN)
        if found is None:
            u = self._u(side, _SPAN)
            found = self.nodes[side * _SPAN] = (math.sqrt(max(u, 0.0)) * self._normal(side * _SPAN), u)
        return found

    def node(self, n: int) -> float:
        """B at step n, for n a multiple of BLOCK (any n works; the walk stops at n's level)."""
        side = 1 if n >= 0 else -1
        m = min(abs(n), _SPAN)
        nodes = self._bounded_nodes()
        found = nodes.get(side * m)
        if found is not None:
            return found[0]
        a, wa, ua = 0, 0.0, 0.0
        b = _SPAN
        wb, ub = self._end(side)
        while True:
            if m == a:
                return wa
            if m == b:
                return wb
            c = (a + b) >> 1
            hit = nodes.get(side * c)
            wc, uc = hit if hit is not None else self._midpoint(side, c, wa, ua, wb, ub)
            if m < c:
                b, wb, ub = c, wc, uc
            else:
                a, wa, ua = c, wc, uc

    def edges(self, j0: int, j1: int) -> dict[int, float]:
        """B(j * BLOCK) for j0 <= j <= j1, walking the node tree once instead of once per edge."""
        out: dict[int, float] = {}
        self._bounded_nodes()
        lo, hi = j0 * BLOCK, j1 * BLOCK
        for side, m_lo, m_hi in ((1, max(lo, 0), hi), (-1, max(-hi, 0), -lo)):
            m_hi = min(m_hi, _SPAN)
            if m_lo > m_hi:
                continue
            wb, ub = self._end(side)
            self._descend(side, (0, 0.0, 0.0), (_SPAN, wb, ub), m_lo, m_hi, out)
        for j in range(j0, j1 + 1):  # beyond the span (and a lone edge the walk skipped)
            if j * BLOCK not in out:
                out[j * BLOCK] = self.node(j * BLOCK)
        return out

    def _descend(self, side: int, lo_end: tuple[int, float, float], hi_end: tuple[int, float, float], lo: int,
                 hi: int, out: dict[int, float]) -> None:
        """Fill out[side * m] for the multiples m of BLOCK in [lo, hi], within the dyadic [a, b]."""
        a, wa, ua = lo_end
        b, wb, ub = hi_end
        if b - a <= BLOCK:
            if lo <= a <= hi:
                out[side * a] = wa
            if lo <= b <= hi:
                out[side * b] = wb
            return
        c = (a + b) >> 1
        hit = self.nodes.get(side * c)
        wc, uc = hit if hit is not None else self._midpoint(side, c, wa, ua, wb, ub)
        if lo <= c:
            self._descend(side, lo_end, (c, wc, uc), lo, min(hi, c), out)
        if hi >= c:
            self._descend(side, (c, wc, uc), hi_end, max(lo, c), hi, out)

    def build(self, js: list[int], draws: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """B over blocks js (row r: B(js[r] * BLOCK + i), i < BLOCK), the steps' variances and, if
        asked, the volume draws. Row by row and element by element: a block's values do not depend
        on which others it is built with."""
        count = len(js)
        width = 2 * BLOCK if draws else BLOCK
        raw = np.empty((count, width), dtype=np.uint64)
        left = np.empty(count)
        right = np.empty(count)
        key = self.key + b"block"
        edges = self._edges_of(js)
        for r, j in enumerate(js):
            # A fresh stream per block: Philox keyed by the block's digest.
            raw[r] = keyed_words(hashlib.blake2b(key + j.to_bytes(6, "big", signed=True), digest_size=16).digest(),
                                 width)
            left[r] = edges[j * BLOCK]
            right[r] = edges[(j + 1) * BLOCK]
        instants = self.reference_ms + np.array(js, dtype=np.int64)[:, None] * (BLOCK * STEP_MS) + _OFFSETS[None, :]
        taus = self.clock.at(instants)
        variances = np.maximum(taus[:, 1:] - taus[:, :-1], 0.0)
        unit = unit_floats(raw)
        steps = np.concatenate(box_muller(unit[:, :_HALF], unit[:, _HALF:BLOCK]), axis=1) * np.sqrt(variances)
        values = _bridge(steps, variances, left, right)
        # Past the end of the span B stays at the end node (a block lies wholly on one side of it).
        for r, j in enumerate(js):
            if j * BLOCK >= _SPAN or (j + 1) * BLOCK <= -_SPAN:
                values[r] = left[r]
        return values, variances, (np.ascontiguousarray(unit[:, BLOCK:]) if draws else None)

    def _edges_of(self, js: list[int]) -> dict[int, float]:
        """Both edges of every block in js, one walk of the node tree per run of adjacent blocks."""
        edges: dict[int, float] = {}
        ordered = sorted(set(js))
        run = ordered[:1]
        for j in ordered[1:]:
            if j == run[-1] + 1:
                run.append(j)
                continue
            edges.update(self.edges(run[0], run[-1] + 1))
            run = [j]
        if run:
            edges.update(self.edges(run[0], run[-1] + 1))
        return edges

    def block(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block j's values, step variances and volume draws, from (and into) the quoting cache."""
        entry = self.blocks.get((self.key, j))
        if entry is None:
            values, variances, draws = self.build([j], draws=True)
            assert draws is not None
            entry = (values[0], variances[0], draws[0])
            self.blocks.put((self.key, j), entry)
        return entry

    def rows(self, js: list[int]) -> np.ndarray:
        """B over consecutive blocks js, flattened: cached blocks read, the others built (not cached,
        so a long scan cannot flush the blocks live quoting uses)."""
        cached = [self.blocks.get((self.key, j)) for j in js]
        missing = [j for j, entry in zip(js, cached) if entry is None]
        built = iter(self.build(missing, draws=False)[0]) if missing else iter(())
        return np.concatenate([entry[0] if entry is not None else next(built) for entry in cached])

    def at(self, n: int) -> float:
        """B at step n from the reference time (either side)."""
        value: float = self.block(n >> BLOCK_LEVELS)[0].item(n & _MASK)
        return value


def _bridge(steps: np.ndarray, variances: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Rows of partial sums of `steps` pinned to left at 0 and right at BLOCK (the bridge's formula)."""
    sums = np.cumsum(steps, axis=1)
    weights = np.cumsum(variances, axis=1)
    total = weights[:, -1]
    shifted = np.empty_like(sums)
    shifted[:, 0] = 0.0
    shifted[:, 1:] = sums[:, :-1]
    before = np.empty_like(weights)
    before[:, 0] = 0.0
    before[:, 1:] = weights[:, :-1]
    safe = np.where(total > 0.0, total, 1.0)
    fraction = np.where(total[:, None] > 0.0, before / safe[:, None], 0.0)
    gap = sums[:, -1] - (right - left)
    values: np.ndarray = left[:, None] + shifted - fraction * gap[:, None]
    return values
