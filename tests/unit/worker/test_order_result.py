"""worker.order_result: the average fill price of an order that ended short of a full fill."""

from __future__ import annotations

import pytest

from worker.order_result import average_price


def test_nothing_filled_has_no_average():
    assert average_price(0.0, 0, 2, 1, None) is None


def test_the_average_is_the_volume_weighted_price_to_four_more_decimals():
    assert average_price(100 * 10.01 + 50 * 10.02, 150, 2, 1, None) == round((1001.0 + 501.0) / 150, 6)


@pytest.mark.parametrize("sign, limit", [(1, 10.0), (-1, 10.0)])
def test_the_average_is_never_worse_than_the_limit(sign, limit):
    # Each fill is within the limit, but float noise and rounding to 6 decimals could put the
    # average a millionth past it: it is capped.
    assert round(3 * (limit + sign * 5.1e-7) / 3, 6) != limit
    assert average_price(3 * (limit + sign * 5.1e-7), 3, 2, sign, limit) == limit
    assert average_price(3 * (limit - sign * 0.01), 3, 2, sign, limit) == limit - sign * 0.01
