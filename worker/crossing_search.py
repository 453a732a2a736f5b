"""The crossing search: the first step at which an instrument's quoted mid reaches a level.

Runs in the pool's worker processes, called by worker.market.Market.first_crossing
for a resting order's wait (worker.simulator, through the market view). Owns the
scan over a PricePath's blocks (worker/price_path.py) and the per-block ranges it
remembers; it reads the path's blocks and quoting rule, never changes them.

Crossing search, Market.first_crossing(instrument, start_ms, end_ms, level, above,
open_intervals): the earliest instant t with start_ms <= t < end_ms, inside one
of the open intervals [open_ms, close_ms) when they are given, at which
quote(instrument, t).mid >= level (above) or <= level (not above); None if none.
Quotes are constant within a step, so t is the later of the step's start, the
interval's open and start_ms: an order arriving mid-step is compared with that
step's quote from its arrival on. Market turns each interval into a range of steps
and first_crossing here scans it. The scan goes block by block in growing
chunks (early exit): first a filter in log price (steps whose raw mid is not
within a tick of the level cannot cross), then the bid and spread ticks
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

def first_crossing(path: PricePath, first: int, last: int, level: float, above: bool) -> int | None:
    """The first step n in [first, last] whose quoted mid is >= level (above) or <= level."""
    ranges = path.ranges
    margin = abs(level) * _GRID_SLACK
    j, j_last, chunk = first >> BLOCK_LEVELS, last >> BLOCK_LEVELS, 1
    while j <= j_last:
        known = ranges.get((path.key, j))
        if known is not None:
            bound = _bound_mid(path, known[1] if above else known[0], above)
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
        found = _scan(path, offsets[lo:hi], level, above, margin)
        if found is not None:
            return j * BLOCK + lo + found
        j += count
    return None

def _scan(path: PricePath, offsets: np.ndarray, level: float, above: bool, margin: float) -> int | None:
    """Index of the first step in `offsets` whose quoted mid crosses `level`, confirmed by the scalar rule."""
    arg = path.log_base + offsets  # the scalar's operations, in order
    # First in log space, only where the raw mid could be within a tick of the level at all
    # (mid <= raw + 1e-9 tick and mid > raw - tick): a scan that never crosses stops here.
    if above:
        floor = level - margin - path.tick * 1e-6
        near = np.flatnonzero(arg >= math.log(floor) - _LOG_SLACK) if floor > 0 else np.arange(len(arg))
    else:
        ceiling = level + margin + path.tick * (1 + 1e-6)
        if ceiling <= 0:  # a mid is at least a tick and a half
            return None
        near = np.flatnonzero(arg <= math.log(ceiling) + _LOG_SLACK)
    if not len(near):
        return None
    # np.exp is math.exp within a few ulps, so the scalar raw mid lies in raw * (1 -+ slack). The
    # rule's spread and bid ticks are the same IEEE operations as the scalar ones (equal for an equal
    # raw); the spread is monotone in raw, and the bid too for a given spread, so the same pair at
    # both ends of that interval is the scalar's pair, and the scalar rounding decides each distinct
    # pair once. Different ends (a raw mid within 1e-12 of a tick boundary) are decided by the
    # whole scalar rule from W.
    raw = np.exp(arg[near])
    low = _ticks(path, raw * (1 - _EXP_SLACK))
    sure = (low == _ticks(path, raw * (1 + _EXP_SLACK))).all(axis=1)
    pairs, inverse = np.unique(low, axis=0, return_inverse=True)
    mids = [path.from_ticks(int(bid), int(spread))[2] for bid, spread in pairs.tolist()]
    verdicts = np.array([(mid >= level) if above else (mid <= level) for mid in mids])[inverse.reshape(-1)]
    for i in np.flatnonzero(verdicts | ~sure).tolist():
        if sure[i]:
            return int(near[i])
        mid = path.mid_of(offsets.item(int(near[i])))
        if (mid >= level) if above else (mid <= level):
            return int(near[i])
    return None
