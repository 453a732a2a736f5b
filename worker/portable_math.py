"""Portable ln, cos and sin over numpy arrays: the same bits on every CPU.

Runs in the pool's worker processes, inside worker.price_path (the Box-Muller step
that turns a block's uniforms into normals). Owns the series that replace np.log,
np.cos and np.sin, which pick a SIMD kernel per CPU (AVX-512 and AVX2 differ in
the last bit): the price path must be the same bits on every machine, so these use
only +, -, *, /, frexp and floor. Series to below half an ulp; errors a few ulps,
tested in tests/unit/worker/test_market_scan.py.
"""

from __future__ import annotations

import math

import numpy as np

_SQRT_HALF = math.sqrt(0.5)
_LN2 = math.log(2.0)
_HALF_PI = math.pi / 2
# ln m = 2 s * sum_k s^(2k) / (2k + 1), s = (m - 1) / (m + 1), |s| <= 0.172: k = 11 .. 0.
_LOG_COEFFS = tuple(1.0 / (2 * k + 1) for k in range(11, -1, -1))
# sin x = x * sum_k (-1)^k x^(2k) / (2k + 1)!, cos x = sum_k (-1)^k x^(2k) / (2k)!, |x| <= pi / 4: k = 9 .. 0.
_SIN_COEFFS = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(9, -1, -1))
_COS_COEFFS = tuple((-1) ** k / math.factorial(2 * k) for k in range(9, -1, -1))


def _horner(coeffs: tuple[float, ...], z: np.ndarray) -> np.ndarray:
    acc = np.full_like(z, coeffs[0])
    for c in coeffs[1:]:
        acc *= z
        acc += c
    return acc


def log_unit(u: np.ndarray) -> np.ndarray:
    """ln u for u in (0, 1]."""
    m, e = np.frexp(u)  # u = m * 2**e, m in [0.5, 1): exact
    low = m < _SQRT_HALF
    m = np.where(low, m * 2.0, m)  # now in [sqrt(1/2), sqrt(2))
    e = (e - low).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)
    log: np.ndarray = e * _LN2 + 2.0 * s * _horner(_LOG_COEFFS, s * s)
    return log


def cos_sin_turn(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of 2 pi u for u in [0, 1)."""
    t = u * 4.0
    quadrant = np.floor(t)
    f = t - quadrant  # exact: the fraction of the quadrant
    upper = f > 0.5
    x = np.where(upper, 1.0 - f, f) * _HALF_PI  # in [0, pi / 4], reflected in the quadrant's upper half
    z = x * x
    s = x * _horner(_SIN_COEFFS, z)
    c = _horner(_COS_COEFFS, z)
    swap = upper ^ ((quadrant == 1.0) | (quadrant == 3.0))
    cos = np.where(swap, s, c)
    sin = np.where(swap, c, s)
    cos *= np.where((quadrant == 1.0) | (quadrant == 2.0), -1.0, 1.0)
    sin *= np.where(quadrant >= 2.0, -1.0, 1.0)
    return cos, sin
