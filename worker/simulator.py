"""The execution rules: one accepted intent in, its fills, reconciles and order update out.

Runs in the pool's worker processes, after validation. Owns how an order
executes in the simulation: the market session, its delay, whether it triggers
and is marketable, its price and slippage, partial and child fills, liquidity,
commission. Pure and synchronous: no NATS, no asyncio, and no clock read except
time.perf_counter() to measure the work (that never enters an output).

Determinism. Every random draw for an intent comes from worker.draws, keyed by
(seed, corr_id). The market is a pure function of
(seed, instrument, second) and the calendar a pure function of the instant,
both asked through the market view (worker.market_view; worker.synthetic_market
is the seeded one). Prices are taken at the market time `intent
timestamp + delay` under both clocks, so the same intent gives byte-identical
events on any worker of any instance with the same seed. Only the events'
`timestamp` depends on the clock: the intent's timestamp plus the delay under
SIMULATION_CLOCK=virtual, the receipt time (the stream's stored time) plus the
delay under the wall clock.

An order's life (side sign s = +1 buy, -1 sell; mid = reference mid at the market time):

    arrival     t1 = intent time + delay 1 (the latency model: worker/models/latency.py)
    session     market closed at t1 (SIMULATION_MARKET_SESSIONS=on): rejected,
                reason market_closed; a later child fill past the close: the
                remainder is cancelled, reason market_closed
    market      executes at the slippage model's price
    limit       marketable iff buy and limit >= mid, or sell and limit <= mid;
                fills at the model's price capped by the limit (never worse)
    stop        triggers iff buy and mid >= stop_price, or sell and mid <= stop_price,
                then executes as market; stop_limit triggers as stop, then as limit
    otherwise   immediate-or-cancel: cancelled (not_marketable, stop_not_triggered)

Slippage (worker/models/fill_price.py), liquidity (worker/models/liquidity.py),
commission (worker/models/fees.py) and quantities (worker/quantities.py) are
objects built once per worker; their module docstrings give the formulas.

Events per order: fill k and its reconcile for each fill; an order that does not
fill in full ends with a "cancelled" or "rejected" fill for the quantity not
filled (fill_price the mid, commission 0, reject_reason, metadata.reason_code)
and then one executions.order_update with the terminal status. Count only
"full" and "partial" fills as executed quantity (worker.events.EXECUTED_STATUSES).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from common.config import CHILD_FILL_INTERVAL_MS, Settings
from common.instruments import Instrument
from common.messages import Execution
from worker.directives import FOK, FORCE_KEY, FORCED_PARTIAL, FORCED_REJECT, GTC, IOC, RESTING
from worker.events import (
    CANCELLED, CHILD_FILL_LIMIT, EXPIRED, EXPIRED_CODE, FOK_NOT_FILLED, FULL, INSTRUMENT_HALTED, IOC_REMAINDER, LIQUIDITY_EXHAUSTED,
    MARKET_CLOSED, NO_PRICE, NOT_MARKETABLE, NOT_TRIGGERED, NOTIONAL_OUT_OF_RANGE, PARTIAL, REJECTED,
    REMAINDER_CANCELLED, VENUE_REJECTED, Fill, Order, OrderOutcome, encode_events, iso_ms, num, order_id,
)
from worker.events import FORCED_PARTIAL as FORCED_PARTIAL_CODE
from worker.events import FORCED_REJECT as FORCED_REJECT_CODE
from worker.faults import (
    DUPLICATE_FILL, INSTRUMENT_HALT, LATENCY_SPIKE, NO_FAULTS, RECONCILE_DELAYED, VENUE_REJECT, VenueFaults,
)
from worker.draws import DrawSource
from worker.market import Market, Quote
from worker.market_view import MarketView
from worker.models import build_models
from worker.models.fees import OrderFees
from worker.quantities import Lots, normalize_quantity, random_partial_cap
from worker.sessions import TradingSessions, trading_sessions
from worker.synthetic_market import SyntheticMarket

if TYPE_CHECKING:  # only the type: validation runs before, in the same worker
    from worker.validation import AcceptedIntent

REMAINDER_FILL_CHANCE = 0.5
# A larger notional would overflow to inf in commission or market value (JSON null).
MAX_NOTIONAL = 1e300
DAY_MS = 86_400_000


class ExecutionSimulator:
    """Simulates accepted intents; one instance per worker process, no state between intents."""

    def __init__(self, settings: Settings, seed: bytes,
                 sessions: Callable[[str], TradingSessions] = trading_sessions) -> None:
        self._view = SyntheticMarket(seed, settings.instruments, settings.market_sessions, sessions)
        self._models = build_models(settings)
        self._draws = DrawSource(seed)
        self._partial_chance = settings.partial_fill_chance
        self._max_fills = settings.max_child_fills
        self._virtual = settings.virtual_clock
        self._clock = settings.simulation_clock
        self._seeded = settings.simulation_seed is not None
        self._faults = VenueFaults(settings, seed)
        self._gtc_horizon_ms = int(settings.gtc_horizon_days * DAY_MS)
        self._resting_span_ms = int(settings.resting_fill_span_s * 1000)

    @property
    def market(self) -> Market:
        return self._view.market

    def draws(self, corr_id: str) -> tuple[float, ...]:
        """Eight uniforms in [0, 1) that depend only on the seed and the corr_id (worker.draws)."""
        return self._draws.uniforms(corr_id)

    # -- prices ------------------------------------------------------------------

    @staticmethod
    def _cancel_reason(intent: dict, sign: int, mid: float, triggered: bool) -> tuple[str, str] | None:
        """(reason code, reason) why the order does not execute at this mid, or None when it does.

        A stop that has triggered (it has filled) stays triggered: its child fills are checked
        against the limit only."""
        order_type = intent["order_type"]
        side = intent["side"]
        if order_type in ("stop", "stop_limit") and not triggered:
            stop = intent.get("stop_price")
            if stop is None:
                return NO_PRICE, f"{order_type} without stop_price cannot trigger (IOC)"
            if sign * (mid - stop) < 0:
                where = "above" if sign > 0 else "below"
                return NOT_TRIGGERED, f"{order_type} not triggered: {side} stop {stop} {where} mid {mid} (IOC)"
        if order_type in ("limit", "stop_limit"):
            limit = intent.get("price")
            if limit is None:
                return NO_PRICE, f"{order_type} without price cannot execute (IOC)"
            if sign * (limit - mid) < 0:
                stage = "stop_limit triggered, limit" if order_type == "stop_limit" else "limit"
                where = "below" if sign > 0 else "above"
                return NOT_MARKETABLE, f"{stage} not marketable: {side} limit {limit} {where} mid {mid} (IOC)"
        return None

    def _execution_price(
        self, intent: dict, sign: int, quote: Quote, u: float, decimals: int, size: float, instrument: Instrument,
    ) -> tuple[float, float]:
        """(fill price, intended price) of an executing order at this quote."""
        limit = intent.get("price") if intent["order_type"] in ("limit", "stop_limit") else None
        price = self._models.fill_price.fill_price(quote, sign, size, instrument, decimals, u, limit)
        return price, (quote.mid if limit is None else limit)

    # -- resting orders ----------------------------------------------------------

    def _expiry(self, tif: str, view: MarketView, instrument: str, arrival_ms: int) -> int | None:
        """When a resting order placed at arrival_ms expires: a DAY order at the close of the
        session it arrived in (or, arriving while closed, of the next one), at most a day
        on; a GTC order SIMULATION_GTC_HORIZON_DAYS after its arrival. None when the
        calendar has no session to come (beyond its range): the order cannot rest."""
        opens = view.next_open(instrument, arrival_ms)
        if opens is None:
            return None
        if tif == GTC:
            return arrival_ms + self._gtc_horizon_ms
        close = view.session_close(instrument, opens)
        return min(close if close is not None else opens, opens + DAY_MS)

    def _after_halts(self, symbol: str, halt: tuple[int, int], until_ms: int) -> int:
        """The end of a halt and of the halted windows right after it (cheap hashes, not scans)."""
        end = halt[1]
        while end < until_ms:
            following = self._faults.halt_window(symbol, end)
            if following is None:
                break
            end = following[1]
        return end

    # -- the simulation ----------------------------------------------------------

    def simulate(self, accepted: AcceptedIntent) -> Execution:
        started = time.perf_counter()
        intent = accepted.intent
        corr_id = accepted.corr_id
        instrument = intent["instrument"]
        order_type = intent["order_type"]
        sign = 1 if intent["side"] == "buy" else -1
        quantity = normalize_quantity(intent["quantity"])
        draws = self._draws.for_order(corr_id)
        market = self._view
        info = market.instrument(instrument)
        decimals = market.decimals(instrument)
        intent_ms = accepted.timestamp_ms
        stamp_base = intent_ms if self._virtual else accepted.received_at_ms

        order = Order(
            corr_id=corr_id, order_id=order_id(corr_id), strategy_id=intent["strategy_id"],
            agent_id=intent["agent_id"], instrument=instrument, side=intent["side"], order_type=order_type,
            quantity=quantity, intent_ms=intent_ms, clock=self._clock, seeded=self._seeded,
            price=intent.get("price"), stop_price=intent.get("stop_price"),
        )
        lots = Lots(quantity, info.lot_size)
        # A random partial caps the first fill at a drawn share of the order.
        cap = None
        if draws.partial < self._partial_chance:
            cap = random_partial_cap(lots, quantity, draws.split_ratio)

        directives = accepted.directives
        force = directives.force
        forced = force.outcome if force is not None else None
        tif = directives.time_in_force
        plan = self._faults.plan(corr_id) if force is None else NO_FAULTS
        faults: list[str] = []  # injected into this order, in the order they struck
        # DAY and GTC limit and stop orders rest until the price path reaches them.
        resting = tif in RESTING and order_type != "market" and forced is None
        if tif == FOK or forced is not None or resting:
            # A FOK order is never partially filled, a forced one fills as scripted, and a
            # resting one keeps its remainder in the book rather than cancelling it at random.
            cap = None
        expires_at: int | None = None
        triggered = False  # a stop (or stop_limit) whose stop price the mid has reached
        arrived = True  # the first pass: the order reaching the venue
        if force is not None and force.delay_ms is not None:
            delay = force.delay_ms
        else:
            delay = self._models.latency.delay_ms(draws.arrival_delay, info)
        if plan.latency_spike_ms:
            delay += plan.latency_spike_ms
            faults.append(LATENCY_SPIKE)
        fills: list[Fill] = []
        notional = 0.0
        fees = OrderFees()
        ended: tuple[str, str, str] | None = None  # (status, code, reason) of a stop short of full
        while True:
            market_ms = intent_ms + delay
            quote = market.quote(instrument, market_ms)
            if forced == FORCED_REJECT:
                ended = (REJECTED, FORCED_REJECT_CODE,
                         force.reason or f"forced reject ({FORCE_KEY})")  # type: ignore[union-attr]
                break
            if forced is None:
                if resting and expires_at is None:
                    expires_at = self._expiry(tif, market, instrument, market_ms)  # type: ignore[arg-type]
                    if expires_at is None:  # beyond the calendar's range: nothing will open
                        resting = False
                if resting and market_ms >= expires_at:  # type: ignore[operator]
                    # Expired while filling in child fills (or arrived already past it).
                    delay = max(expires_at - intent_ms, delay if not fills else fills[-1].delay_ms)  # type: ignore[operator]
                    quote = market.quote(instrument, intent_ms + delay)
                    ended = _expired(tif, intent_ms + delay, lots, quantity)  # type: ignore[arg-type]
                    break
                closed = not market.is_open(instrument, market_ms)
                if closed and not resting:
                    ended = (REJECTED if not fills else CANCELLED, MARKET_CLOSED, market.closed_reason(instrument, market_ms))
                    break
                # A forced delay is still a forced intent: no injected fault, halts included.
                halt = None if closed or force is not None else self._faults.halt_window(info.symbol, market_ms)
                if halt is not None and not resting:
                    faults.append(INSTRUMENT_HALT)
                    ended = (REJECTED if not fills else CANCELLED, INSTRUMENT_HALTED,
                             f"instrument_halted (injected fault): {info.symbol} halted "
                             f"{iso_ms(halt[0])} to {iso_ms(halt[1])}")
                    break
                if plan.reject and arrived:
                    faults.append(VENUE_REJECT)
                    ended = (REJECTED, VENUE_REJECTED, "venue rejected the order (injected fault)")
                    break
                arrived = False
                stop = None if closed or halt else self._cancel_reason(intent, sign, quote.mid, triggered or bool(fills))
                if stop is not None and stop[0] == NOT_MARKETABLE and order_type == "stop_limit":
                    triggered = True  # the stop was reached; the limit is what it waits for now
                if resting and (closed or halt or (stop is not None and stop[0] in (NOT_MARKETABLE, NOT_TRIGGERED))):
                    # Not now: find when, on the price path, within the open hours before expiry.
                    if halt is not None:
                        if INSTRUMENT_HALT not in faults:
                            faults.append(INSTRUMENT_HALT)
                        resume = self._after_halts(info.symbol, halt, expires_at)  # type: ignore[arg-type]
                    elif closed:
                        resume = market_ms + 1
                    else:  # this quote cannot cross: the search starts at the next
                        resume = market.next_instant_after(instrument, market_ms)
                    if order_type == "stop" and (triggered or fills):
                        # A triggered stop is a market order: it waits only for trading time.
                        crossing = market.first_open_between(instrument, resume, expires_at)  # type: ignore[arg-type]
                    else:
                        level, above = _resting_condition(intent, sign, triggered or bool(fills))
                        crossing = market.first_crossing(instrument, resume, expires_at, level, above)  # type: ignore[arg-type]
                    if crossing is None:
                        delay = max(expires_at - intent_ms, delay)  # type: ignore[operator]
                        quote = market.quote(instrument, intent_ms + delay)
                        ended = _expired(tif, intent_ms + delay, lots, quantity)  # type: ignore[arg-type]
                        break
                    delay = crossing - intent_ms
                    continue
                if stop is None and order_type in ("stop", "stop_limit"):
                    triggered = True
            else:
                stop = None
            if stop is None and not quantity * quote.mid < MAX_NOTIONAL:
                stop = NOTIONAL_OUT_OF_RANGE, f"notional out of range: {quantity} at mid {quote.mid} (IOC)"
            if stop is not None:
                ended = (CANCELLED, *stop)
                break
            take = lots.remaining_units
            if forced == FORCED_PARTIAL:
                take = min(max(lots.units_below(quantity * force.fill_ratio), 1), lots.total - 1)  # type: ignore[union-attr]
                if take < 1:
                    ended = (CANCELLED, FORCED_PARTIAL_CODE,
                             f"forced partial ({FORCE_KEY}): {quantity} is one unit, which cannot be split")
                    break
            elif forced is None:
                take = self._models.liquidity.units(take, quote, lots)
            if tif == FOK and take < lots.remaining_units:
                ended = (CANCELLED, FOK_NOT_FILLED,
                         f"fill or kill: {lots.size(take)} of {quantity} available at arrival; nothing filled")
                break
            random_partial = not fills and cap is not None and cap < take
            if random_partial:
                take = cap  # type: ignore[assignment]
            size = lots.size_of(take)
            index = len(fills) + 1
            price, intended = self._execution_price(intent, sign, quote, draws.slippage(index), decimals, size, info)
            if not size * price < MAX_NOTIONAL:  # market impact can price an absurd order past any float
                ended = (CANCELLED, NOTIONAL_OUT_OF_RANGE,
                         f"notional out of range: {size} at {price} (IOC)")
                break
            lots.take(take, size)
            complete = lots.remaining_units == 0
            if resting and not fills:
                # The stream drops a re-sent event by its id only within its duplicate window: a
                # redelivered order re-publishes everything, so its fills must not span longer.
                expires_at = min(expires_at, market_ms + self._resting_span_ms)  # type: ignore[type-var]
            commission = self._models.fees.charge(fees, size, price)
            notional += size * price
            fills.append(Fill(
                index=index, status=FULL if complete else PARTIAL, quantity=size, price=price,
                intended_price=intended, quote=quote, delay_ms=delay, market_ms=market_ms,
                stamp_ms=stamp_base + delay, commission=num(commission), slippage=num(sign * (price - intended), 12),
                filled_total=lots.filled, faults=tuple(faults),
            ))
            if complete:
                break
            rest_text = f"{lots.rest()} of {quantity}"
            if forced == FORCED_PARTIAL:
                ended = (CANCELLED, FORCED_PARTIAL_CODE, f"forced partial ({FORCE_KEY}): {rest_text} cancelled")
                break
            if tif == IOC:
                ended = (CANCELLED, IOC_REMAINDER, f"immediate or cancel: {rest_text} not filled at arrival")
                break
            if random_partial and draws.remainder >= REMAINDER_FILL_CHANCE:
                ended = (CANCELLED, REMAINDER_CANCELLED, f"remainder cancelled (IOC): {rest_text} not filled")
                break
            if not random_partial and self._models.liquidity.cancels_remainder:
                ended = (CANCELLED, LIQUIDITY_EXHAUSTED, f"liquidity exhausted: {rest_text} cancelled (IOC)")
                break
            # Checked before the next fill's wait, so the cancel goes out with the last fill.
            if len(fills) >= self._max_fills:
                ended = (CANCELLED, CHILD_FILL_LIMIT,
                         f"remainder cancelled after {len(fills)} fills (SIMULATION_MAX_CHILD_FILLS): {rest_text} not filled")
                break
            delay += self._models.latency.delay_ms(draws.remainder_delay, info) if random_partial else CHILD_FILL_INTERVAL_MS

        outcome = None
        if ended is not None:
            status, code, reason = ended
            filled = lots.filled if fills else 0
            last = Fill(
                index=len(fills) + 1, status=CANCELLED if status == EXPIRED else status, quantity=lots.rest(),
                price=quote.mid,
                intended_price=quote.mid, quote=quote, delay_ms=delay, market_ms=intent_ms + delay,
                stamp_ms=stamp_base + delay, commission=0.0, slippage=0.0, filled_total=filled,
                reject_reason=reason, reason_code=code, faults=tuple(faults),
            )
            outcome = OrderOutcome(
                status=status, filled_quantity=filled,
                average_fill_price=_average_price(notional, filled, decimals, sign, order.price, order_type),
                commission=num(fees.charged), fill_count=len(fills), last=last,
            )
            fills.append(last)
        if plan.duplicate_fill:
            faults.append(DUPLICATE_FILL)
        if plan.reconcile_delayed:
            faults.append(RECONCILE_DELAYED)
        events = encode_events(order, fills, outcome, plan.duplicate_fill, plan.reconcile_delayed)
        return Execution(
            stream_seq=accepted.stream_seq,
            corr_id=corr_id,
            instrument=instrument,
            order_type=order_type,
            final_status=fills[-1].status,
            simulation_delay_ms=fills[0].delay_ms,
            events=events,
            simulation_s=time.perf_counter() - started,
            agent_id=order.agent_id,
            faults=tuple(faults),
        )


def _average_price(notional: float, filled: int | float, decimals: int, sign: int, limit: float | None,
                   order_type: str) -> float | None:
    """Volume-weighted fill price; never worse than the limit (each fill is within it, and the
    rounding of the average must not cross it)."""
    if not filled:
        return None
    average = round(notional / filled, decimals + 4)
    if limit is not None and order_type in ("limit", "stop_limit"):
        average = min(average, limit) if sign > 0 else max(average, limit)
    return average


def _expired(tif: str, at_ms: int, lots: Lots, quantity: int | float) -> tuple[str, str, str]:
    """How a resting order ends when its time is up: (status, reason code, reason)."""
    return EXPIRED, EXPIRED_CODE, f"{tif} order expired at {iso_ms(at_ms)}: {lots.rest()} of {quantity} not filled"


def _resting_condition(intent: dict, sign: int, triggered: bool) -> tuple[float, bool]:
    """(level, above) a resting order waits for: its stop until triggered, then its limit.

    A buy stop triggers at mid >= stop and a buy limit is marketable at mid <= limit;
    a sell, the other way round (the same rules as _cancel_reason)."""
    if intent["order_type"] in ("stop", "stop_limit") and not triggered:
        return intent["stop_price"], sign > 0
    return intent["price"], sign < 0
