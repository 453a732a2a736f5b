"""The long-order room: intents in flight whose answer is far off, kept apart from the executing room.

Runs in the supervisor's event loop (plain bookkeeping: no NATS, no awaits).
An intent in flight holds a slot until its input is acked. Most are answered
within the simulated delay (up to a few seconds); a long order (a resting
DAY/GTC limit, a forced delay of hours, a reconcile held back for long) holds
its slot until its last event is due. If those shared MAX_IN_FLIGHT with the
rest, one agent publishing long orders would take every slot and stop every
other agent's market orders. So:

    executing room   MAX_IN_FLIGHT: intents fetched and not yet answered, long
                     orders excluded; what the fetch step is bounded by
    long-order room  MAX_LONG_ORDERS in all, at most MAX_LONG_ORDERS_PER_AGENT
                     per agent_id: an accepted intent whose last event is due
                     more than LONG_ORDER_AFTER_SEC after its simulation moves
                     here (the agent is known only once a worker has parsed it)

A new intent that would overflow either bound of the long-order room is
refused (`admit` says why: a typed rejection with EXEC-017, counted, logged,
terminally acked; the agent may send it again once its orders settle). An
intent that may already have events stored (a redelivery) or a reconcile held
after its fill cannot be refused without cutting an order in half: `force`
admits it past the bounds, which such intents exceed only until they settle
(a held reconcile: up to FAULT_RECONCILE_DELAY_MAX_MS, a fault the operator
turns on).
"""

from __future__ import annotations

from common.metrics import LONG_ORDER_REFUSALS

# Why `admit` refused an intent: the room is full, or the agent holds its share (metric labels).
ROOM_FULL, AGENT_SHARE_FULL = LONG_ORDER_REFUSALS


class LongOrderRoom:
    def __init__(self, max_orders: int, max_per_agent: int) -> None:
        self.max_orders = max_orders
        self.max_per_agent = max_per_agent
        # stream_seq -> agent_id of every long order held.
        self._agents: dict[int, str] = {}
        self._per_agent: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, stream_seq: int) -> bool:
        return stream_seq in self._agents

    @property
    def exhausted(self) -> bool:
        """No room for another agent's long order: new ones are refused."""
        return len(self._agents) >= self.max_orders

    def held_by(self, agent_id: str) -> int:
        return self._per_agent.get(agent_id, 0)

    def refusal(self, agent_id: str) -> str | None:
        """Why a new long order of `agent_id` cannot be admitted now (None: it can)."""
        if self._per_agent.get(agent_id, 0) >= self.max_per_agent:
            return AGENT_SHARE_FULL
        if len(self._agents) >= self.max_orders:
            return ROOM_FULL
        return None

    def admit(self, agent_id: str, stream_seq: int, force: bool = False) -> str | None:
        """Hold `stream_seq` as a long order of `agent_id`: None when admitted, else the refusal."""
        if stream_seq in self._agents:
            return None
        refused = None if force else self.refusal(agent_id)
        if refused is None:
            self._agents[stream_seq] = agent_id
            self._per_agent[agent_id] = self._per_agent.get(agent_id, 0) + 1
        return refused

    def release(self, stream_seq: int) -> bool:
        """The intent is settled or handed back: its room is free (False: it held none)."""
        agent_id = self._agents.pop(stream_seq, None)
        if agent_id is None:
            return False
        left = self._per_agent[agent_id] - 1
        if left:
            self._per_agent[agent_id] = left
        else:
            del self._per_agent[agent_id]
        return True

    def clear(self) -> None:
        self._agents.clear()
        self._per_agent.clear()
