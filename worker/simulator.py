"""The execution rules: one accepted intent in, its fills and reconciles out.

Runs in the pool's worker processes, after validation. Owns how an order
executes in the simulation: its delay, whether it triggers and is marketable,
its price and slippage, partial fills, commission. Pure and synchronous: no
NATS, no asyncio, and no clock read except time.perf_counter() to measure the
work (that measurement never enters an output).

Determinism. Every random draw for an intent comes from one counter-based
generator keyed by (seed, corr_id): blake2b-512(seed | corr_id) gives eight
uniforms with fixed roles (delay 1, slippage 1, partial?, split ratio,
remainder fills?, delay 2, slippage 2). The market is a pure function of
(seed, instrument, second) (worker.market), priced at the market time
`intent timestamp + delay` under both clocks. So the same intent gives
byte-identical events on any worker of any instance with the same seed.
Only the events' `timestamp` depends on the clock: the intent's timestamp plus
the delay under SIMULATION_CLOCK=virtual, the receipt time plus the delay under
the wall clock.

Rules (side sign s = +1 buy, -1 sell; mid = reference mid at the market time):

    market      fills at mid moved against the trader by u * SLIPPAGE_BPS
                (never more than SLIPPAGE_BPS from mid; rounded toward mid)
    limit       marketable iff buy and limit >= mid, or sell and limit <= mid;
                fills at the market price capped by the limit (never worse)
    stop        triggers iff buy and mid >= stop_price, or sell and mid <= stop_price,
                then executes as market
    stop_limit  triggers as stop, then executes as limit with `price`
    otherwise   IOC: one "cancelled" event for the whole quantity (also when
                quantity * mid is beyond 1e300, which no float could account)

Partial fills (one draw against SIMULATION_PARTIAL_FILL_CHANCE, only for orders
that execute): the first fill takes a share r in [0.1, 0.9] of the quantity
("partial"); then with probability 1/2 the remainder fills later (a second
delay drawn in the same range, priced at that later market, status "full":
the order is complete), else the remainder is cancelled at once ("cancelled",
same release time as the partial fill). Integral quantities split into whole
units (a quantity below 2 is never split); fractional ones into 8-decimal
parts; the parts never add up to more than the order.

A "cancelled" event is an executions.fill with fill_status "cancelled" whose
fill_quantity is the quantity NOT filled, fill_price the reference mid,
commission and slippage 0, and a reject_reason; its reconcile has no positions
and zero P&L. Consumers must count only "full" and "partial" fills as executed
quantity (worker.events.EXECUTED_STATUSES).

commission = quantity * price * SIMULATION_COMMISSION_BPS / 1e4;
slippage = s * (fill_price - intended), intended = the limit price for
limit/stop_limit, else the mid; positive is worse for the trader.
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from fractions import Fraction
from typing import TYPE_CHECKING

from common.config import Settings
from common.messages import Execution
from worker.events import CANCELLED, FULL, PARTIAL, Fill, Order, encode_events, num, order_id
from worker.market import Market, Quote

if TYPE_CHECKING:  # only the type: validation runs before, in the same worker
    from worker.validation import AcceptedIntent

PARTIAL_MIN_RATIO = 0.1
PARTIAL_MAX_RATIO = 0.9
REMAINDER_FILL_CHANCE = 0.5
QUANTITY_DECIMALS = 8
# A larger notional would overflow to inf in commission or market value (JSON null).
MAX_NOTIONAL = 1e300
# Integers beyond this are handled as floats (exact in a double, and in range for orjson).
MAX_EXACT_INT = 2**53

# Roles of the eight uniforms drawn per intent.
_DELAY_1, _SLIP_1, _PARTIAL, _RATIO, _REMAINDER, _DELAY_2, _SLIP_2 = range(7)

_UNPACK_8Q = struct.Struct(">8Q").unpack
_INV_2_53 = 1.0 / (1 << 53)


class ExecutionSimulator:
    """Simulates accepted intents; one instance per worker process, no state between intents."""

    def __init__(self, settings: Settings, seed: bytes) -> None:
        self._market = Market(seed, settings.reference_prices)
        self._draw_base = hashlib.blake2b(bytes(seed) + b"|", digest_size=64)
        self._min_delay = settings.min_delay_ms
        self._delay_span = settings.max_delay_ms - settings.min_delay_ms + 1
        self._slip = settings.slippage_bps / 1e4
        self._commission = settings.commission_bps / 1e4
        self._partial_chance = settings.partial_fill_chance
        self._virtual = settings.virtual_clock
        self._clock = settings.simulation_clock
        self._seeded = settings.simulation_seed is not None

    # -- draws -------------------------------------------------------------------

    def draws(self, corr_id: str) -> tuple[float, ...]:
        """Eight uniforms in [0, 1) that depend only on the seed and the corr_id."""
        h = self._draw_base.copy()
        h.update(corr_id.encode())
        return tuple((x >> 11) * _INV_2_53 for x in _UNPACK_8Q(h.digest()))

    def _delay(self, u: float) -> int:
        return self._min_delay + min(int(u * self._delay_span), self._delay_span - 1)

    # -- prices ------------------------------------------------------------------

    def _slipped(self, mid: float, sign: int, u: float, decimals: int) -> float:
        """mid moved against the trader by u * slippage, rounded toward mid, at least one tick."""
        bound = mid * self._slip
        price = round(mid + sign * bound * u, decimals)
        if sign * (price - mid) > bound:
            price = round(price - sign * 10.0**-decimals, decimals)
        return max(price, 10.0**-decimals)

    @staticmethod
    def _cancel_reason(intent: dict, sign: int, mid: float) -> str | None:
        """Why the order does not execute at this mid, or None when it does."""
        order_type = intent["order_type"]
        side = intent["side"]
        if order_type in ("stop", "stop_limit"):
            stop = intent.get("stop_price")
            if stop is None:
                return f"{order_type} without stop_price cannot trigger (IOC)"
            if sign * (mid - stop) < 0:
                where = "above" if sign > 0 else "below"
                return f"{order_type} not triggered: {side} stop {stop} {where} mid {mid} (IOC)"
        if order_type in ("limit", "stop_limit"):
            limit = intent.get("price")
            if limit is None:
                return f"{order_type} without price cannot execute (IOC)"
            if sign * (limit - mid) < 0:
                stage = "stop_limit triggered, limit" if order_type == "stop_limit" else "limit"
                where = "below" if sign > 0 else "above"
                return f"{stage} not marketable: {side} limit {limit} {where} mid {mid} (IOC)"
        return None

    def _execution_price(self, intent: dict, sign: int, quote: Quote, u: float, decimals: int) -> tuple[float, float]:
        """(fill price, intended price) of an executing order at this quote."""
        slipped = self._slipped(quote.mid, sign, u, decimals)
        limit = intent.get("price") if intent["order_type"] in ("limit", "stop_limit") else None
        if limit is None:
            return slipped, quote.mid
        return (min(limit, slipped) if sign > 0 else max(limit, slipped)), limit

    # -- quantities --------------------------------------------------------------

    @staticmethod
    def split(quantity: int | float, u: float) -> tuple[int | float, int | float] | None:
        """(first, rest) with 0 < first, 0 < rest, first + rest <= quantity; None if it cannot split."""
        ratio = PARTIAL_MIN_RATIO + (PARTIAL_MAX_RATIO - PARTIAL_MIN_RATIO) * u
        if isinstance(quantity, int):
            if quantity < 2:
                return None
            first = min(max(int(quantity * ratio), 1), quantity - 1)
            return first, quantity - first
        first = round(quantity * ratio, QUANTITY_DECIMALS)
        if not 0 < first < quantity:
            return None
        rest = quantity - first
        # The 8-decimal form when it is the complement up to float noise (the
        # quantity has at most 8 decimals), else the exact float complement.
        rounded = round(rest, QUANTITY_DECIMALS)
        if abs(rounded - rest) <= 4 * math.ulp(quantity):
            rest = rounded
        # Then never more than the order, exactly: at most a few ulps down.
        exact_total = Fraction(quantity) - Fraction(first)
        while Fraction(rest) > exact_total:
            rest = math.nextafter(rest, 0.0)
        return (first, rest) if rest > 0 else None

    # -- the simulation ----------------------------------------------------------

    def simulate(self, accepted: AcceptedIntent) -> Execution:
        started = time.perf_counter()
        intent = accepted.intent
        corr_id = accepted.corr_id
        instrument = intent["instrument"]
        order_type = intent["order_type"]
        side = intent["side"]
        sign = 1 if side == "buy" else -1
        quantity = _normalize_quantity(intent["quantity"])
        u = self.draws(corr_id)
        market = self._market
        decimals = market.decimals(instrument)
        intent_ms = accepted.timestamp_ms
        stamp_base = intent_ms if self._virtual else accepted.received_at_ms

        order = Order(
            corr_id=corr_id,
            order_id=order_id(corr_id),
            strategy_id=intent["strategy_id"],
            agent_id=intent["agent_id"],
            instrument=instrument,
            side=side,
            order_type=order_type,
            quantity=quantity,
            intent_ms=intent_ms,
            clock=self._clock,
            seeded=self._seeded,
            price=intent.get("price"),
            stop_price=intent.get("stop_price"),
        )

        delay = self._delay(u[_DELAY_1])
        quote = market.quote(instrument, intent_ms + delay)
        reason = self._cancel_reason(intent, sign, quote.mid)
        if reason is None and not quantity * quote.mid < MAX_NOTIONAL:
            reason = f"notional out of range: {quantity} at mid {quote.mid} (IOC)"
        if reason is not None:
            fills = [self._cancelled(1, quantity, quote, delay, intent_ms, stamp_base, reason, 0)]
        else:
            parts = self.split(quantity, u[_RATIO]) if u[_PARTIAL] < self._partial_chance else None
            first = quantity if parts is None else parts[0]
            price, intended = self._execution_price(intent, sign, quote, u[_SLIP_1], decimals)
            fills = [self._filled(
                1, FULL if parts is None else PARTIAL, first, price, intended, sign, quote,
                delay, intent_ms, stamp_base, first,
            )]
            if parts is not None:
                rest = parts[1]
                if u[_REMAINDER] < REMAINDER_FILL_CHANCE:
                    delay += self._delay(u[_DELAY_2])
                    quote = market.quote(instrument, intent_ms + delay)
                    price, intended = self._execution_price(intent, sign, quote, u[_SLIP_2], decimals)
                    fills.append(self._filled(
                        2, FULL, rest, price, intended, sign, quote, delay, intent_ms, stamp_base, quantity,
                    ))
                else:
                    fills.append(self._cancelled(
                        2, rest, quote, delay, intent_ms, stamp_base,
                        f"remainder cancelled (IOC): {rest} of {quantity} not filled", first,
                    ))

        events = encode_events(order, fills)
        return Execution(
            stream_seq=accepted.stream_seq,
            corr_id=corr_id,
            instrument=instrument,
            order_type=order_type,
            final_status=fills[-1].status,
            simulation_delay_ms=fills[0].delay_ms,
            events=events,
            simulation_s=time.perf_counter() - started,
        )

    def _filled(
        self, index: int, status: str, quantity: int | float, price: float, intended: float, sign: int,
        quote: Quote, delay: int, intent_ms: int, stamp_base: int, filled_total: int | float,
    ) -> Fill:
        return Fill(
            index=index,
            status=status,
            quantity=quantity,
            price=price,
            intended_price=intended,
            quote=quote,
            delay_ms=delay,
            market_ms=intent_ms + delay,
            stamp_ms=stamp_base + delay,
            commission=num(quantity * price * self._commission),
            slippage=num(sign * (price - intended), 12),
            filled_total=filled_total,
        )

    @staticmethod
    def _cancelled(
        index: int, quantity: int | float, quote: Quote, delay: int, intent_ms: int, stamp_base: int,
        reason: str, filled_total: int | float,
    ) -> Fill:
        return Fill(
            index=index,
            status=CANCELLED,
            quantity=quantity,
            price=quote.mid,
            intended_price=quote.mid,
            quote=quote,
            delay_ms=delay,
            market_ms=intent_ms + delay,
            stamp_ms=stamp_base + delay,
            commission=0.0,
            slippage=0.0,
            filled_total=filled_total,
            reject_reason=reason,
        )


def _normalize_quantity(quantity: int | float) -> int | float:
    """Whole quantities as int (split into whole units), others as float."""
    if isinstance(quantity, int):
        return quantity if quantity < MAX_EXACT_INT else float(quantity)
    if quantity.is_integer() and quantity < MAX_EXACT_INT:
        return int(quantity)
    return quantity
