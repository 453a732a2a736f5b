"""The book beyond the touch: price levels and their sizes, calibrated to the square-root law.

Runs in the pool's worker processes (built once per worker by worker.models.build_models).
Owns the depth of the synthetic book on the side of a quote an order takes (the ask
for a buy, the bid for a sell; s = +1 buy, -1 sell):

    level k (0 at the touch)   price_k = touch + s * k * gap
                               size_k  = touch_size * (1 + 2k)
    depth through level k      touch_size * (k + 1)^2
    gap                        mid * Y * daily_volatility * sqrt(touch_depth / adv),
                               in whole ticks, at least one (Y: SIMULATION_IMPACT_COEFFICIENT)

touch_size is the quote's bid_size or ask_size (worker.market: touch_depth scaled by the
step's volume). Taking a quantity Q from the touch reaches level k ~ sqrt(Q / touch_size),
k * gap ~ mid * Y * daily_volatility * sqrt(Q / adv) from the touch when the touch is at
its typical size: walking the book costs the square-root law. A bid side ends at one
tick (no level below it); an ask side does not end. The book is the same for every
order at a given instant: orders do not share it (each takes from its own copy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.instruments import Instrument
from worker.market import Quote, tick_decimals

# Beyond this many levels the square's neighbours are not told apart by a float.
_EXACT_LEVELS = 1 << 40
_FARTHEST_TICKS = float(1 << 60)


def square_root_impact(mid: float, coefficient: float, instrument: Instrument, quantity: float) -> float:
    """The square-root law: how far from the touch taking `quantity` moves the price,
    mid * Y * daily_volatility * sqrt(quantity / adv), before rounding to ticks."""
    return mid * coefficient * instrument.daily_volatility * math.sqrt(quantity / instrument.adv)


# Not frozen: one is built per child fill, and a frozen dataclass's __init__ costs about twice as
# much (object.__setattr__ per field). Nothing changes one after it is built.
@dataclass(slots=True)
class BookSide:
    """The levels of one side of the book at one quote."""

    sign: int  # +1: the ask side (what a buy takes), -1: the bid side
    touch_ticks: int  # the touch price in ticks
    gap_ticks: int
    touch_size: float  # units of the instrument at the touch
    tick: float
    decimals: int  # of the tick grid

    def price_ticks(self, level: int) -> int:
        return self.touch_ticks + self.sign * level * self.gap_ticks

    def price(self, level: int) -> float:
        return self.on_grid(self.price_ticks(level))

    def on_grid(self, ticks: int) -> float:
        return round(ticks * self.tick, self.decimals)

    def depth_through(self, level: int) -> float:
        """Units of the instrument from the touch through `level`."""
        return self.touch_size * (level + 1) ** 2

    def level_of(self, depth: float) -> int:
        """The level holding the unit `depth` units from the touch (0-based position)."""
        k = int(math.sqrt(max(depth, 0.0) / self.touch_size))
        if k >= _EXACT_LEVELS:  # an absurd order: one level more or less is below float precision
            return k
        while self.depth_through(k) <= depth:
            k += 1
        while k > 0 and self.depth_through(k - 1) > depth:
            k -= 1
        return k

    @property
    def last_level(self) -> int | None:
        """The deepest level there is: a bid side's lowest price is one tick; None on an ask side."""
        return (self.touch_ticks - 1) // self.gap_ticks if self.sign < 0 else None

    def limit_ticks(self, limit: float) -> int:
        """A limit on the grid, rounded in the trader's favour (a buy's down, a sell's up)."""
        # A limit no book reaches (1e300) is held to a grid this far out, where it allows every level.
        exact = min(limit / self.tick, _FARTHEST_TICKS)
        return math.floor(exact + 1e-9) if self.sign > 0 else math.ceil(exact - 1e-9)

    def level_within(self, limit: float | None) -> int | None:
        """The deepest level not beyond `limit` (-1: not even the touch); None without a limit."""
        if limit is None:
            return self.last_level
        within = min(self.sign * (self.limit_ticks(limit) - self.touch_ticks) // self.gap_ticks, _EXACT_LEVELS)
        last = self.last_level
        return within if last is None else min(within, last)


class BookDepth:
    """Builds the side of the book an order takes, from the quote and the instrument."""

    def __init__(self, impact_coefficient: float) -> None:
        if impact_coefficient < 0:
            raise ValueError(f"impact_coefficient must not be negative, not {impact_coefficient}")
        self._y = impact_coefficient

    def gap_ticks(self, mid: float, instrument: Instrument) -> int:
        """Ticks between two levels: the square-root law's price of one touch of depth."""
        gap = square_root_impact(mid, self._y, instrument, instrument.touch_depth)
        return max(round(gap / instrument.tick_size), 1)

    def side(self, quote: Quote, sign: int, instrument: Instrument) -> BookSide:
        """The ask side for a buy (sign +1), the bid side for a sell."""
        tick = instrument.tick_size
        price, size = (quote.ask, quote.ask_size) if sign > 0 else (quote.bid, quote.bid_size)
        if size <= 0:  # a quote made without a book: the instrument's typical touch
            size = max(instrument.touch_depth, instrument.lot_size)
        return BookSide(sign=sign, touch_ticks=max(round(price / tick), 1), gap_ticks=self.gap_ticks(quote.mid, instrument),
                        touch_size=size, tick=tick, decimals=tick_decimals(tick))
