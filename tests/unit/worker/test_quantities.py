"""worker.quantities: how an order's quantity splits, and its normal form."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.quantities import MAX_EXACT_INT, Lots, exact_rest, normalize_quantity, random_partial_cap, split


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


def _rest_by_fractions(quantity: int | float, filled: list[int | float]) -> int | float:
    """exact_rest's definition, written with fractions.Fraction."""
    exact = Fraction(quantity) - sum(map(Fraction, filled), Fraction(0))
    rest = float(exact)
    if Fraction(rest) > exact:
        rest = math.nextafter(rest, 0.0)
    rounded = round(rest, 8)
    if Fraction(rounded) <= exact and rest - rounded <= 4 * math.ulp(quantity):
        rest = rounded
    return rest


quantities = st.one_of(st.floats(min_value=1e-8, max_value=1e12, allow_nan=False, allow_infinity=False),
                       st.integers(min_value=1, max_value=2**53),
                       st.decimals(min_value=0, max_value=10**6, places=8).map(float).filter(lambda q: q > 0))


@given(quantities, st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), max_size=6), st.booleans())
def test_the_exact_rest_is_what_exact_fractions_give(quantity, shares, integral_parts):
    filled: list[int | float] = [round(quantity * share / 7, 8) for share in shares]
    if integral_parts:
        filled = [int(part) for part in filled]
    ours, theirs = exact_rest(quantity, filled), _rest_by_fractions(quantity, filled)
    assert ours == theirs and type(ours) is type(theirs) and math.copysign(1, ours) == math.copysign(1, theirs)


def test_a_lot_filled_in_float_parts_leaves_the_exact_rest():
    lots = Lots(1.0, 0.0001)
    for _ in range(3):
        size = lots.size_of(1000)
        lots.take(1000, size)
    assert lots.rest() == _rest_by_fractions(1.0, [0.1, 0.1, 0.1]) == 0.7
