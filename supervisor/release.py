"""Release schedule: which intent's next event is due when.

Runs in the supervisor's event loop. A simulated delay is a release time in
this heap, never a sleep in line, so thousands of intents wait at once at the
cost of one heap entry each. An intent has at most one entry (its next event),
which is what keeps the events of one corr_id in order: the next is scheduled
only when the previous one has its PubAck. Ties go by stream sequence.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

T = TypeVar("T")


class ReleaseSchedule(Generic[T]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, T]] = []
        self._tiebreak = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, due: float, stream_seq: int, item: T) -> None:
        heapq.heappush(self._heap, (due, stream_seq, next(self._tiebreak), item))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, limit: int) -> list[T]:
        """Up to `limit` items whose time has come, earliest first."""
        released: list[T] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(released) < limit:
            released.append(heapq.heappop(heap)[3])
        return released

    def drain(self) -> list[T]:
        items = [entry[3] for entry in sorted(self._heap)]
        self._heap.clear()
        return items
