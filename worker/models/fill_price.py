"""Fill-price models: the prices one child fill executes at, on the tick grid, never beyond a limit.

Runs in the pool's worker processes (built once per worker by worker.models.build_models).
Owns slippage (SIMULATION_SLIPPAGE_MODEL). A child fill takes a part of the book's
side its order takes (worker/models/book.py, worker/models/liquidity.py); s is the
side's sign (+1 buy, -1 sell), touch the ask for a buy and the bid for a sell:

    book          the venue's rule: each level the child takes is its own execution at
                  that level's price (touch + s * k * gap), all at the same instant; a
                  child that takes more than depth_levels levels (unlimited liquidity)
                  reports the rest as one execution at the deepest level it reaches
    sqrt_impact   one execution at touch + s * ceil(mid * Y * daily_vol * sqrt(Q / adv)
                  / tick) ticks, Q the PARENT order's quantity filled so far, this child
                  included (SIMULATION_IMPACT_COEFFICIENT is Y)
    uniform       one execution at touch + s * ceil(u * SLIPPAGE_BPS / 1e4 * mid / tick)
                  ticks, u the fill's uniform draw: a stress setting

Every price is a multiple of the tick, at the touch or beyond it (never inside the
spread), at least one tick, and never beyond a limit (limit and stop_limit orders: a
limit off the grid counts as the grid price on the trader's side of it). The event's
slippage is s * (fill_price - intended), intended being the limit for limit/stop_limit
and the mid otherwise; positive is worse for the trader.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from common.instruments import Instrument
from worker.models.book import BookSide, square_root_impact
from worker.models.liquidity import ChildTake
from worker.quantities import Lots


@dataclass(slots=True)  # not frozen: built per child fill (worker/models/book.py says why)
class Pricing:
    """What a child fill's price may depend on besides the book."""

    mid: float
    instrument: Instrument
    # The fill's slippage uniform (worker.draws), drawn only by the model that uses it: from a
    # child's third fill on, a draw costs a hash.
    draw: Callable[[], float]
    filled: float  # the parent order's quantity filled before this child
    limit: float | None


class FillPriceModel(ABC):
    @abstractmethod
    def executions(self, book: BookSide, take: ChildTake, lots: Lots, pricing: Pricing) -> list[tuple[float, int]]:
        """(price, units of the order) of each execution of the child `take`, in book order."""

    @staticmethod
    def capped(book: BookSide, ticks: int, limit: float | None) -> float:
        """A price in ticks on the grid, at least one tick, never beyond `limit`."""
        return book.on_grid(max(_within(book, ticks, None if limit is None else book.limit_ticks(limit)), 1))


def _within(book: BookSide, ticks: int, bound: int | None) -> int:
    """`ticks`, or the limit's `bound` where it lies beyond it."""
    if bound is None:
        return ticks
    return min(ticks, bound) if book.sign > 0 else max(ticks, bound)


class BookWalk(FillPriceModel):
    def executions(self, book: BookSide, take: ChildTake, lots: Lots, pricing: Pricing) -> list[tuple[float, int]]:
        bound = None if pricing.limit is None else book.limit_ticks(pricing.limit)
        return [(book.on_grid(max(_within(book, book.price_ticks(level), bound), 1)), units)
                for level, units in walk(book, take, lots, pricing.instrument.depth_levels)]


def walk(book: BookSide, take: ChildTake, lots: Lots, max_levels: int) -> list[tuple[int, int]]:
    """(level, units) of each level the child takes: from `take.start` units deep, level by level;
    what lies past take.last_level, or past `max_levels` executions, goes in one at the deepest."""
    unit = float(lots.unit)
    out: list[tuple[int, int]] = []
    pos, end, last = take.start, take.start + take.units, take.last_level
    level = book.level_of(pos * unit)
    while pos < end:
        if (last is not None and level >= last) or len(out) == max_levels - 1:
            deepest = max(level, book.level_of((end - 1) * unit))
            out.append((deepest if last is None else min(deepest, last), end - pos))
            break
        top = min(end, lots.units_below(book.depth_through(level)))
        if top > pos:
            out.append((level, top - pos))
            pos = top
            level += 1
        else:  # levels thinner than one unit of the order: on to the one that completes it
            level = max(level + 1, book.level_of((pos + 1) * unit) - 1)
    return out


class SqrtImpact(FillPriceModel):
    def __init__(self, impact_coefficient: float) -> None:
        if impact_coefficient < 0:
            raise ValueError(f"impact_coefficient must not be negative, not {impact_coefficient}")
        self._y = impact_coefficient

    def impact(self, mid: float, quantity: float, instrument: Instrument) -> float:
        """Price beyond the touch for a parent order of `quantity` (before rounding to ticks)."""
        return square_root_impact(mid, self._y, instrument, quantity)

    def executions(self, book: BookSide, take: ChildTake, lots: Lots, pricing: Pricing) -> list[tuple[float, int]]:
        quantity = pricing.filled + float(lots.size(take.units))
        ticks = _whole_ticks(self.impact(pricing.mid, quantity, pricing.instrument), book.tick)
        return [(self.capped(book, book.touch_ticks + book.sign * ticks, pricing.limit), take.units)]


class UniformSlippage(FillPriceModel):
    def __init__(self, slippage_bps: float) -> None:
        if slippage_bps < 0:
            raise ValueError(f"slippage_bps must not be negative, not {slippage_bps}")
        self._slip = slippage_bps / 1e4

    def executions(self, book: BookSide, take: ChildTake, lots: Lots, pricing: Pricing) -> list[tuple[float, int]]:
        ticks = _whole_ticks(pricing.draw() * self._slip * pricing.mid, book.tick)
        return [(self.capped(book, book.touch_ticks + book.sign * ticks, pricing.limit), take.units)]


def _whole_ticks(amount: float, tick: float) -> int:
    """`amount` of price in whole ticks, rounded up (away from the trader); bounded for absurd orders."""
    return math.ceil(min(amount / tick, 1e300) - 1e-9)
