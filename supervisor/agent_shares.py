"""Agent shares: how much of the executing room one agent's intents may hold.

Runs in the supervisor's event loop (plain bookkeeping: no NATS, no awaits);
the in-flight book (supervisor/book.py) holds one. One durable consumer
delivers in stream order, so an agent that publishes more than the executing
room (MAX_IN_FLIGHT) at once would fill it, and the fetch would stop at the
flood's head: every intent published after the flood, by anyone, would wait
for the flood to be worked off. So an agent's intents count against
MAX_IN_FLIGHT only up to its share (MAX_IN_FLIGHT_AGENT_SHARE of it); what it
has fetched beyond its share is "over share" and counts against its own bound,
MAX_QUEUED_OVER_SHARE. The fetch reads on past a flood while both bounds have
room, so the quiet agents' intents behind it are fetched, and the fair queue
(supervisor/fair_queue.py) gives them their turns.

Over-share intents are not a queue of their own: they wait in their agent's
fair-queue line like any other, and as the agent's intents are answered its
later ones count in the room again (the count is min(held, share) per agent).

The agent is the raw agent_id the fair queue reads (supervisor/fair_queue.py
`agent_key`), before any signature is checked: many invented agent_ids each
get a share. With a keyring, an intent claiming an agent_id its key does not
own is rejected before it executes (EXEC-016), which frees its place at once.
"""

from __future__ import annotations


class AgentShares:
    def __init__(self, share: int) -> None:
        self.share = max(1, share)
        self._held: dict[bytes, int] = {}
        # Sum over agents of min(held, share), and of what is held beyond the share.
        self.in_room = 0
        self.over_share = 0

    @property
    def agents(self) -> int:
        return len(self._held)

    def held_by(self, agent: bytes) -> int:
        return self._held.get(agent, 0)

    def add(self, agent: bytes) -> None:
        held = self._held.get(agent, 0) + 1
        self._held[agent] = held
        if held <= self.share:
            self.in_room += 1
        else:
            self.over_share += 1

    def remove(self, agent: bytes) -> None:
        """One of the agent's intents left the executing room: the next over share takes its place."""
        held = self._held.get(agent, 0)
        if held <= 0:
            return
        if held > self.share:
            self.over_share -= 1
        else:
            self.in_room -= 1
        if held == 1:
            del self._held[agent]
        else:
            self._held[agent] = held - 1

    def clear(self) -> None:
        self._held.clear()
        self.in_room = 0
        self.over_share = 0
