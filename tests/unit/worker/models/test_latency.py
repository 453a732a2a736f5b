"""worker.models.latency: each variant's delay_ms stays within its bounds and follows its law."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from tests.builders import BOOK
from worker.models.latency import REFERENCE_VOLATILITY, LognormalLatency, UniformLatency

AAPL = BOOK.get("AAPL")
GRID = [i / 1000 for i in range(1000)] + [1.0 - 2**-53]


def test_uniform_delay_covers_every_millisecond_from_min_to_max_and_nothing_else():
    model = UniformLatency(100, 109)
    delays = [model.delay_ms(u, AAPL) for u in GRID]
    assert set(delays) == set(range(100, 110))
    assert model.delay_ms(0.0, AAPL) == 100 and model.delay_ms(1.0 - 2**-53, AAPL) == 109
    assert delays == sorted(delays)  # monotone in the draw


def test_uniform_delay_with_min_equal_to_max_is_that_delay():
    assert {UniformLatency(250, 250).delay_ms(u, AAPL) for u in GRID} == {250}


def test_lognormal_delay_is_within_bounds_monotone_and_its_median_scales_with_volatility():
    model = LognormalLatency(50, 5_000, median_ms=150.0, sigma=1.0)
    delays = [model.delay_ms(u, AAPL) for u in GRID]
    assert all(50 <= d <= 5_000 for d in delays)
    assert delays == sorted(delays)
    scale = 150.0 * AAPL.daily_volatility / REFERENCE_VOLATILITY
    assert model.delay_ms(0.5, AAPL) == 50 + int(scale)
    assert model.delay_ms(1.0 - 2**-53, AAPL) == 5_000  # the far tail is capped at max
    # u = 0 is clamped to 1e-15 so the quantile stays finite.
    assert model.delay_ms(0.0, AAPL) == 50 + int(scale * math.exp(NormalDist().inv_cdf(1e-15)))


@pytest.mark.parametrize("build", [
    lambda: UniformLatency(10, 9),
    lambda: LognormalLatency(10, 9, 150.0, 1.0),
    lambda: LognormalLatency(0, 10, -1.0, 1.0),
    lambda: LognormalLatency(0, 10, 150.0, -0.5),
])
def test_a_variant_checks_its_parameters_at_construction(build):
    with pytest.raises(ValueError):
        build()
