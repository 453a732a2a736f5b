"""Fill-price models: where an executing order fills against the quote, never worse than its limit.

Runs in the pool's worker processes (built once per worker by worker.models.build_models).
Owns slippage (SIMULATION_SLIPPAGE_MODEL); s is the side's sign (+1 buy, -1 sell):

    uniform       the mid moved against the trader by u * SLIPPAGE_BPS, rounded to the
                  instrument's decimals and never beyond the bound (then one decimal back
                  toward the mid), at least one tick
    sqrt_impact   the half spread plus square-root impact: price = mid * (1 + s *
                  (half_spread + Y * daily_vol * sqrt(size / adv))), size being the child
                  fill's quantity (SIMULATION_IMPACT_COEFFICIENT is Y)

A limit (limit and stop_limit orders) caps the price: a buy never pays more, a sell
never receives less. The event's slippage is s * (fill_price - intended), intended
being the limit for limit/stop_limit and the mid otherwise; positive is worse for
the trader.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from common.instruments import Instrument
from worker.market import Quote


class FillPriceModel(ABC):
    def fill_price(self, quote: Quote, sign: int, size: float, instrument: Instrument, decimals: int,
                   u: float, limit: float | None) -> float:
        """The price of a fill of `size` at `quote`, from slippage uniform `u`, capped by `limit`."""
        slipped = self.slipped(quote, sign, size, instrument, decimals, u)
        if limit is None:
            return slipped
        return min(limit, slipped) if sign > 0 else max(limit, slipped)

    @abstractmethod
    def slipped(self, quote: Quote, sign: int, size: float, instrument: Instrument, decimals: int,
                u: float) -> float:
        """The price before any limit, rounded to `decimals`, at least one tick of them."""


class UniformSlippage(FillPriceModel):
    def __init__(self, slippage_bps: float) -> None:
        if slippage_bps < 0:
            raise ValueError(f"slippage_bps must not be negative, not {slippage_bps}")
        self._slip = slippage_bps / 1e4

    def slipped(self, quote: Quote, sign: int, size: float, instrument: Instrument, decimals: int,
                u: float) -> float:
        mid = quote.mid
        bound = mid * self._slip
        price = round(mid + sign * bound * u, decimals)
        if sign * (price - mid) > bound:
            price = round(price - sign * 10.0**-decimals, decimals)
        return max(price, 10.0**-decimals)


class SqrtImpact(FillPriceModel):
    def __init__(self, impact_coefficient: float) -> None:
        if impact_coefficient < 0:
            raise ValueError(f"impact_coefficient must not be negative, not {impact_coefficient}")
        self._y = impact_coefficient

    def cost(self, quote: Quote, size: float, instrument: Instrument) -> float:
        """Fraction of the mid paid beyond it (half spread + square-root impact)."""
        half_spread = (quote.ask - quote.bid) / 2 / quote.mid
        return half_spread + self._y * instrument.daily_volatility * math.sqrt(size / instrument.adv)

    def slipped(self, quote: Quote, sign: int, size: float, instrument: Instrument, decimals: int,
                u: float) -> float:
        cost = self.cost(quote, float(size), instrument)
        tick = 10.0**-decimals
        return max(round(quote.mid * (1.0 + sign * cost), decimals), tick)
