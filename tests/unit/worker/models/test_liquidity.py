"""worker.models.liquidity: a child takes its share of the visible book from the depth still
missing, at least one unit; the depth an order took comes back with the instrument's half-life."""

from __future__ import annotations

import pytest

from tests.builders import BOOK
from worker.market import Quote
from worker.models.book import BookDepth
from worker.models.liquidity import DepthTaken, ShareOfBook, UnlimitedLiquidity
from worker.quantities import Lots

AAPL = BOOK.get("AAPL")
QUOTE = Quote(bid=189.99, ask=190.01, mid=190.0, volume=1_000, bid_size=1_000, ask_size=1_000)
BOOK_SIDE = BookDepth(1.0).side(QUOTE, 1, AAPL)  # 1,000 at the touch: 1,000 * (k + 1)^2 through level k


@pytest.mark.parametrize("share, wanted, missing, units", [
    (1.0, 500_000, 0.0, 400_000),  # the visible book: 20 levels, 1,000 * 20^2
    (0.1, 500_000, 0.0, 40_000),  # a share of it
    (1.0, 60, 0.0, 60),  # less than the reach: all of it
    (1.0, 500_000, 300_000.0, 100_000),  # what is still missing is not there
    (1.0, 500_000, 400_000.0, 1),  # nothing left to reach: still one unit
])
def test_a_child_takes_from_the_missing_depth_to_its_reach(share, wanted, missing, units):
    take = ShareOfBook(share, cancels_remainder=False).child(wanted, BOOK_SIDE, Lots(10**6, 1), missing, 20, None)
    assert take.units == units and take.start == int(missing)


def test_the_reach_is_counted_in_the_orders_units():
    lots = Lots(500_000, 100)  # counted in lots of 100
    take = ShareOfBook(1.0, cancels_remainder=False).child(lots.total, BOOK_SIDE, lots, 0.0, 20, None)
    assert take.units == 4_000


def test_unlimited_liquidity_takes_everything_wanted_up_to_a_limit():
    assert UnlimitedLiquidity(False).child(10**9, BOOK_SIDE, Lots(10**9, 1), 0.0, 20, None).units == 10**9
    assert UnlimitedLiquidity(False).child(10**9, BOOK_SIDE, Lots(10**9, 1), 0.0, 20, 190.03).units == 4_000
    assert UnlimitedLiquidity(True).cancels_remainder and not ShareOfBook(0.1, False).cancels_remainder


def test_taken_depth_recovers_with_its_half_life():
    taken = DepthTaken()
    assert taken.missing(5_000, 30.0) == 0.0
    taken.take(1_000.0, 0, 30.0)
    assert taken.missing(0, 30.0) == 1_000.0
    assert taken.missing(30_000, 30.0) == pytest.approx(500.0)
    assert taken.missing(90_000, 30.0) == pytest.approx(125.0)
    taken.take(200.0, 30_000, 30.0)  # what is still missing plus the new take
    assert taken.quantity == pytest.approx(700.0) and taken.at_ms == 30_000


@pytest.mark.parametrize("share", [0.0, -0.5])
def test_a_share_of_the_book_must_be_positive(share):
    with pytest.raises(ValueError):
        ShareOfBook(share, cancels_remainder=False)
