"""worker.quantities: how an order's quantity splits, and its normal form."""

from __future__ import annotations

import pytest

from worker.quantities import MAX_EXACT_INT, Lots, normalize_quantity, random_partial_cap, split


@pytest.mark.parametrize("quantity, expected", [(100, 100), (100.0, 100), (2.5, 2.5), (2.0**60, 2.0**60),
                                                (MAX_EXACT_INT + 1, float(MAX_EXACT_INT + 1))])
def test_whole_quantities_are_ints_below_exact_float_integers(quantity, expected):
    normal = normalize_quantity(quantity)
    assert normal == expected and type(normal) is type(expected)


@pytest.mark.parametrize("quantity", [2, 7, 100, 2.5, 0.37, 1e-7])
@pytest.mark.parametrize("u", [0.0, 0.5, 0.999])
def test_a_split_is_two_positive_parts_never_more_than_the_order(quantity, u):
    parts = split(quantity, u)
    if parts is None:  # only a fraction too small to split at this ratio
        assert isinstance(quantity, float) and not 0 < round(quantity * (0.1 + 0.8 * u), 8) < quantity
        return
    first, rest = parts
    assert 0 < first and 0 < rest and first + rest <= quantity


def test_one_unit_cannot_split_and_a_cap_leaves_at_least_one_unit():
    assert split(1, 0.5) is None
    lots = Lots(10, 1)
    assert all(1 <= (random_partial_cap(lots, 10, u) or 0) <= 9 for u in (0.0, 0.5, 0.999))
    assert random_partial_cap(Lots(1, 1), 1, 0.5) is None
