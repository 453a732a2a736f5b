"""One order's state while it passes the execution pipeline, and how it ended.

Runs in the pool's worker processes, created per intent by worker.simulator and
dropped when its events are encoded. Owns what the pipeline's steps share: the
delay so far (so the market time), the quote there, the fills made, the depth of
the book it has taken, the faults met, whether the order rests (and whether it is
posted at its limit) and until when, and the ending that stops it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.instruments import Instrument
from worker.draws import Draws
from worker.events import CANCELLED, REJECTED, Fill
from worker.faults import FaultPlan
from worker.market import Quote
from worker.models.fees import OrderFees
from worker.models.liquidity import DepthTaken
from worker.order import Order
from worker.quantities import Lots

# The quote before the order's first look at the market.
NO_QUOTE = Quote(bid=0.0, ask=0.0, mid=0.0, volume=0.0)


@dataclass(frozen=True, slots=True)
class Ending:
    """How an order stopped short of a full fill (worker.events status and reason code)."""

    status: str  # rejected | cancelled | expired
    code: str
    reason: str


@dataclass(slots=True)
class OrderState:
    order: Order
    instrument: Instrument  # the order's instrument's reference data
    decimals: int  # of its quoted mids and fill prices
    draws: Draws
    lots: Lots
    plan: FaultPlan  # the per-order venue faults it meets (worker.faults)
    stamp_base_ms: int  # the market and events' clock: intent time (virtual) or receipt time (wall)
    delay_ms: int  # from the intent to the current market time
    resting: bool  # waits for its price (may turn False when its calendar has no session to come)
    cap_units: int | None = None  # a random partial's cap on the first fill
    rounded_from: tuple[tuple[str, int | float], ...] = ()  # the intent's off-grid values (worker.price_grid)
    faults: list[str] = field(default_factory=list)  # injected, in the order they struck
    fills: list[Fill] = field(default_factory=list)
    fees: OrderFees = field(default_factory=OrderFees)
    notional: float = 0.0  # sum of size * price over its fills (for the average price)
    expires_at_ms: int | None = None
    triggered: bool = False  # a stop (or stop_limit) whose stop price the touch has reached
    taken: DepthTaken = field(default_factory=DepthTaken)  # of the book, recovering (worker.models.liquidity)
    children: int = 0  # child fills made (each reports one fill per price level it took)
    posted: bool = False  # rests in the book at its limit: every later fill is at the limit
    queue_fill: bool = False  # posted behind the touch, may fill when its own side reaches it
    arrived: bool = True  # the first pass: the order reaching the venue
    ending: Ending | None = None
    # Of the current pass:
    market_ms: int = 0
    quote: Quote = NO_QUOTE
    closed: bool = False
    halt: tuple[int, int] | None = None
    random_partial: bool = False  # the fill just made was a random partial
    queue_now: bool = False  # a queue fill is due (worker.matching)

    @property
    def stop_reached(self) -> bool:
        """A stop that has triggered, or has filled (then it stays triggered for its child fills)."""
        return self.triggered or bool(self.fills)

    def end(self, status: str, code: str, reason: str) -> None:
        self.ending = Ending(status, code, reason)

    def end_rejected_or_cancelled(self, code: str, reason: str) -> None:
        """Rejected before any fill, the rest cancelled after one."""
        self.end(REJECTED if not self.fills else CANCELLED, code, reason)

    @property
    def expiry_ms(self) -> int:
        """When the resting order expires (set at its first look at the market)."""
        if self.expires_at_ms is None:
            raise ValueError(f"{self.order.corr_id}: a resting order without its expiry")
        return self.expires_at_ms
