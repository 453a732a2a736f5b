"""The venue's grid: limit and stop prices on the tick, quantities in whole lots.

Runs in the pool's worker processes, asked once per order by the execution pipeline
(worker.simulator) when the order arrives. Owns the rule a venue applies at order entry:
an order's limit price (limit, stop_limit) and stop price (stop, stop_limit) must be
multiples of the instrument's tick_size, and its quantity a multiple of its lot_size.
Off the grid, SIMULATION_OFF_GRID decides:

    reject (default)  the order is refused: price_off_tick or quantity_off_lot, the reason
                      naming the instrument, the value and the grid
    round             the order is taken as the venue would round it, never to the trader's
                      advantage: a buy limit down and a sell limit up (less aggressive), a
                      buy stop up and a sell stop down (triggers later), the quantity down to
                      whole lots; refused when that leaves no lot, or a price of zero
    accept            taken as sent (a broker's fractional shares, say): the fills are still
                      priced by the models, and split in whole lots only when the order is
                      a multiple of the lot (worker.quantities)

Binary floats: a value is on the grid when it lies within GRID_TOLERANCE of a step of a
multiple, widened to the float's own precision at that magnitude (a few ulps of
value / step), so 2641.3 on a 0.1 tick, 1.03541 on 0.00001 and 12345.67891 BTC in lots
of 0.00001 are on it, while anything a millionth of a step away is not. A forced outcome
(metadata.exec_sim_force with an outcome) skips the rule, as it skips the venue's others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from common.config import Settings
from common.instruments import Instrument
from worker.events import PRICE_OFF_TICK, QUANTITY_OFF_LOT
from worker.market import tick_decimals
from worker.order import Order
from worker.quantities import QUANTITY_DECIMALS, normalize_quantity

# Of a tick or a lot: far below any price a trader means, far above decimal-to-binary noise.
GRID_TOLERANCE = 1e-9
# Float noise of value / step: the value's rounding, the step's and the division's.
_NOISE_ULPS = 4
# From 2**52 on, consecutive floats are a whole unit or more apart.
_WHOLE_FLOATS = 2.0**52
_LIMIT_TYPES = ("limit", "stop_limit")
_STOP_TYPES = ("stop", "stop_limit")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the venue refuses the order at entry (a reason code of worker.events)."""

    code: str
    reason: str


class Admission(NamedTuple):  # a NamedTuple: built once per intent, a third of a frozen dataclass's cost
    """The order as the venue took it, or why it refused it."""

    order: Order  # rounded onto the grid where SIMULATION_OFF_GRID=round moved it
    refusal: Refusal | None = None
    # The intent's own values of the fields that were rounded (metadata.rounded_from).
    rounded_from: tuple[tuple[str, int | float], ...] = ()


def on_grid(value: float, step: float) -> bool:
    """`value` is a multiple of `step`, up to GRID_TOLERANCE of a step and the float's own noise."""
    steps = value / step
    if steps >= _WHOLE_FLOATS:  # a float this large holds no fraction of a step (inf included)
        return True
    off = abs(steps - round(steps))
    return off <= GRID_TOLERANCE or off <= GRID_TOLERANCE + _NOISE_ULPS * math.ulp(steps)


def _plain(value: float) -> str:
    """A number as a trader writes it: 0.00001, not 1e-05; 1, not 1.0."""
    return format(Decimal(repr(value)).normalize(), "f")


class PriceGrid:
    """The entry check of the instrument's tick and lot (SIMULATION_OFF_GRID)."""

    def __init__(self, settings: Settings) -> None:
        self._round = settings.off_grid == "round"
        self._checked = settings.off_grid != "accept"

    def admit(self, order: Order, instrument: Instrument) -> Admission:
        """The order on the grid, rounded (round) or refused (reject) when it is not."""
        if order.forced is not None or not self._checked:
            return Admission(order)
        tick = instrument.tick_size
        price, stop = order.price, order.stop_price
        # A buy limit rounds down and a sell limit up; a stop the other way: both less aggressive.
        if order.order_type in _LIMIT_TYPES and price is not None:
            limit = self._price(order, "limit", price, order.sign < 0, tick)
            if isinstance(limit, Refusal):
                return Admission(order, limit)
            price = limit
        if order.order_type in _STOP_TYPES and stop is not None:
            trigger = self._price(order, "stop", stop, order.sign > 0, tick)
            if isinstance(trigger, Refusal):
                return Admission(order, trigger)
            stop = trigger
        quantity = self._quantity(order, instrument.lot_size)
        if isinstance(quantity, Refusal):
            return Admission(order, quantity)
        if price is order.price and stop is order.stop_price and quantity is order.quantity:
            return Admission(order)  # on the grid as sent: the same objects came back
        rounded_from = tuple((name, sent) for name, sent, taken in (
            ("price", order.price, price), ("stop_price", order.stop_price, stop), ("quantity", order.quantity, quantity),
        ) if sent is not None and sent != taken)
        return Admission(order._replace(price=price, stop_price=stop, quantity=quantity), rounded_from=rounded_from)

    def _price(self, order: Order, label: str, price: float, upward: bool, tick: float) -> float | Refusal:
        """A limit or stop price on the tick: as sent, rounded onto it, or refused."""
        if on_grid(price, tick):
            return price
        what = f"{order.instrument} {label} {_plain(price)}"
        if not self._round:
            return Refusal(PRICE_OFF_TICK, f"{what} is not a multiple of tick_size {_plain(tick)}")
        steps = price / tick
        rounded = round((math.ceil(steps) if upward else math.floor(steps)) * tick, tick_decimals(tick))
        if rounded <= 0:
            return Refusal(PRICE_OFF_TICK, f"{what} rounds to 0 on tick_size {_plain(tick)}")
        return rounded

    def _quantity(self, order: Order, lot: float) -> int | float | Refusal:
        """The quantity in whole lots: as sent, rounded down to them, or refused."""
        quantity = order.quantity
        if on_grid(quantity, lot):
            return quantity
        what = f"{order.instrument} quantity {_plain(quantity)}"
        if not self._round:
            return Refusal(QUANTITY_OFF_LOT, f"{what} is not a multiple of lot_size {_plain(lot)}")
        lots = math.floor(quantity / lot)
        if lots < 1:
            return Refusal(QUANTITY_OFF_LOT, f"{what} is less than one lot_size {_plain(lot)}")
        return normalize_quantity(round(lots * lot, QUANTITY_DECIMALS))
