"""Delayed reconciles: intents whose next event is held back until their agent trades again.

Runs in the supervisor's event loop. worker/faults.py's reconcile_delayed fault
marks an intent's first reconcile; when that event falls due, the service parks
the intent here instead of publishing it. A hold ends at whichever comes first:

    a fill of ANOTHER intent of the same agent is stored (its PubAck came,
        duplicate or not) after the hold began: the venue reports the position
        late, behind the agent's next trade;
    its deadline: FAULT_RECONCILE_DELAY_MAX_MS after the event fell due, on the
        monotonic clock (under the virtual clock too: nothing else ever ends it
        for an agent's last order).

The service then schedules the intent again; the held event goes out, and only
after its PubAck the intent's later events and its input's ack (order per
corr_id and the ack-after-store promise are untouched: a hold only adds time).

Nothing here is touched when no fault is configured: the service asks only
while a hold exists (`len(holds)`), and then with one dict lookup by agent per
fill stored. Deadlines sit in a heap; a hold ended by a fill leaves its heap
entry behind, dropped when its time comes (at most the maximum wait later).
"""

from __future__ import annotations

import heapq
from typing import Generic, TypeVar

T = TypeVar("T")


class ReconcileHolds(Generic[T]):
    def __init__(self) -> None:
        # stream_seq -> (agent_id, deadline, item): every live hold.
        self._held: dict[int, tuple[str, float, T]] = {}
        # agent_id -> its held stream sequences, in the order their holds began.
        self._by_agent: dict[str, dict[int, None]] = {}
        self._deadlines: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, stream_seq: int) -> bool:
        return stream_seq in self._held

    def hold(self, agent_id: str, stream_seq: int, item: T, deadline: float) -> None:
        """Park `item` (the intent `stream_seq`) until a fill of another of `agent_id`'s intents, or `deadline`."""
        self._release(stream_seq)  # one hold per intent: a second one replaces the first
        self._held[stream_seq] = (agent_id, deadline, item)
        self._by_agent.setdefault(agent_id, {})[stream_seq] = None
        heapq.heappush(self._deadlines, (deadline, stream_seq))

    def fill_stored(self, agent_id: str, stream_seq: int) -> list[T]:
        """A fill of intent `stream_seq` by `agent_id` is stored: end the agent's other holds, oldest first."""
        waiting = self._by_agent.get(agent_id)
        if not waiting:
            return []
        ended = [seq for seq in waiting if seq != stream_seq]
        return [self._take(seq) for seq in ended]

    def expired(self, now: float) -> list[T]:
        """End the holds whose deadline has come, earliest first."""
        heap = self._deadlines
        released: list[T] = []
        while heap and heap[0][0] <= now:
            deadline, seq = heapq.heappop(heap)
            live = self._held.get(seq)
            if live is not None and live[1] == deadline:
                released.append(self._take(seq))
        return released

    def next_deadline(self) -> float | None:
        """When the earliest live hold runs out (None: no hold)."""
        heap = self._deadlines
        while heap:
            deadline, seq = heap[0]
            live = self._held.get(seq)
            if live is not None and live[1] == deadline:
                return deadline
            heapq.heappop(heap)  # ended by a fill, or replaced
        return None

    def drain(self) -> list[T]:
        """End every hold (a hand-back): the items, in the order their holds began."""
        items = [item for _, _, item in self._held.values()]
        self._held.clear()
        self._by_agent.clear()
        self._deadlines.clear()
        return items

    def _release(self, stream_seq: int) -> None:
        """End the hold of `stream_seq`, if there is one."""
        if stream_seq in self._held:
            self._take(stream_seq)

    def _take(self, stream_seq: int) -> T:
        """End the live hold of `stream_seq`: its item."""
        agent_id, _, item = self._held.pop(stream_seq)
        waiting = self._by_agent[agent_id]
        del waiting[stream_seq]
        if not waiting:
            del self._by_agent[agent_id]
        return item
