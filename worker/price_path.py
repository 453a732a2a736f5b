"""One instrument's price path: its log mid from two Brownian paths, and the quoting rule.

Runs in the pool's worker processes, inside worker.market.Market (one PricePath
per instrument, built on first use). Owns the price process and turning it into
bid, ask, mid and volume at a step (worker.market wraps them in a Quote); the
crossing search (worker/crossing_search.py) reads the same log offsets in bulk.
Everything is a pure function of (seed, instrument, step).

Price process. Per instrument, at steps of one second from the instruments file's
reference_time (n = 0):

    log fair(n) = log reference_price + sigma * (rho * F(n) + sqrt(1 - rho^2) * E(n))

sigma the instrument's daily_volatility, rho its factor_weight, F its factor's
path and E its own: Brownian motions in trading time (worker/brownian_path.py),
F on the factor's clock and E on the instrument's (worker/trading_clock.py),
both 0 at the reference time. So the fair price is reference_price exactly at
reference_time; log returns are uncorrelated at every lag and their variance is
sigma^2 times the trading time between the two instants (a random walk: over
h trading days, sigma^2 h on average); a trading day's return has standard
deviation sigma times the square root of that day's volatility multiplier
(worker/volatility_regime.py, mean 1), most of it while the market is open and
more at the open and close; instruments of one factor move together (correlation
rho_1 * rho_2 over a day).

Quote at a step: the spread is spread_bps of the fair price, at least one tick;
bid = fair - spread / 2 rounded down to the tick, ask = bid + spread in whole
ticks, and the quoted mid is their average (on the half-tick grid). Volume, what
trades in the step: adv * (rho^2 v_F + (1 - rho^2) v_E) * (0.5 + u), v the step's
share of a trading day's variance on each clock and u uniform from the step's
draws, in whole lots, at least one lot: volume follows volatility through the day.
"""

from __future__ import annotations

import math

import numpy as np

from common.instruments import Instrument
from worker.brownian_path import BLOCK, BLOCK_LEVELS, BrownianPath, RangeCache

_MASK = BLOCK - 1


class PricePath:
    """One instrument's log offsets (from its own path and its factor's) and quoting rules."""

    __slots__ = ("instrument", "key", "log_base", "factor_scale", "own_scale", "factor_share", "own", "factor",
                 "tick", "decimals", "mid_decimals", "spread_frac", "adv", "lot", "ranges", "per_step")

    def __init__(self, instrument: Instrument, own: BrownianPath, factor: BrownianPath | None, decimals: int,
                 mid_decimals: int, ranges: RangeCache, per_step: float) -> None:
        self.instrument = instrument
        self.key = own.key
        self.log_base = math.log(instrument.reference_price)
        rho = instrument.factor_weight if factor is not None else 0.0
        sigma = instrument.daily_volatility
        self.factor_scale = sigma * rho
        self.own_scale = sigma * math.sqrt(1.0 - rho * rho)
        self.factor_share = rho * rho
        self.own = own
        self.factor = factor if rho != 0.0 else None
        self.tick = instrument.tick_size
        # Decimals of the bid and ask, and of the mid (worker.market.tick_decimals).
        self.decimals = decimals
        self.mid_decimals = mid_decimals
        self.spread_frac = instrument.spread_bps / 1e4
        self.adv = instrument.adv
        self.lot = instrument.lot_size
        # Shared by the Market's paths, keyed (path key, block).
        self.ranges = ranges
        # A step's average volume while the market trades (the touch's depth is scaled by it).
        self.per_step = per_step

    # -- the path ---------------------------------------------------------------------------

    def offsets(self, j0: int, count: int) -> np.ndarray:
        """log fair - log reference_price over blocks j0 .. j0 + count - 1 (the crossing search's rows)."""
        js = list(range(j0, j0 + count))
        own: np.ndarray = self.own_scale * self.own.rows(js)
        if self.factor is None:
            return own
        combined: np.ndarray = self.factor_scale * self.factor.rows(js) + own
        return combined

    def offset(self, step: int) -> float:
        """log fair - log reference_price at `step` (the same arithmetic as offsets, for one step)."""
        own = self.own_scale * self.own.at(step)
        if self.factor is None:
            return own
        return self.factor_scale * self.factor.at(step) + own

    # -- quoting ----------------------------------------------------------------------------

    def mid_of(self, offset: float) -> float:
        """The quoted mid for a log offset (the scalar arithmetic quote() uses)."""
        return self.prices_of(offset)[2]

    def prices_of(self, offset: float) -> tuple[float, float, float]:
        """(bid, ask, mid) quoted for a log offset (the scalar arithmetic quote() uses)."""
        raw = math.exp(self.log_base + offset)
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
        j, i = step >> BLOCK_LEVELS, step & _MASK
        values, variances, draws = self.own.block(j)
        own = self.own_scale * values.item(i)
        share = (1.0 - self.factor_share) * variances.item(i)
        if self.factor is None:
            offset = own
        else:
            f_values, f_variances, _ = self.factor.block(j)
            offset = self.factor_scale * f_values.item(i) + own
            share += self.factor_share * f_variances.item(i)
        bid, ask, mid = self.prices_of(offset)
        lots = max(math.floor(self.adv * share * (0.5 + draws.item(i)) / self.lot), 1)
        return bid, ask, mid, round(lots * self.lot, 8)
