"""The validated intent: what the input path hands the simulator.

Runs in the pool's worker processes. `OrderIntent` is the at-core
decisions.order_intent body as its schema guarantees it (worker.validation checks
it); `AcceptedIntent` carries it with the instants and directives read beside it.
worker.order builds the typed order from an AcceptedIntent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from worker.directives import NONE, Directives


class OrderIntent(TypedDict):
    """An at-core decisions.order_intent body, as the schema guarantees it."""

    corr_id: str
    strategy_id: str
    agent_id: str
    timestamp: str
    instrument: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit" | "stop" | "stop_limit"
    quantity: int | float
    confidence: float
    price: NotRequired[float]
    stop_price: NotRequired[float]
    reasoning: NotRequired[str]
    risk_score: NotRequired[float]
    signal_refs: NotRequired[list[Any]]
    metadata: NotRequired[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AcceptedIntent:
    stream_seq: int
    corr_id: str
    intent: OrderIntent  # parsed, schema-valid body (as orjson.loads gave it)
    timestamp_ms: int  # the intent's own "timestamp", epoch milliseconds UTC
    received_at_ms: int  # copied from RawIntent
    directives: Directives = NONE
