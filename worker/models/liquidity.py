"""Liquidity models: how much of an order one fill may take from the market at one instant.

Runs in the pool's worker processes (built once per worker by worker.models.build_models).
Owns the size of a fill (SIMULATION_LIQUIDITY_SHARE) and what happens to a remainder
the market could not absorb (SIMULATION_LIQUIDITY_REMAINDER):

    share       a fill takes min(remaining, share * the quote's volume), in whole
                units of the order, at least one unit
    unlimited   share 0: a fill takes everything that remains

A liquidity-limited remainder fills in child fills one CHILD_FILL_INTERVAL_MS apart
("fill") or is cancelled at once ("cancel"); after SIMULATION_MAX_CHILD_FILLS
executing fills the rest is cancelled (worker.simulator's after-fill step).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from worker.market import Quote
from worker.quantities import Lots


class LiquidityModel(ABC):
    def __init__(self, cancels_remainder: bool) -> None:
        # The rest of an order the market could not absorb is cancelled, not filled later.
        self.cancels_remainder = cancels_remainder

    @abstractmethod
    def units(self, wanted: int, quote: Quote, lots: Lots) -> int:
        """Of `wanted` units of the order, how many one fill at `quote` may take (at least one)."""


class ShareOfVolume(LiquidityModel):
    def __init__(self, share: float, cancels_remainder: bool) -> None:
        super().__init__(cancels_remainder)
        if share <= 0:
            raise ValueError(f"a share of volume must be positive, not {share} (use UnlimitedLiquidity)")
        self._share = share

    def units(self, wanted: int, quote: Quote, lots: Lots) -> int:
        available = lots.units_below(quote.volume * self._share)
        return wanted if available >= wanted else max(available, 1)


class UnlimitedLiquidity(LiquidityModel):
    def units(self, wanted: int, quote: Quote, lots: Lots) -> int:
        return wanted
