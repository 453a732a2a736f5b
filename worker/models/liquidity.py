"""Liquidity models: how much of the book one child fill may take, and how taken depth recovers.

Runs in the pool's worker processes (built once per worker by worker.models.build_models).
Owns the size of a child fill (SIMULATION_LIQUIDITY_SHARE), what happens to a remainder
the book could not absorb (SIMULATION_LIQUIDITY_REMAINDER), and the recovery of the depth
an order has taken (the instrument's depth_recovery_s). Depth is counted in units of
the instrument from the touch of the side the order takes (worker/models/book.py):

    missing     what the order has taken and not yet seen come back:
                taken * 2^(-(t - t_taken) / depth_recovery_s), per parent order
    reach       share: share * the depth through the visible book (depth_levels levels),
                and never past the order's limit; unlimited (share 0): to the limit, or
                without one the whole book
    child       takes the units from `missing` to `reach`, at least one unit, at most
                what the order has left

The next child fill (CHILD_FILL_INTERVAL_MS later, worker.simulator) starts `missing`
deep in the book, so a large order pays more for each piece, as the square-root law of
a parent order says. A remainder fills in later child fills ("fill") or is cancelled at
once ("cancel"); after SIMULATION_MAX_CHILD_FILLS child fills the rest is cancelled.
Orders never share depth: each order's simulation is a pure function of its intent.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from worker.models.book import BookSide
from worker.quantities import Lots


@dataclass(slots=True)
class DepthTaken:
    """What one order has taken from the book, in units of the instrument, and when."""

    quantity: float = 0.0
    at_ms: int = 0

    def missing(self, at_ms: int, half_life_s: float) -> float:
        """What is still gone at `at_ms`: it comes back with a half-life of `half_life_s`."""
        if not self.quantity:
            return 0.0
        decay: float = 0.5 ** ((at_ms - self.at_ms) / (half_life_s * 1000.0))
        return self.quantity * decay

    def take(self, quantity: float, at_ms: int, half_life_s: float) -> None:
        self.quantity = self.missing(at_ms, half_life_s) + quantity
        self.at_ms = at_ms


@dataclass(slots=True)  # not frozen: built per child fill (worker/models/book.py says why)
class ChildTake:
    """The part of the book one child fill takes, in units of the order."""

    start: int  # units from the touch still missing (where the child starts)
    units: int  # units it takes
    last_level: int | None  # the deepest level it may be priced at; None: no bound


class LiquidityModel(ABC):
    def __init__(self, cancels_remainder: bool) -> None:
        # The rest of an order the market could not absorb is cancelled, not filled later.
        self.cancels_remainder = cancels_remainder

    @abstractmethod
    def reach(self, book: BookSide, depth_levels: int, within: int | None) -> float:
        """Units of the instrument from the touch one child fill may reach (inf: no bound);
        `within` is the deepest level the order's limit allows (None: no limit)."""

    def child(self, wanted: int, book: BookSide, lots: Lots, missing: float, depth_levels: int,
              limit: float | None) -> ChildTake:
        """Of `wanted` units of the order, what one child fill takes of `book` (at least one unit)."""
        within = book.level_within(limit)
        reach = self.reach(book, depth_levels, within)
        start = lots.units_below(missing)
        if math.isinf(reach):
            return ChildTake(start, wanted, within)
        units = min(wanted, max(lots.units_below(reach) - start, 1))
        deepest = book.level_of(reach * (1 - 1e-12))
        return ChildTake(start, units, max(deepest if within is None else min(deepest, within), 0))


class ShareOfBook(LiquidityModel):
    def __init__(self, share: float, cancels_remainder: bool) -> None:
        super().__init__(cancels_remainder)
        if share <= 0:
            raise ValueError(f"a share of the book must be positive, not {share} (use UnlimitedLiquidity)")
        self._share = share

    def reach(self, book: BookSide, depth_levels: int, within: int | None) -> float:
        visible = self._share * book.depth_through(depth_levels - 1)
        return visible if within is None else min(visible, book.depth_through(within))


class UnlimitedLiquidity(LiquidityModel):
    def reach(self, book: BookSide, depth_levels: int, within: int | None) -> float:
        return math.inf if within is None else book.depth_through(within)
