"""worker.models.fill_price: slippage against the trader, within its bound, never worse than a limit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import BOOK
from worker.market import Quote
from worker.models.fill_price import SqrtImpact, UniformSlippage

AAPL = BOOK.get("AAPL")
QUOTE = Quote(bid=189.99, ask=190.01, mid=190.0, volume=1_000)
DECIMALS = 3
TICK = 10.0**-DECIMALS


@given(u=st.floats(0, 1, exclude_max=True), side=st.sampled_from([1, -1]), bps=st.floats(0, 500))
def test_uniform_slippage_is_against_the_trader_and_never_beyond_its_bound(u, side, bps):
    price = UniformSlippage(bps).fill_price(QUOTE, side, 10, AAPL, DECIMALS, u, None)
    assert 0 <= side * (price - QUOTE.mid) <= QUOTE.mid * bps / 1e4 + 1e-9
    assert round(price, DECIMALS) == price


def test_uniform_slippage_at_zero_draw_or_zero_bps_is_the_mid():
    assert UniformSlippage(5.0).fill_price(QUOTE, 1, 10, AAPL, DECIMALS, 0.0, None) == QUOTE.mid
    assert UniformSlippage(0.0).fill_price(QUOTE, -1, 10, AAPL, DECIMALS, 0.99, None) == QUOTE.mid


@given(u=st.floats(0, 1, exclude_max=True), side=st.sampled_from([1, -1]), offset=st.floats(-0.5, 0.5),
       impact=st.booleans(), size=st.floats(1, 1e7))
def test_a_fill_is_never_worse_than_its_limit(u, side, offset, impact, size):
    model = SqrtImpact(1.0) if impact else UniformSlippage(50.0)
    limit = round(QUOTE.mid + offset, 2)
    price = model.fill_price(QUOTE, side, size, AAPL, DECIMALS, u, limit)
    assert side * (price - limit) <= 0
    assert price == (min(limit, model.slipped(QUOTE, side, size, AAPL, DECIMALS, u)) if side > 0
                     else max(limit, model.slipped(QUOTE, side, size, AAPL, DECIMALS, u)))


@pytest.mark.parametrize("side", [1, -1])
def test_sqrt_impact_is_half_spread_plus_square_root_impact(side):
    model = SqrtImpact(0.7)
    size = 25_000.0
    cost = (QUOTE.ask - QUOTE.bid) / 2 / QUOTE.mid + 0.7 * AAPL.daily_volatility * math.sqrt(size / AAPL.adv)
    assert model.cost(QUOTE, size, AAPL) == cost
    assert model.fill_price(QUOTE, side, size, AAPL, DECIMALS, 0.3, None) == round(QUOTE.mid * (1 + side * cost), DECIMALS)


def test_sqrt_impact_grows_with_size_and_without_impact_pays_the_half_spread():
    model = SqrtImpact(1.0)
    costs = [model.cost(QUOTE, size, AAPL) for size in (1.0, 100.0, 10_000.0, 1_000_000.0)]
    assert costs == sorted(costs) and len(set(costs)) == 4
    assert SqrtImpact(0.0).fill_price(QUOTE, 1, 1e6, AAPL, DECIMALS, 0.5, None) == QUOTE.ask
    assert SqrtImpact(0.0).fill_price(QUOTE, -1, 1e6, AAPL, DECIMALS, 0.5, None) == QUOTE.bid


def test_a_price_is_at_least_one_tick():
    penny = Quote(bid=0.0001, ask=0.0003, mid=0.0002, volume=1)
    assert UniformSlippage(100.0).fill_price(penny, -1, 1, AAPL, DECIMALS, 0.9, None) == TICK
    assert SqrtImpact(100.0).fill_price(penny, -1, 1e12, AAPL, DECIMALS, 0.9, None) == TICK


@pytest.mark.parametrize("build", [lambda: UniformSlippage(-1.0), lambda: SqrtImpact(-0.1)])
def test_a_variant_checks_its_parameters_at_construction(build):
    with pytest.raises(ValueError):
        build()
