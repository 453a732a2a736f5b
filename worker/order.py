"""The typed order: an accepted intent read once into the fields the execution rules use.

Runs in the pool's worker processes, built by the execution pipeline (worker.simulator)
from what worker.validation accepted. Owns the reading of the intent dict: past
this point no rule looks a field up in it. The order carries its rule objects,
its order type's (worker.order_types) and its time in force's
(worker.time_in_force), so the pipeline asks them instead of comparing strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from worker.directives import ForcedOutcome
from worker.intent import AcceptedIntent
from worker.order_types import RULES, OrderTypeRule
from worker.quantities import normalize_quantity
from worker.time_in_force import TimeInForce


class Order(NamedTuple):
    corr_id: str
    strategy_id: str
    agent_id: str
    instrument: str
    side: str  # "buy" | "sell"
    sign: int  # +1 buy, -1 sell: the direction a worse price moves
    order_type: str
    rule: OrderTypeRule
    quantity: int | float  # whole quantities as int (worker.quantities.normalize_quantity)
    # As the intent gave them (an int stays an int on the wire); None when absent.
    price: float | None
    stop_price: float | None
    time_in_force: TimeInForce
    force: ForcedOutcome | None  # metadata.exec_sim_force; None with SIMULATION_FORCED_OUTCOMES=off
    intent_ms: int  # the intent's own timestamp, epoch ms

    @property
    def forced(self) -> str | None:
        """The scripted outcome (full, partial, reject), None when the simulation decides."""
        return self.force.outcome if self.force is not None else None

    @property
    def scripted(self) -> bool:
        """A strategy's script shapes this order (a delay alone included): no venue fault strikes it."""
        return self.force is not None

    @property
    def rests(self) -> bool:
        """A DAY or GTC limit or stop order, not forced: it waits for its price."""
        return self.time_in_force.rests and self.order_type != "market" and self.forced is None

    @property
    def random_partials(self) -> bool:
        """The first fill may be a random partial (never for FOK, forced or resting orders)."""
        return self.time_in_force.random_partials and self.forced is None and not self.rests

    @property
    def limit(self) -> float | None:
        """The price no fill may be worse than (limit and stop_limit orders)."""
        return self.rule.limit(self)


def order_from_accepted(accepted: AcceptedIntent, policies: Mapping[str | None, TimeInForce]) -> Order:
    """The typed order of a validated intent and its directives (worker.directives)."""
    intent = accepted.intent
    directives = accepted.directives
    return Order(
        corr_id=accepted.corr_id, strategy_id=intent["strategy_id"], agent_id=intent["agent_id"],
        instrument=intent["instrument"], side=intent["side"], sign=1 if intent["side"] == "buy" else -1,
        order_type=intent["order_type"], rule=RULES[intent["order_type"]],
        quantity=normalize_quantity(intent["quantity"]),
        price=intent.get("price"), stop_price=intent.get("stop_price"),
        time_in_force=policies[directives.time_in_force], force=directives.force,
        intent_ms=accepted.timestamp_ms,
    )
