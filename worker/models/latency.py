"""Latency models: milliseconds from an intent to its arrival at the venue, from one uniform.

Runs in the pool's worker processes (built once per worker by worker.models.build_models).
Owns the arrival delay's distribution (SIMULATION_LATENCY_MODEL):

    uniform     min + floor(u * (max - min + 1)): every whole millisecond in [min, max]
                equally likely
    lognormal   min + scale * exp(sigma * z), z = the standard normal quantile of u and
                scale = SIMULATION_LATENCY_MEDIAN_MS * the instrument's daily volatility
                / REFERENCE_VOLATILITY (slower when the market is busy), capped at max

The same model gives a random partial's second delay (the remainder's wait).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from statistics import NormalDist

from common.instruments import Instrument

# The log-normal latency's scale is latency_median_ms at this daily volatility.
REFERENCE_VOLATILITY = 0.02

_STD_NORMAL = NormalDist()


class LatencyModel(ABC):
    """Delays within [min_delay_ms, max_delay_ms]."""

    def __init__(self, min_delay_ms: int, max_delay_ms: int) -> None:
        if min_delay_ms > max_delay_ms:
            raise ValueError(f"min_delay_ms {min_delay_ms} is above max_delay_ms {max_delay_ms}")
        self.min_delay_ms = min_delay_ms
        self.max_delay_ms = max_delay_ms

    @abstractmethod
    def delay_ms(self, u: float, instrument: Instrument) -> int:
        """The delay drawn by uniform `u` in [0, 1) for an order on `instrument`."""


class UniformLatency(LatencyModel):
    def __init__(self, min_delay_ms: int, max_delay_ms: int) -> None:
        super().__init__(min_delay_ms, max_delay_ms)
        self._span = max_delay_ms - min_delay_ms + 1

    def delay_ms(self, u: float, instrument: Instrument) -> int:
        return self.min_delay_ms + min(int(u * self._span), self._span - 1)


class LognormalLatency(LatencyModel):
    def __init__(self, min_delay_ms: int, max_delay_ms: int, median_ms: float, sigma: float) -> None:
        super().__init__(min_delay_ms, max_delay_ms)
        if median_ms < 0 or sigma < 0:
            raise ValueError(f"lognormal latency needs median_ms >= 0 and sigma >= 0, not {median_ms}, {sigma}")
        self._median_ms = median_ms
        self._sigma = sigma

    def delay_ms(self, u: float, instrument: Instrument) -> int:
        # Clamped so the quantile stays finite at u = 0.
        z = _STD_NORMAL.inv_cdf(min(max(u, 1e-15), 1.0 - 1e-15))
        scale = self._median_ms * instrument.daily_volatility / REFERENCE_VOLATILITY
        return min(self.min_delay_ms + int(scale * math.exp(self._sigma * z)), self.max_delay_ms)
