"""An order's quantity in whole units: how it splits into partial and child fills.

Runs in the pool's worker processes, used by the execution pipeline (worker.simulator).
Owns the quantity rules. Sizes are whole lots when the order is a multiple of the
lot, else whole units (integral orders) or 8-decimal parts, and the last fill
takes the exact remainder: the fills never add up to more than the order. A
random partial (SIMULATION_PARTIAL_FILL_CHANCE) caps the first fill at a share r
in [PARTIAL_MIN_RATIO, PARTIAL_MAX_RATIO] of the order (`split`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

PARTIAL_MIN_RATIO = 0.1
PARTIAL_MAX_RATIO = 0.9
QUANTITY_DECIMALS = 8
# Integers beyond this are handled as floats (exact in a double, and in range for orjson).
MAX_EXACT_INT = 2**53
# An order beyond exact float integers is split in this many equal chunks (liquidity still applies).
HUGE_ORDER_CHUNKS = 1 << 20


class Lots:
    """One order's quantity, counted in whole units, and what has been filled of it.

    The unit is the instrument's lot when the order is a whole number of lots,
    else 1 for an integral order, else 1e-8. Child fills take whole units; the
    fill that completes an order takes the exact remainder, computed against
    the exact sum of the floats already filled, so the parts never add up to
    more than the order.
    """

    __slots__ = ("quantity", "unit", "total", "filled_units", "_filled_whole", "_filled_parts")

    def __init__(self, quantity: int | float, lot: float) -> None:
        self.quantity = quantity
        lots = quantity / lot
        self.unit: int | float
        if quantity >= MAX_EXACT_INT:
            # Beyond exact integers in a float: count it in 2**20 equal chunks instead.
            self.unit, self.total = quantity / HUGE_ORDER_CHUNKS, HUGE_ORDER_CHUNKS
        elif abs(lots - round(lots)) <= 1e-9 * max(lots, 1.0) and round(lots) >= 1:
            whole = float(lot).is_integer() and isinstance(quantity, int)
            self.unit = int(lot) if whole else float(lot)
            self.total = int(round(lots))
        elif isinstance(quantity, int):
            self.unit, self.total = 1, quantity
        else:
            self.unit = 10.0**-QUANTITY_DECIMALS
            self.total = max(int(quantity * 10**QUANTITY_DECIMALS), 1)
        self.filled_units = 0
        # What has been filled, exactly: the integral sizes summed, the others kept as they are and
        # summed exactly only when the rest is asked for.
        self._filled_whole = 0
        self._filled_parts: list[float] = []

    @property
    def remaining_units(self) -> int:
        return self.total - self.filled_units

    @property
    def filled(self) -> int | float:
        """Executed quantity so far, as reported."""
        if self.filled_units >= self.total:
            return self.quantity
        return self.size(self.filled_units)

    def units_below(self, amount: float) -> int:
        """Whole units in `amount`."""
        return int(amount / self.unit + 1e-9)

    def size(self, units: int) -> int | float:
        if isinstance(self.unit, int):
            return units * self.unit
        return round(units * self.unit, QUANTITY_DECIMALS)

    def size_of(self, units: int) -> int | float:
        """The quantity `units` fill: the exact rest when they are all that is left."""
        return self.rest() if units >= self.remaining_units else self.size(units)

    def take(self, units: int, size: int | float) -> None:
        """Record a fill of `units` whose quantity (from size_of) is `size`."""
        self.filled_units = min(self.filled_units + units, self.total)
        if isinstance(size, int):
            self._filled_whole += size
        else:
            self._filled_parts.append(size)

    def rest(self) -> int | float:
        """What is left of the order, never more than exactly that."""
        if not self._filled_parts:
            if not self._filled_whole:
                return self.quantity
            if isinstance(self.quantity, int):
                return self.quantity - self._filled_whole
        return exact_rest(self.quantity, (self._filled_whole, *self._filled_parts))


def exact_rest(quantity: int | float, filled: Iterable[int | float]) -> int | float:
    """quantity - sum(filled), in its 8-decimal form when that is the complement up to
    float noise, and never more than the exact difference."""
    # Exact rational arithmetic on n / d with d a power of two (every float is one): what
    # fractions.Fraction would compute, without its gcd on every step.
    n, d = quantity.as_integer_ratio()
    for part in filled:
        part_n, part_d = part.as_integer_ratio()
        if part_d > d:
            n, d = n * (part_d // d), part_d
        n -= part_n * (d // part_d)
    rest = n / d  # correctly rounded (CPython's integer true division): at most one step above
    rest_n, rest_d = rest.as_integer_ratio()
    if rest_n * d > n * rest_d:
        rest = math.nextafter(rest, 0.0)
    rounded = round(rest, QUANTITY_DECIMALS)
    rounded_n, rounded_d = rounded.as_integer_ratio()
    if rounded_n * d <= n * rounded_d and rest - rounded <= 4 * math.ulp(quantity):
        rest = rounded
    return rest


def split(quantity: int | float, u: float) -> tuple[int | float, int | float] | None:
    """(first, rest) with 0 < first, 0 < rest, first + rest <= quantity; None if it cannot split."""
    ratio = PARTIAL_MIN_RATIO + (PARTIAL_MAX_RATIO - PARTIAL_MIN_RATIO) * u
    if isinstance(quantity, int):
        if quantity < 2:
            return None
        first_units = min(max(int(quantity * ratio), 1), quantity - 1)
        return first_units, quantity - first_units
    first = round(quantity * ratio, QUANTITY_DECIMALS)
    if not 0 < first < quantity:
        return None
    rest = exact_rest(quantity, (first,))
    return (first, rest) if rest > 0 else None


def random_partial_cap(lots: Lots, quantity: int | float, ratio_draw: float) -> int | None:
    """The units a random partial lets the first fill take, None when the order cannot split."""
    parts = split(quantity, ratio_draw)
    if parts is None:
        return None
    return min(max(lots.units_below(parts[0]), 1), lots.total - 1) or None


def normalize_quantity(quantity: int | float) -> int | float:
    """Whole quantities as int (split into whole units), others as float."""
    if isinstance(quantity, int):
        return quantity if quantity < MAX_EXACT_INT else float(quantity)
    if quantity.is_integer() and quantity < MAX_EXACT_INT:
        return int(quantity)
    return quantity
