"""The crossing search: the first step at which an instrument's quoted bid, ask or mid reaches a level.

Runs in the pool's worker processes, called by worker.market.Market.first_crossing
for a resting order's wait (worker.simulator, through the market view). Owns the
scan over a PricePath's blocks (worker/price_path.py) and the per-block ranges it
remembers; it reads the path's blocks and quoting rule, never changes them.

Crossing search, Market.first_crossing(instrument, start_ms, end_ms, level, above,
open_intervals, side): the earliest instant t with start_ms <= t < end_ms, inside one
of the open intervals [open_ms, close_ms) when they are given, at which the quote's
side (bid, ask or mid) at t is >= level (above) or <= level (not above); None if none.
Resting orders wait on the touch: a buy limit for the ask to come down to it, a
buy stop for the ask to rise to it (worker/order_types.py).
Quotes are constant within a step, so t is the later of the step's start, the
interval's open and start_ms: an order arriving mid-step is compared with that
step's quote from its arrival on. Market turns each interval into a range of steps
and first_crossing here scans it. The scan goes block by block in growing
chunks (early exit): first a filter in log price (steps whose raw mid cannot put
the side within reach of the level: a tick for the mid, the half spread besides for
the ask above and the bid below), then the bid and spread ticks
computed with numpy at the raw mid -+ 1e-12 (covering np.exp against math.exp),
each distinct pair rounded to decimals by the scalar code, and the rare step
whose two ends disagree decided by the scalar rule: the answer is exactly that
of a step-by-step scan of quote(). Each block's range of log offsets
is remembered (a few floats per 1,024 steps, bounded), so a later scan skips
blocks that cannot reach the level without building them.
"""

from __future__ import annotations

import math

import numpy as np

from worker.brownian_path import BLOCK, BLOCK_LEVELS
from worker.price_path import PricePath

# Blocks the crossing search builds at once: 1, 2, 4, ... up to this (early exit first).
_MAX_CHUNK_BLOCKS = 32
# Relative slack between numpy's exp and math.exp (both within a few ulps): far more than enough.
_EXP_SLACK = 1e-12
# Slack in log price for math.log / math.exp rounding in the first, log-space filter.
_LOG_SLACK = 1e-9
# Relative slack for a mid's rounding to decimals in the conservative filters.
_GRID_SLACK = 1e-9
# What a search may compare with the level: index into PricePath.from_ticks's (bid, ask, mid).
_SIDES = {"bid": 0, "ask": 1, "mid": 2}


def _bound_mid(path: PricePath, offset: float, above: bool) -> float:
    """A bound on the quoted mid of any step whose log offset is `offset` or beyond it."""
    raw = math.exp(path.log_base + offset)
    # mid <= raw (+ 1e-9 tick) and mid > raw - tick: see the quoting rule.
    if above:
        return raw * (1 + _EXP_SLACK) + path.tick * 1e-6
    return raw * (1 - _EXP_SLACK) - path.tick * (1 + 1e-6)

def _ticks(path: PricePath, raw: np.ndarray) -> np.ndarray:
    """(bid ticks, spread ticks) per raw mid, rows of a (n, 2) array: the scalar rule's operations."""
    tick = path.tick
    spread = np.maximum(np.rint(raw * path.spread_frac / tick), 1.0)
    bid = np.maximum(np.floor((raw - spread * tick / 2) / tick + 1e-9), 1.0)
    return np.stack((bid, spread), axis=1)

def first_crossing(path: PricePath, first: int, last: int, level: float, above: bool,
                   side: str = "mid") -> int | None:
    """The first step n in [first, last] whose quoted `side` (bid, ask or mid) is >= level (above)
    or <= level."""
    if side not in _SIDES:
        raise ValueError(f"a quote's side is bid, ask or mid, not {side!r}")
    ranges = path.ranges
    margin = abs(level) * _GRID_SLACK
    j, j_last, chunk = first >> BLOCK_LEVELS, last >> BLOCK_LEVELS, 1
    while j <= j_last:
        known = ranges.get((path.key, j))
        if known is not None:
            bound = _beyond_mid(path, _bound_mid(path, known[1] if above else known[0], above), above, side)
            if (bound < level - margin) if above else (bound > level + margin):
                j += 1
                continue
        count = min(chunk, j_last - j + 1)
        chunk = min(2 * chunk, _MAX_CHUNK_BLOCKS)
        offsets = path.offsets(j, count)
        rows = offsets.reshape(count, BLOCK)
        for r, (low, high) in enumerate(zip(rows.min(axis=1).tolist(), rows.max(axis=1).tolist())):
            ranges.put((path.key, j + r), (low, high))
        lo = max(first - j * BLOCK, 0)
        hi = min(last - j * BLOCK, count * BLOCK - 1) + 1
        found = _scan(path, offsets[lo:hi], level, above, margin, side)
        if found is not None:
            return j * BLOCK + lo + found
        j += count
    return None

def _scan(path: PricePath, offsets: np.ndarray, level: float, above: bool, margin: float,
          side: str) -> int | None:
    """Index of the first step in `offsets` whose quoted `side` crosses `level`, confirmed by the scalar rule."""
    arg = path.log_base + offsets  # the scalar's operations, in order
    # First in log space, only where the raw mid could put the side within reach of the level at
    # all (see _raw_floor and _raw_ceiling): a scan that never crosses stops here.
    if above:
        floor = _raw_floor(path, level - margin, side)
        near = np.flatnonzero(arg >= math.log(floor) - _LOG_SLACK) if floor > 0 else np.arange(len(arg))
    else:
        ceiling = _raw_ceiling(path, level + margin, side)
        if ceiling <= 0:  # a mid is at least a tick and a half
            return None
        near = np.flatnonzero(arg <= math.log(ceiling) + _LOG_SLACK) if ceiling < math.inf else np.arange(len(arg))
    if not len(near):
        return None
    # np.exp is math.exp within a few ulps, so the scalar raw mid lies in raw * (1 -+ slack). The
    # rule's spread and bid ticks are the same IEEE operations as the scalar ones (equal for an equal
    # raw); the spread is monotone in raw, and the bid too for a given spread, so the same pair at
    # both ends of that interval is the scalar's pair, and the scalar rounding decides each distinct
    # pair once. Different ends (a raw mid within 1e-12 of a tick boundary) are decided by the
    # whole scalar rule from the offset.
    raw = np.exp(arg[near])
    low = _ticks(path, raw * (1 - _EXP_SLACK))
    sure = (low == _ticks(path, raw * (1 + _EXP_SLACK))).all(axis=1)
    pairs, inverse = np.unique(low, axis=0, return_inverse=True)
    at = _SIDES[side]
    prices = [path.from_ticks(int(bid), int(spread))[at] for bid, spread in pairs.tolist()]
    verdicts = np.array([(p >= level) if above else (p <= level) for p in prices])[inverse.reshape(-1)]
    for i in np.flatnonzero(verdicts | ~sure).tolist():
        if sure[i]:
            return int(near[i])
        # The scalar rule's (bid, ask, mid) (PricePath.mid_of is its mid).
        price = path.prices_of(offsets.item(int(near[i])))[at]
        if (price >= level) if above else (price <= level):
            return int(near[i])
    return None


# The touch (and the raw mid r under it): ask = mid + h and bid = mid - h, h = spread ticks * tick / 2
# <= ((mid + tick) * frac + tick) / 2 (frac = spread_bps / 1e4), with raw - tick < mid <= raw + 1e-9
# tick, and bid >= one tick. The bounds below are loose on purpose: they only skip what cannot cross.


def _beyond_mid(path: PricePath, mid_bound: float, above: bool, side: str) -> float:
    """From a bound on the mids of a block (upper when above, else lower), the same bound on `side`."""
    frac, tick = path.spread_frac, path.tick
    if above and side == "ask":  # ask <= mid * (1 + frac) + tick * (1 + frac)
        return mid_bound * (1 + frac) + tick * (1 + frac)
    if not above and side == "bid":  # bid >= mid * (1 - frac) - tick * (1 + frac)
        return mid_bound * (1 - frac) - tick * (1 + frac) if frac < 1 else -math.inf
    return mid_bound  # bid <= mid <= ask


def _raw_floor(path: PricePath, level: float, side: str) -> float:
    """A raw mid below this cannot quote `side` at or above `level` (0: any may)."""
    tick, frac = path.tick, path.spread_frac
    if level <= 4 * tick * (1 + frac):  # a bid kept at one tick lifts the whole quote
        return 0.0
    if side == "ask":  # ask <= raw * (1 + frac) + 2 ticks
        return (level - tick * (2 + 1e-6)) / (1 + frac)
    return level - tick * 1e-6  # bid <= mid <= raw + 1e-9 tick


def _raw_ceiling(path: PricePath, level: float, side: str) -> float:
    """A raw mid above this cannot quote `side` at or below `level` (inf: any may)."""
    tick, frac = path.tick, path.spread_frac
    if side == "bid":  # bid > raw * (1 - frac / 2) - tick * (1.5 + frac)
        return (level + tick * (1.5 + frac + 1e-6)) / (1 - frac / 2) if frac < 2 else math.inf
    return level + tick * (1 + 1e-6)  # ask >= mid > raw - tick
