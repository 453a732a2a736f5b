"""The volatility regime: how volatile each day is, shared by the instruments of a factor.

Runs in the pool's worker processes, inside worker.market.Market (one regime per
factor, built on first use, ~10 ms). Owns h(d), the multiplier of day d's
variance: log h is a stationary AR(1) over UTC days,

    x(d) = phi * x(d - 1) + sqrt(1 - phi^2) * vol_of_vol * z(d),   phi = 0.5 ** (1 / vol_half_life_days)
    h(d) = exp(x(d) - vol_of_vol^2 / 2)                            (mean 1)

with z(d) standard normals from Philox keyed by blake2b(seed, factor) and x at
the first day drawn from its stationary law. A volatile day is followed by
volatile days (clustering) and returns are a variance mixture of normals (fat
tails: a day's excess kurtosis is 3 (exp(vol_of_vol^2) - 1), 1.3 at 0.6), while
returns themselves stay uncorrelated. Days outside FIRST_DAY .. LAST_DAY
(worker.sessions) have h = 1; vol_of_vol = 0 gives h = 1 everywhere.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date

import numpy as np

from worker.portable_math import box_muller, keyed_words, unit_floats
from worker.sessions import FIRST_DAY, LAST_DAY

DAY_MS = 86_400_000
FIRST_EPOCH_DAY = (FIRST_DAY - date(1970, 1, 1)).days
_DAYS = (LAST_DAY - FIRST_DAY).days + 1


def portable_normals(key: bytes, count: int) -> np.ndarray:
    """`count` standard normals from Philox keyed by blake2b(key), by Box-Muller with the portable
    ln, cos and sin (the same bits on every CPU)."""
    pairs = (count + 1) // 2
    unit = unit_floats(keyed_words(hashlib.blake2b(key, digest_size=16).digest(), 2 * pairs))
    normals: np.ndarray = np.concatenate(box_muller(unit[:pairs], unit[pairs:]))[:count]
    return normals


class VolatilityRegime:
    """Each UTC day's variance multiplier for one factor."""

    __slots__ = ("_h",)


    def __init__(self, seed: bytes, factor: str, vol_of_vol: float, half_life_days: float) -> None:
        if vol_of_vol == 0:
            self._h: list[float] = []
            return
        z = portable_normals(bytes(seed) + b"|regime|" + factor.encode(), _DAYS).tolist()
        phi = 0.5 ** (1.0 / half_life_days)
        shock = math.sqrt(1.0 - phi * phi) * vol_of_vol
        centre = vol_of_vol * vol_of_vol / 2
        x = vol_of_vol * z[0]
        h = [math.exp(x - centre)]
        for zd in z[1:]:
            x = phi * x + shock * zd
            h.append(math.exp(x - centre))
        self._h = h

    def multipliers(self, days: np.ndarray) -> np.ndarray:
        """h of each UTC day (days since 1970-01-01); 1 outside the regime's range."""
        if not len(self._h):
            return np.ones(len(days))
        i = days - FIRST_EPOCH_DAY
        inside = (i >= 0) & (i < len(self._h))
        table = np.array(self._h)
        found: np.ndarray = np.where(inside, table[np.clip(i, 0, len(self._h) - 1)], 1.0)
        return found
