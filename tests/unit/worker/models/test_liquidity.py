"""worker.models.liquidity: a fill takes at most its share of the quote's volume, at least one unit."""

from __future__ import annotations

import pytest

from worker.market import Quote
from worker.models.liquidity import ShareOfVolume, UnlimitedLiquidity
from worker.quantities import Lots


def quote(volume: float) -> Quote:
    return Quote(bid=99.0, ask=101.0, mid=100.0, volume=volume)


@pytest.mark.parametrize("volume, share, wanted, units", [
    (1_000, 0.1, 500, 100),  # the share of the volume
    (1_000, 0.1, 60, 60),  # less than the share: all of it
    (1_000, 0.0001, 500, 1),  # below one unit: still one unit
    (1_000, 2.0, 5_000, 2_000),  # a share above one is allowed
])
def test_a_share_of_volume_caps_the_units_of_a_fill(volume, share, wanted, units):
    assert ShareOfVolume(share, cancels_remainder=False).units(wanted, quote(volume), Lots(10_000, 1)) == units


def test_the_share_is_counted_in_the_orders_units():
    lots = Lots(5_000, 100)  # counted in lots of 100
    assert lots.unit == 100 and lots.total == 50
    assert ShareOfVolume(0.5, cancels_remainder=False).units(50, quote(1_000), lots) == 5


def test_unlimited_liquidity_takes_everything_wanted_and_both_carry_the_remainder_policy():
    assert UnlimitedLiquidity(cancels_remainder=False).units(10**9, quote(1), Lots(10**9, 1)) == 10**9
    assert UnlimitedLiquidity(True).cancels_remainder and not ShareOfVolume(0.1, False).cancels_remainder


@pytest.mark.parametrize("share", [0.0, -0.5])
def test_a_share_of_volume_must_be_positive(share):
    with pytest.raises(ValueError):
        ShareOfVolume(share, cancels_remainder=False)
