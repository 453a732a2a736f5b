"""Estimators for the price-process tests: autocorrelations with a band that holds when volatility
clusters, Bonferroni thresholds, and the t-statistics and Sharpe ratios of trivial trading rules.

Runs in the test process only (tests/unit/worker/test_price_process_statistics.py). Plain numpy
and scipy over arrays of log returns; nothing here knows the market.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# Family-wise error of each test: a correct price process fails a given test with at most this
# chance (and, the seeds being fixed, then fails it every time).
FAMILY_ALPHA = 0.001


def bonferroni_z(tests: int, family_alpha: float = FAMILY_ALPHA) -> float:
    """|z| beyond which one of `tests` two-sided z-tests rejects, at family-wise error family_alpha."""
    return float(stats.norm.isf(family_alpha / (2 * tests)))


@dataclass(frozen=True, slots=True)
class Autocorrelation:
    lag: int
    value: float
    z: float  # value over its heteroskedasticity-robust standard error


def autocorrelations(returns: np.ndarray, lags: Iterable[int]) -> list[Autocorrelation]:
    """The sample autocorrelation of returns at each lag, with a robust z.

    se_k = sqrt(sum x_t^2 x_{t-k}^2) / sum x_t^2 (x the demeaned returns): under no
    autocorrelation value/se_k is about N(0, 1) even when variance clusters, where the naive band
    1/sqrt(N) is too narrow (it assumes sum x_t^2 x_{t-k}^2 = (sum x_t^2)^2 / N).
    """
    x = returns - returns.mean()
    squares = x * x
    total = squares.sum()
    found = []
    for k in lags:
        value = float((x[k:] * x[:-k]).sum() / total)
        se = math.sqrt(float((squares[k:] * squares[:-k]).sum())) / total
        found.append(Autocorrelation(k, value, value / se))
    return found


def worst(found: Sequence[Autocorrelation]) -> Autocorrelation:
    return max(found, key=lambda a: abs(a.z))


def plain_autocorrelation(series: np.ndarray, lag: int) -> float:
    x = series - series.mean()
    return float((x[lag:] * x[:-lag]).sum() / (x * x).sum())


def excess_kurtosis(returns: np.ndarray) -> float:
    return float(stats.kurtosis(returns, fisher=True, bias=False))


def robust_correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Pearson correlation and its z against 0, robust to shared volatility clustering
    (se = sqrt(sum x^2 y^2) / sqrt(sum x^2 sum y^2), x and y demeaned)."""
    x, y = a - a.mean(), b - b.mean()
    norm = math.sqrt(float((x * x).sum() * (y * y).sum()))
    value = float((x * y).sum()) / norm
    return value, value / (math.sqrt(float((x * x * y * y).sum())) / norm)


@dataclass(frozen=True, slots=True)
class RuleResult:
    name: str
    t: float  # t-statistic of the mean profit per holding period
    sharpe: float  # annualised


def sign_rule(returns: np.ndarray, lookback: int, hold: int, skip: int, periods_per_year: float) -> RuleResult:
    """Momentum: the position sign(return over the `lookback` periods that ended `skip` periods
    ago), taken at a period's end and held for the next `hold` periods, then taken again.

    Reversal is the same rule with the opposite position: the same |t| and |Sharpe|. The holds do
    not overlap, so each profit is a sum of returns after its decision: under no predictability
    the profits are martingale differences and mean / sd * sqrt(n) is about N(0, 1).
    """
    cum = np.concatenate(([0.0], np.cumsum(returns)))
    decisions = np.arange(lookback + skip, len(returns) - hold + 1, hold)
    past = cum[decisions - skip] - cum[decisions - skip - lookback]
    profit = np.sign(past) * (cum[decisions + hold] - cum[decisions])
    ratio = float(profit.mean() / profit.std(ddof=1))
    name = f"lookback {lookback} hold {hold}" + (f" (the return of {skip + 1} periods ago)" if skip else "")
    return RuleResult(name, ratio * math.sqrt(len(profit)), ratio * math.sqrt(periods_per_year / hold))


def rule_family(returns: np.ndarray, lookbacks: Sequence[int], echo_lags: Sequence[int],
                periods_per_year: float) -> list[RuleResult]:
    """Momentum over each lookback held one period and held `lookback` periods, and the bet on
    the one-period return of each echo lag ago (held one period)."""
    results = [sign_rule(returns, lookback, 1, 0, periods_per_year) for lookback in lookbacks]
    results += [sign_rule(returns, lookback, lookback, 0, periods_per_year) for lookback in lookbacks if lookback > 1]
    results += [sign_rule(returns, 1, 1, lag - 1, periods_per_year) for lag in echo_lags if lag > 1]
    return results
