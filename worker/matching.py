"""Matching: how an executing order meets the book, one child fill at a time.

Runs in the pool's worker processes, the fill step of the execution pipeline
(worker.simulator). Owns what a child fill takes and the fills it reports:

    taker    an order that executes on arrival (market, a marketable limit, a
             triggered stop) takes the side of the book its side takes (the ask for a
             buy), from the depth it has already taken and not seen recover
             (worker.models.liquidity) up to its reach, and the fill-price model
             prices it (worker.models.fill_price): under `book`, one fill per level
    maker    a limit that has rested in the book (posted) fills at its limit exactly
             when the market trades through it (a buy: the ask at or below the limit;
             a sell: the bid at or above it), the quantity the opposite side offers up
             to the limit, as a taker's child would take it (worker.models.liquidity)
    queue    under SIMULATION_QUEUE_MODEL=probabilistic, a limit posted behind the touch
             (a buy below the bid, a sell above the ask) fills once, at its limit, when
             its own side of the quote first reaches it, with chance
             SIMULATION_QUEUE_FILL_CHANCE (the order's queue draw, worker.draws): up to
             the touch's size; otherwise, and after that once, it waits to be traded through

A forced outcome (worker.directives) fills as scripted, in one fill at the touch. All
fills of one child share its instant. A limit never fills beyond its limit, and an
order posted inside the spread fills only when the market trades through it.
"""

from __future__ import annotations

from functools import partial

from common.config import Settings
from worker.events import CANCELLED, FULL, NOTIONAL_OUT_OF_RANGE, PARTIAL, Fill, num
from worker.models import ExecutionModels
from worker.models.book import BookSide
from worker.models.fill_price import Pricing
from worker.models.liquidity import ChildTake
from worker.order_state import OrderState
from worker.order_types import AwaitedLevel

# A larger notional would overflow to inf in commission or market value (JSON null).
MAX_NOTIONAL = 1e300


class Matching:
    """The book's side of the pipeline; one per worker, no state between intents."""

    def __init__(self, settings: Settings, models: ExecutionModels) -> None:
        self._models = models
        self._queue_chance = settings.queue_fill_chance if settings.queue_model == "probabilistic" else 0.0
        self._resting_span_ms = int(settings.resting_fill_span_s * 1000)

    def book(self, state: OrderState) -> BookSide:
        """The side of the book the order takes at its current quote."""
        return self._models.book.side(state.quote, state.order.sign, state.instrument)

    def take(self, state: OrderState, book: BookSide, wanted: int) -> ChildTake:
        """What this child may take of `wanted` units: the liquidity model's reach from the depth
        still missing; a queue fill takes at most the touch on its own side."""
        if state.queue_now:
            own = state.quote.bid_size if state.order.sign > 0 else state.quote.ask_size
            return ChildTake(0, min(wanted, max(state.lots.units_below(own), 1)), 0)
        missing = state.taken.missing(state.market_ms, state.instrument.depth_recovery_s)
        return self._models.liquidity.child(wanted, book, state.lots, missing, state.instrument.depth_levels,
                                            state.order.limit)

    def execute(self, state: OrderState, book: BookSide, take: ChildTake) -> bool:
        """Report the child's fills; True when the order is done (filled in full, or ended)."""
        order, lots, quote = state.order, state.lots, state.quote
        if state.posted and order.price is not None:  # a maker fills at its limit, exactly
            executions = [(order.price, take.units)]
        elif order.forced is not None:  # a script skips the venue's rules: one fill at the touch
            executions = [(self._models.fill_price.capped(book, book.touch_ticks, order.limit), take.units)]
        else:
            pricing = Pricing(mid=quote.mid, instrument=state.instrument,
                              draw=partial(state.draws.slippage, len(state.fills) + 1),
                              filled=float(lots.filled), limit=order.limit)
            executions = self._models.fill_price.executions(book, take, lots, pricing)
        highest = max(price for price, _ in executions)
        if not float(lots.size(take.units)) * highest < MAX_NOTIONAL:  # impact can price an absurd order past any float
            state.end(CANCELLED, NOTIONAL_OUT_OF_RANGE,
                      f"notional out of range: {lots.size(take.units)} at {highest} (IOC)")
            return True
        if state.resting and not state.fills:
            # The stream drops a re-sent event by its id only within its duplicate window: a
            # redelivered order re-publishes everything, so its fills must not span longer.
            state.expires_at_ms = min(state.expiry_ms, state.market_ms + self._resting_span_ms)
        if not state.queue_now:
            state.taken.take(float(lots.size(take.units)), state.market_ms, state.instrument.depth_recovery_s)
        state.queue_fill = state.queue_fill and not state.queue_now
        state.children += 1
        intended = order.rule.intended_price(order, quote.mid)
        faults = tuple(state.faults)
        for price, units in executions:
            self._report(state, price, units, intended, faults)
        return lots.remaining_units == 0

    def _report(self, state: OrderState, price: float, units: int, intended: float, faults: tuple[str, ...]) -> None:
        """One fill of the child: its size, commission and slippage (from `intended`, the child's)."""
        lots = state.lots
        size = lots.size_of(units)
        lots.take(units, size)
        commission = self._models.fees.charge(state.fees, size, price)
        state.notional += size * price
        state.fills.append(Fill(
            index=len(state.fills) + 1, status=FULL if lots.remaining_units == 0 else PARTIAL, quantity=size,
            price=price, intended_price=intended, quote=state.quote, delay_ms=state.delay_ms,
            market_ms=state.market_ms, stamp_ms=state.stamp_base_ms + state.delay_ms, commission=num(commission),
            slippage=num(state.order.sign * (price - intended), 12), filled_total=lots.filled, faults=faults,
        ))

    # -- resting limits ---------------------------------------------------------------

    def post(self, state: OrderState) -> None:
        """The order starts resting at its limit (once): whether it may fill from the queue."""
        if state.posted:
            return
        state.posted = True
        order, quote = state.order, state.quote
        price = order.price
        behind = price is not None and (price < quote.bid if order.sign > 0 else price > quote.ask)
        state.queue_fill = behind and state.draws.queue < self._queue_chance

    def awaited(self, state: OrderState, level: AwaitedLevel) -> AwaitedLevel:
        """What a posted order waits for: its own side reaching it while it may fill from the queue."""
        if not state.queue_fill:
            return level
        price = level[0]
        return (price, False, "bid") if state.order.sign > 0 else (price, True, "ask")

    def queue_reached(self, state: OrderState) -> bool:
        """A queue fill is due: the order's own side of the quote has reached its limit."""
        price = state.order.price
        if not state.queue_fill or price is None:
            return False
        return state.quote.bid <= price if state.order.sign > 0 else state.quote.ask >= price

