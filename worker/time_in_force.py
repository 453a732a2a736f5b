"""Time-in-force policies: how long an order stays, and what happens to what it could not fill.

Runs in the pool's worker processes, used by the execution pipeline (worker.simulator)
through the typed order (worker.order). Owns metadata.time_in_force (read by
worker.directives); one small object per policy, built once per worker:

    default   executes at arrival; a remainder per SIMULATION_LIQUIDITY_REMAINDER and a
              random partial's per its draw; not marketable: cancelled
    IOC       fills what the market offers at arrival, cancels the rest
    FOK       fills in full at arrival or not at all (never a random partial)
    DAY       a limit or stop order rests until the price path reaches it, to the close
              of the session it arrived in (or, arriving while closed, of the next one),
              at most a day on
    GTC       rests as DAY does, for SIMULATION_GTC_HORIZON_DAYS after its arrival

On a market order (or a forced one) DAY and GTC change nothing: it executes at
once. A resting order, a FOK order and a forced one never fill in random
partials: a resting order keeps its remainder in the book rather than cancelling
it at random, a FOK order is never partially filled, a forced one fills as scripted.
"""

from __future__ import annotations

from worker.directives import DAY, FOK, GTC, IOC
from worker.events import FOK_NOT_FILLED, IOC_REMAINDER
from worker.market_view import MarketView
from worker.order_types import Verdict
from worker.quantities import Lots

DAY_MS = 86_400_000


class TimeInForce:
    """The default policy, and the base of the others."""

    name: str | None = None
    rests = False  # a limit or stop order waits for its price instead of being cancelled
    random_partials = True  # the first fill may be a random partial

    def short_at_arrival(self, units: int, lots: Lots) -> Verdict | None:
        """Why a first fill of `units` kills the order, None when it may go on."""
        return None

    def after_fill(self, rest_text: str) -> Verdict | None:
        """Why the rest of a partly filled order is cancelled now, None when it may fill later."""
        return None

    def expiry(self, market: MarketView, instrument: str, arrival_ms: int) -> int | None:
        """When a resting order placed at `arrival_ms` expires; None when it cannot rest."""
        return None


class ImmediateOrCancel(TimeInForce):
    name = IOC

    def after_fill(self, rest_text: str) -> Verdict | None:
        return Verdict(IOC_REMAINDER, f"immediate or cancel: {rest_text} not filled at arrival")


class FillOrKill(TimeInForce):
    name = FOK
    random_partials = False

    def short_at_arrival(self, units: int, lots: Lots) -> Verdict | None:
        if units < lots.remaining_units:
            return Verdict(FOK_NOT_FILLED,
                           f"fill or kill: {lots.size(units)} of {lots.quantity} available at arrival; nothing filled")
        return None


class GoodForDay(TimeInForce):
    name = DAY
    rests = True

    def expiry(self, market: MarketView, instrument: str, arrival_ms: int) -> int | None:
        opens = market.next_open(instrument, arrival_ms)
        if opens is None:  # beyond the calendar's range: nothing will open
            return None
        close = market.session_close(instrument, opens)
        return min(close if close is not None else opens, opens + DAY_MS)


class GoodTillCancelled(TimeInForce):
    name = GTC
    rests = True

    def __init__(self, horizon_ms: int) -> None:
        if horizon_ms <= 0:
            raise ValueError(f"a GTC horizon must be positive, not {horizon_ms} ms")
        self.horizon_ms = horizon_ms

    def expiry(self, market: MarketView, instrument: str, arrival_ms: int) -> int | None:
        if market.next_open(instrument, arrival_ms) is None:
            return None
        return arrival_ms + self.horizon_ms


def time_in_force_policies(gtc_horizon_days: float) -> dict[str | None, TimeInForce]:
    """The policy of each metadata.time_in_force value (None: the simulator's default)."""
    policies = (TimeInForce(), ImmediateOrCancel(), FillOrKill(), GoodForDay(),
                GoodTillCancelled(int(gtc_horizon_days * DAY_MS)))
    return {policy.name: policy for policy in policies}
