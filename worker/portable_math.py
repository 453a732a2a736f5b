"""Portable random normals over numpy arrays: the same bits on every CPU.

Runs in the pool's worker processes, inside worker.brownian_path (a block's steps)
and worker.volatility_regime (the daily shocks). Owns the one way normals are
drawn there: Philox4x64-10 keyed by 16 bytes, counter 0 (`keyed_words`); the top
52 bits of each word as a uniform on [0, 1) (`unit_floats`); Box-Muller
(`box_muller`) with the series here that replace np.log, np.cos and np.sin, which
pick a SIMD kernel per CPU (AVX-512 and AVX2 differ in the last bit). The price
path must be the same bits on every machine, so these use only integer bit
operations and +, -, *, /, frexp and floor. Series to below half an ulp; errors a
few ulps, tested in tests/unit/worker/test_market_scan.py.
"""

from __future__ import annotations

import math

import numpy as np

_SHIFT = np.uint64(12)
_ONE_BITS = np.uint64(0x3FF0_0000_0000_0000)
_ZERO4 = np.zeros(4, dtype=np.uint64)
# One generator for the process, rekeyed for every stream: a fresh Philox costs ~9 us, a new key ~1 us.
_PHILOX = np.random.Philox(key=0)
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


def keyed_words(key: bytes, count: int) -> np.ndarray:
    """`count` 64-bit words of Philox4x64-10 keyed by the 16 bytes `key` (two little-endian words),
    from counter 0: the same words for the same key, whatever was drawn before."""
    _PHILOX.state = {"bit_generator": "Philox", "state": {"counter": _ZERO4, "key": np.frombuffer(key, "<u8")},
                     "buffer": _ZERO4, "buffer_pos": 4, "has_uint32": 0, "uinteger": 0}
    words: np.ndarray = _PHILOX.random_raw(count)
    return words


def unit_floats(words: np.ndarray) -> np.ndarray:
    """Uniforms on [0, 1), exactly: each word's top 52 bits as the mantissa of a double in [1, 2), less 1."""
    unit: np.ndarray = ((words >> _SHIFT) | _ONE_BITS).view(np.float64) - 1.0
    return unit


def box_muller(u1: np.ndarray, u2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals from each pair of uniforms on [0, 1):
    sqrt(-2 ln(1 - u1)) * (cos, sin)(2 pi u2); 1 - u1 is in (0, 1], so the log is finite."""
    radius = np.sqrt(-2.0 * log_unit(1.0 - u1))
    cos, sin = cos_sin_turn(u2)
    return radius * cos, radius * sin
