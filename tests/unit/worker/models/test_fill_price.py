"""worker.models.fill_price and worker.models.book: executions on the tick grid, at the touch or
beyond it, never beyond a limit; the book's levels cost the square-root law."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.builders import BOOK
from worker.market import Quote
from worker.models.book import BookDepth
from worker.models.fill_price import BookWalk, Pricing, SqrtImpact, UniformSlippage
from worker.models.liquidity import ChildTake, ShareOfBook, UnlimitedLiquidity
from worker.quantities import Lots

AAPL = BOOK.get("AAPL")
ES = BOOK.get("ES_F")
# AAPL: a spread of two ticks, 3,000 shares at each touch.
QUOTE = Quote(bid=189.99, ask=190.01, mid=190.0, volume=1_000, bid_size=3_000, ask_size=3_000)
TICK = AAPL.tick_size


def pricing(limit: float | None = None, u: float = 0.5, filled: float = 0.0) -> Pricing:
    return Pricing(mid=QUOTE.mid, instrument=AAPL, draw=lambda: u, filled=filled, limit=limit)


def on_grid(price: float) -> bool:
    return abs(price / TICK - round(price / TICK)) < 1e-6


def test_the_level_gap_is_the_square_root_law_of_one_touch_in_whole_ticks():
    gap = QUOTE.mid * 1.0 * AAPL.daily_volatility * math.sqrt(AAPL.touch_depth / AAPL.adv)
    assert BookDepth(1.0).gap_ticks(QUOTE.mid, AAPL) == max(round(gap / TICK), 1) == 2
    assert BookDepth(0.0).gap_ticks(QUOTE.mid, AAPL) == 1  # at least one tick
    side = BookDepth(1.0).side(QUOTE, 1, AAPL)
    assert [side.price(k) for k in range(3)] == [190.01, 190.03, 190.05]
    assert [side.depth_through(k) for k in range(3)] == [3_000, 12_000, 27_000]  # touch * (k + 1)^2
    assert [side.level_of(d) for d in (0, 2_999, 3_000, 11_999, 12_000)] == [0, 0, 1, 1, 2]
    bid = BookDepth(1.0).side(QUOTE, -1, AAPL)
    assert bid.price(1) == 189.97 and bid.last_level == (18_999 - 1) // 2  # no bid below one tick


@pytest.mark.parametrize("sign", [1, -1])
def test_the_book_walk_reports_one_execution_per_level_at_its_price(sign):
    book = BookDepth(1.0).side(QUOTE, sign, AAPL)
    lots = Lots(10_000, 1)
    take = UnlimitedLiquidity(False).child(10_000, book, lots, 0.0, 20, None)
    executions = BookWalk().executions(book, take, lots, pricing())
    assert executions == [(book.price(0), 3_000), (book.price(1), 7_000)]  # level 1 holds 9,000
    # The depth the order already took is gone: the next child starts deeper.
    deeper = UnlimitedLiquidity(False).child(4_000, book, lots, 10_000.0, 20, None)
    assert BookWalk().executions(book, deeper, lots, pricing()) == [(book.price(1), 2_000), (book.price(2), 2_000)]


def test_the_book_walk_never_goes_past_the_limit_nor_the_visible_book():
    book = BookDepth(1.0).side(QUOTE, 1, AAPL)
    lots = Lots(1_000_000, 1)
    limited = ShareOfBook(1.0, False).child(1_000_000, book, lots, 0.0, 20, limit=190.04)
    assert limited.units == 12_000 and limited.last_level == 1  # two levels are within 190.04
    assert max(p for p, _ in BookWalk().executions(book, limited, lots, pricing(190.04))) == 190.03
    visible = ShareOfBook(1.0, False).child(10**7, book, Lots(10**7, 1), 0.0, 20, None)
    assert visible.units == 3_000 * 20**2 and visible.last_level == 19
    half = ShareOfBook(0.5, False).child(10**7, book, Lots(10**7, 1), 0.0, 20, None)
    assert half.units == 3_000 * 20**2 // 2


def test_unlimited_liquidity_reports_at_most_depth_levels_executions():
    book = BookDepth(1.0).side(QUOTE, 1, AAPL)
    lots = Lots(10**9, 1)
    take = UnlimitedLiquidity(False).child(10**9, book, lots, 0.0, 20, None)
    executions = BookWalk().executions(book, take, lots, pricing())
    assert len(executions) == 20 and sum(u for _, u in executions) == 10**9
    assert executions[-1][0] == book.price(book.level_of(10**9 - 1))  # the rest at the deepest level


@given(u=st.floats(0, 1, exclude_max=True), side=st.sampled_from([1, -1]), offset=st.integers(0, 30),
       model=st.sampled_from(["book", "sqrt", "uniform"]), size=st.integers(1, 10**8))
def test_every_price_is_on_the_grid_at_the_touch_or_beyond_and_never_beyond_a_limit(u, side, offset, model, size):
    book = BookDepth(1.0).side(QUOTE, side, AAPL)
    limit = round((QUOTE.ask if side > 0 else QUOTE.bid) + side * offset * TICK, 2)
    lots = Lots(size, 1)
    take = ShareOfBook(1.0, False).child(size, book, lots, 0.0, 20, limit)
    chosen = {"book": BookWalk(), "sqrt": SqrtImpact(1.0), "uniform": UniformSlippage(50.0)}[model]
    for price, _ in chosen.executions(book, take, lots, pricing(limit, u)):
        touch = QUOTE.ask if side > 0 else QUOTE.bid
        assert on_grid(price) and side * (price - touch) >= -1e-9 and side * (price - limit) <= 1e-9


def test_sqrt_impact_prices_the_parent_orders_cumulative_quantity():
    book = BookDepth(1.0).side(QUOTE, 1, AAPL)
    lots = Lots(200_000, 1)
    take = ChildTake(0, 50_000, None)
    model = SqrtImpact(1.0)
    alone = model.executions(book, take, lots, pricing(filled=0.0))[0][0]
    after = model.executions(book, take, lots, pricing(filled=150_000.0))[0][0]
    want = QUOTE.mid * AAPL.daily_volatility * math.sqrt(200_000 / AAPL.adv)
    assert after == round(QUOTE.ask + math.ceil(want / TICK) * TICK, 2) and after > alone
    assert SqrtImpact(0.0).executions(book, take, lots, pricing())[0][0] == QUOTE.ask


def test_uniform_slippage_is_whole_ticks_beyond_the_touch():
    book = BookDepth(1.0).side(QUOTE, -1, AAPL)
    take = ChildTake(0, 10, None)
    slip = 0.9 * 50 / 1e4 * QUOTE.mid
    assert UniformSlippage(50.0).executions(book, take, Lots(10, 1), pricing(u=0.9))[0][0] == round(
        QUOTE.bid - math.ceil(slip / TICK) * TICK, 2)
    assert UniformSlippage(50.0).executions(book, take, Lots(10, 1), pricing(u=0.0))[0][0] == QUOTE.bid


def test_a_price_is_at_least_one_tick():
    penny = Quote(bid=0.01, ask=0.03, mid=0.02, volume=1, bid_size=1, ask_size=1)
    book = BookDepth(100.0).side(penny, -1, AAPL)
    lots = Lots(10**6, 1)
    for model in (UniformSlippage(10_000.0), SqrtImpact(100.0)):
        assert model.executions(book, ChildTake(0, 10**6, None), lots, pricing(u=0.99))[0][0] == TICK
    take = UnlimitedLiquidity(False).child(10**6, book, lots, 0.0, 20, None)
    assert min(p for p, _ in BookWalk().executions(book, take, lots, pricing())) == TICK


@pytest.mark.parametrize("build", [lambda: UniformSlippage(-1.0), lambda: SqrtImpact(-0.1), lambda: BookDepth(-1.0)])
def test_a_variant_checks_its_parameters_at_construction(build):
    with pytest.raises(ValueError):
        build()
