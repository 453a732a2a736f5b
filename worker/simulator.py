"""The execution pipeline: one accepted intent in, its fills, reconciles and order update out.

Runs in the pool's worker processes, after validation. Owns the story of an order:
a short pipeline of named steps over one OrderState (worker.order_state), each
asking a rule or model object and none reading the intent dict:

    arrive          the typed order (worker.order) on the venue's grid (worker.price_grid:
                    rounded, or refused), its draws, its delay: intent time + the latency
                    model's delay (a forced delay_ms instead), plus an injected latency
                    spike; a random partial's cap on the first fill
    gate            an order refused at entry; a forced reject; a resting order's expiry;
                    the session (closed at arrival: rejected, market_closed; a later child
                    fill past the close: the rest cancelled); an injected halt; an injected
                    venue reject
    wait for price  the order type's rule against the touch (worker.order_types): triggered
                    (then on against the market view's quote for a triggered order: under
                    recorded bars the print after the bar), marketable; a DAY or GTC order
                    that is not waits for the first instant the market view's bid or ask
                    reaches its level, within trading hours, before its expiry (a limit
                    posted at its price, worker.matching)
    fill            one child fill (worker.matching): what it takes of the book (a script,
                    the liquidity model, FOK, a random partial), its fills (one per level
                    under the book model, or at a posted limit), the fee model's commission
    after fill      the rest cancelled (a script, IOC, a random partial's draw, the
                    liquidity remainder policy, SIMULATION_MAX_CHILD_FILLS) or back for a
                    child fill one CHILD_FILL_INTERVAL_MS later; a random partial's rest
                    fills after a second delay or is cancelled, half and half
                    (worker.remainder)
    finish          an order short of a full fill ends with one "cancelled" or "rejected"
                    fill and an order update (worker.order_result); worker.events encodes
                    the events

Models (worker.models) and the market view (worker.market_view: the synthetic one, or
worker.recorded_market over a file's tapes when Settings.recorded_market is set) are
built once per worker from Settings. Under recorded data an order with no record in
force at its arrival ends `no_market_data`, and under bars it is priced at the first
print after its arrival. Pure and synchronous: no NATS, no asyncio, and
no clock read except time.perf_counter() to measure the work (that never enters an
output).

Determinism. Every random draw comes from worker.draws, keyed by (seed, corr_id);
the market is a pure function of (seed, instrument, step) and the calendar of the
instant. An order reaches the venue, is priced, and has its events stamped at its
market time: the receipt (the stream's stored time, the same on every delivery)
plus the delay under the wall clock, the intent's own timestamp plus the delay
under SIMULATION_CLOCK=virtual. So the same stored intent gives byte-identical
events on any worker of any instance with the same seed, and under the wall clock
the agent's own timestamp never chooses its price.

Events per order: fill k and its reconcile for each fill; an order that does not
fill in full ends with a "cancelled" or "rejected" fill for the quantity not filled
(fill_price the mid, commission 0, reject_reason, metadata.reason_code) and then one
executions.order_update with the terminal status. Count only "full" and "partial"
fills as executed quantity (worker.events.EXECUTED_STATUSES).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from enum import Enum

from common.config import CHILD_FILL_INTERVAL_MS, Settings
from common.instruments import Instrument
from common.messages import Execution
from worker.directives import FORCE_KEY, FORCED_PARTIAL, FORCED_REJECT
from worker.draws import DrawSource
from worker.events import (
    CANCELLED,
    EXPIRED,
    EXPIRED_CODE,
    INSTRUMENT_HALTED,
    MARKET_CLOSED,
    NO_MARKET_DATA,
    NOTIONAL_OUT_OF_RANGE,
    REJECTED,
    VENUE_REJECTED,
    iso_ms,
)
from worker.events import FORCED_PARTIAL as FORCED_PARTIAL_CODE
from worker.events import FORCED_REJECT as FORCED_REJECT_CODE
from worker.faults import (
    INSTRUMENT_HALT,
    LATENCY_SPIKE,
    NO_FAULTS,
    VENUE_REJECT,
    FaultPlan,
    VenueFaults,
)
from worker.intent import AcceptedIntent
from worker.market import Market
from worker.matching import MAX_NOTIONAL, Matching
from worker.models import build_models
from worker.models.book import BookSide
from worker.models.liquidity import ChildTake
from worker.order import Order, order_from_accepted
from worker.order_result import order_execution
from worker.order_state import OrderState
from worker.order_types import Verdict
from worker.price_grid import PriceGrid
from worker.quantities import Lots, random_partial_cap
from worker.recorded_market import RecordedMarket
from worker.remainder import RemainderPolicy
from worker.sessions import TradingSessions, trading_sessions
from worker.synthetic_market import SyntheticMarket
from worker.time_in_force import time_in_force_policies


class Flow(Enum):
    """What a step tells the pipeline."""

    NEXT = "next"  # on to the next step of this pass
    AGAIN = "again"  # back to the gate at the order's new market time
    DONE = "done"  # filled in full, or ended (state.ending)


NEXT, AGAIN, DONE = Flow.NEXT, Flow.AGAIN, Flow.DONE


class ExecutionSimulator:
    """Simulates accepted intents; one instance per worker process, no state between intents."""

    def __init__(self, settings: Settings, seed: bytes,
                 sessions: Callable[[str], TradingSessions] = trading_sessions) -> None:
        # sessions: the calendar of each name (a test may give its own).
        synthetic = SyntheticMarket(seed, settings.instruments, settings.market_sessions, sessions,
                                    int(settings.unlisted_cache_mb * 1024 * 1024))
        recorded = settings.recorded_market
        self.synthetic_view = synthetic
        self._view: SyntheticMarket | RecordedMarket = synthetic if recorded is None else RecordedMarket.of_file(
            recorded, synthetic, settings.market_data_max_age_ms, settings.market_data_fallback == "synthetic")
        self._models = build_models(settings)
        self._matching = Matching(settings, self._models)
        self._draws = DrawSource(seed)
        self._faults = VenueFaults(settings, seed)
        self._remainder = RemainderPolicy(settings, self._models.liquidity)
        self._grid = PriceGrid(settings)
        self._policies = time_in_force_policies(settings.gtc_horizon_days)
        self._partial_chance = settings.partial_fill_chance
        self._virtual = settings.virtual_clock
        self._clock = settings.simulation_clock
        self._seeded = settings.simulation_seed is not None

    @property
    def market(self) -> Market:
        """The seeded market the view prices against (tests and tools read the quotes an order saw)."""
        return self._view.synthetic_market

    def draws(self, corr_id: str) -> tuple[float, ...]:
        """Eight uniforms in [0, 1) that depend only on the seed and the corr_id (worker.draws)."""
        return self._draws.uniforms(corr_id)

    def simulate(self, accepted: AcceptedIntent, market: RecordedMarket | None = None) -> Execution:
        """The order arrives, passes the gate, waits for its price if it rests, fills, and after a
        partial fill comes back for the rest, until it is filled or ended. `market`: this intent's
        own view (MARKET_DATA=bus: its pass's slice, worker.market_slice)."""
        if market is not None:
            own, self._view = self._view, market
            try:
                return self.simulate(accepted)
            finally:
                self._view = own
        started = time.perf_counter()
        state = self._arrive(order_from_accepted(accepted, self._policies), accepted.received_at_ms)
        flow = AGAIN
        while flow is AGAIN:
            self._look(state)
            flow = self._gate(state)
            if flow is NEXT:
                flow = self._wait_for_price(state)
            if flow is NEXT:
                flow = self._fill(state)
            if flow is NEXT:
                flow = self._after_fill(state)
        return self._finish(accepted.stream_seq, state, started)

    # -- the steps ------------------------------------------------------------------

    def _arrive(self, order: Order, received_ms: int) -> OrderState:
        """The order on its way to the venue: its draws, its arrival delay, a random partial's cap."""
        instrument = self._view.instrument(order.instrument)
        admission = self._grid.admit(order, instrument)
        order = admission.order
        draws = self._draws.for_order(order.corr_id)
        state = OrderState(
            order=order, instrument=instrument, decimals=self._view.decimals(order.instrument), draws=draws,
            lots=Lots(order.quantity, instrument.lot_size),
            plan=self._fault_plan(order), stamp_base_ms=self._stamp_base(order, received_ms),
            delay_ms=self._arrival_delay(order, instrument, draws.arrival_delay), resting=order.rests,
            rounded_from=admission.rounded_from,
        )
        if admission.refusal is not None:  # the gate ends it, priced at its arrival
            state.end(REJECTED, admission.refusal.code, admission.refusal.reason)
        if order.random_partials and draws.partial < self._partial_chance:
            state.cap_units = random_partial_cap(state.lots, order.quantity, draws.split_ratio)
        if state.plan.latency_spike_ms:
            state.delay_ms += state.plan.latency_spike_ms
            state.faults.append(LATENCY_SPIKE)
        return state

    def _arrival_delay(self, order: Order, instrument: Instrument, draw: float) -> int:
        """The intent time to the venue: the latency model's delay (a forced delay_ms instead); recorded
        bars price at the first print after it (worker.recorded_market). A latency spike comes on top."""
        force = order.force
        if force is not None and force.delay_ms is not None:
            delay = force.delay_ms
        else:
            delay = self._models.latency.delay_ms(draw, instrument)
        return self._view.pricing_instant(order.instrument, order.intent_ms + delay) - order.intent_ms

    def arrival_ms(self, accepted: AcceptedIntent) -> int:
        """The instant of the order's first look (a latency spike included), which a bus intent's first
        pass asks to know: simulate's arrival without the order's state."""
        order = order_from_accepted(accepted, self._policies)
        delay = self._arrival_delay(order, self._view.instrument(order.instrument),
                                    self._draws.for_order(order.corr_id).arrival_delay)
        return self._stamp_base(order, accepted.received_at_ms) + delay + self._fault_plan(order).latency_spike_ms

    def _fault_plan(self, order: Order) -> FaultPlan:
        """The venue faults injected into this order (none into a scripted one)."""
        return NO_FAULTS if order.scripted else self._faults.plan(order.corr_id)

    def _stamp_base(self, order: Order, received_ms: int) -> int:
        """What the order's delays count from: its own timestamp under the virtual clock, else its receipt."""
        return order.intent_ms if self._virtual else received_ms

    def _look(self, state: OrderState) -> None:
        """The market at the order's current market time."""
        state.market_ms = state.stamp_base_ms + state.delay_ms
        state.quote = self._view.quote(state.order.instrument, state.market_ms)

    def _gate(self, state: OrderState) -> Flow:
        """Whether the venue takes the order now: a script, its expiry, the session, a halt, a reject."""
        order = state.order
        if state.ending is not None:  # refused at entry: off the tick or the lot
            return DONE
        if order.forced == FORCED_REJECT:
            reason = order.force.reason if order.force is not None else None
            state.end(REJECTED, FORCED_REJECT_CODE, reason or f"forced reject ({FORCE_KEY})")
            return DONE
        if order.forced is not None:
            return NEXT  # a scripted outcome skips the venue's rules
        if self._expired(state):
            return DONE
        state.closed = not self._view.is_open(order.instrument, state.market_ms)
        if state.closed and not state.resting:
            state.end_rejected_or_cancelled(MARKET_CLOSED, self._view.closed_reason(order.instrument, state.market_ms))
            return DONE
        missing = None if state.closed else self._view.missing(order.instrument, state.market_ms)
        if missing is not None and state.arrived:  # recorded data: nothing in force at the arrival
            state.end_rejected_or_cancelled(NO_MARKET_DATA, missing)
            return DONE
        # A forced delay is still a forced intent: no injected fault, halts included.
        state.halt = None if state.closed or order.scripted else self._faults.halt_window(
            state.instrument.symbol, state.market_ms)
        if state.halt is not None and not state.resting:
            state.faults.append(INSTRUMENT_HALT)
            start, end = state.halt
            state.end_rejected_or_cancelled(INSTRUMENT_HALTED, f"instrument_halted (injected fault): "
                                            f"{state.instrument.symbol} halted {iso_ms(start)} to {iso_ms(end)}")
            return DONE
        if state.plan.reject and state.arrived:
            state.faults.append(VENUE_REJECT)
            state.end(REJECTED, VENUE_REJECTED, "venue rejected the order (injected fault)")
            return DONE
        state.arrived = False
        return NEXT

    def _expired(self, state: OrderState) -> bool:
        """A resting order's clock: its expiry set at its first look, and ended when that has passed."""
        if not state.resting:
            return False
        if state.expires_at_ms is None:
            state.expires_at_ms = state.order.time_in_force.expiry(self._view, state.order.instrument, state.market_ms)
            if state.expires_at_ms is None:  # beyond the calendar's range: nothing will open
                state.resting = False
                return False
        if state.market_ms < state.expires_at_ms:
            return False
        # Expired while filling in child fills (or arrived already past it).
        last = state.fills[-1].delay_ms if state.fills else state.delay_ms
        self._expire(state, max(state.expires_at_ms - state.stamp_base_ms, last))
        return True

    def _expire(self, state: OrderState, delay_ms: int) -> None:
        """End a resting order at its expiry (`delay_ms` after the intent), priced at the mid there."""
        state.delay_ms = delay_ms
        self._look(state)
        order = state.order
        state.end(EXPIRED, EXPIRED_CODE, f"{order.time_in_force.name} order expired at {iso_ms(state.market_ms)}: "
                                         f"{state.lots.rest()} of {order.quantity} not filled")

    def _wait_for_price(self, state: OrderState) -> Flow:
        """The order type's verdict at this quote; a resting order that cannot execute waits for its level."""
        order = state.order
        verdict = None
        state.queue_now = False
        if order.forced is None:
            if not state.closed and state.halt is None:
                verdict = self._verdict(state)
                if verdict is not None and self._matching.queue_reached(state):
                    verdict, state.queue_now = None, True
            if state.resting and (state.closed or state.halt is not None or (
                    verdict is not None and verdict.waits_for_price)):
                return self._await_crossing(state)
        if verdict is None and not order.quantity * state.quote.mid < MAX_NOTIONAL:
            verdict = Verdict(NOTIONAL_OUT_OF_RANGE,
                              f"notional out of range: {order.quantity} at mid {state.quote.mid} (IOC)")
        if verdict is not None:
            state.end(CANCELLED, verdict.code, verdict.reason)
            return DONE
        return NEXT

    def _verdict(self, state: OrderState) -> Verdict | None:
        """The order type's verdict at this quote. A stop that triggers here goes on against the quote
        a triggered order executes against (under recorded bars, the print after the triggering bar)."""
        order, reached = state.order, state.stop_reached
        verdict = order.rule.verdict(order, state.quote, reached)
        if order.rule.triggered_by(verdict) and not reached:
            state.triggered = True
            executes_at = self._view.triggered_quote(order.instrument, state.market_ms, state.quote)
            if executes_at != state.quote:
                state.quote = executes_at
                verdict = order.rule.verdict(order, executes_at, True)
        return verdict

    def _await_crossing(self, state: OrderState) -> Flow:
        """Not now: find when, on the market view, within the open hours before the expiry."""
        order, view, expiry = state.order, self._view, state.expiry_ms
        if state.halt is not None:
            if INSTRUMENT_HALT not in state.faults:
                state.faults.append(INSTRUMENT_HALT)
            resume = self._faults.halted_until(state.instrument.symbol, state.halt, expiry)
        elif state.closed:
            resume = state.market_ms + 1
        else:  # this quote cannot cross: the search starts at the next one
            resume = view.next_instant_after(order.instrument, state.market_ms)
        level = order.rule.awaited_level(order, state.stop_reached)
        if level is not None and order.rule.rests_at_limit(order, state.stop_reached):
            if not state.closed and state.halt is None:  # in the book from now on
                self._matching.post(state)
            level = self._matching.awaited(state, level)
        if level is None:  # a triggered stop is a market order: it waits only for trading time
            crossing = view.first_open_between(order.instrument, resume, expiry)
        else:
            crossing = view.first_crossing(order.instrument, resume, expiry, *level)
        if crossing is None:
            self._expire(state, max(expiry - state.stamp_base_ms, state.delay_ms))
            return DONE
        state.delay_ms = crossing - state.stamp_base_ms
        return AGAIN

    def _fill(self, state: OrderState) -> Flow:
        """One child fill: what it takes of the book and the fills it reports (worker.matching)."""
        book = self._matching.book(state)
        take = self._fill_units(state, book)
        if take is None:
            return DONE
        return DONE if self._matching.execute(state, book, take) else NEXT

    def _fill_units(self, state: OrderState, book: BookSide) -> ChildTake | None:
        """What of the book this child fill takes; None when the order ends instead."""
        order, lots = state.order, state.lots
        take = ChildTake(0, lots.remaining_units, None)
        if order.force is not None and order.forced == FORCED_PARTIAL:
            units = min(max(lots.units_below(order.quantity * order.force.fill_ratio), 1), lots.total - 1)
            if units < 1:
                state.end(CANCELLED, FORCED_PARTIAL_CODE,
                          f"forced partial ({FORCE_KEY}): {order.quantity} is one unit, which cannot be split")
                return None
            take = ChildTake(0, units, None)
        elif order.forced is None:
            take = self._matching.take(state, book, lots.remaining_units)
        killed = order.time_in_force.short_at_arrival(take.units, lots)
        if killed is not None:
            state.end(CANCELLED, killed.code, killed.reason)
            return None
        cap = state.cap_units
        state.random_partial = not state.fills and cap is not None and cap < take.units
        return replace(take, units=cap) if state.random_partial and cap is not None else take

    def _after_fill(self, state: OrderState) -> Flow:
        """After a partial fill: the rest cancelled now, or back for another fill later."""
        cancelled = self._remainder.cancelled(state, f"{state.lots.rest()} of {state.order.quantity}")
        if cancelled is not None:
            state.end(CANCELLED, cancelled.code, cancelled.reason)
            return DONE
        if state.random_partial:
            state.delay_ms += self._models.latency.delay_ms(state.draws.remainder_delay, state.instrument)
        else:
            state.delay_ms += CHILD_FILL_INTERVAL_MS
        return AGAIN

    def _finish(self, stream_seq: int, state: OrderState, started: float) -> Execution:
        """The order's typed result: its fills (and ending) encoded as events."""
        return order_execution(stream_seq, state, self._clock, self._seeded, started)
