"""Which (agent_id, corr_id) pairs this supervisor has filled within IDEMPOTENCY_TTL_SEC, and from which message.

Runs in the supervisor's event loop. A corr_id is its agent's own: the window
is keyed by (agent_id, corr_id), so one agent's corr_ids never block
another's, and an agent that sends one of its corr_ids again is refused.
An in-memory map ordered by first sight,
expired from the front and capped at IDEMPOTENCY_MAX_CORR_IDS (the oldest go
first past the cap, which keeps the supervisor's memory flat);
it stops an intent repeated while this process runs. Across restarts, and for
what the cap let go, the stream's duplicate window does the same job: the
repeated intent yields the same message ids (which name the agent and the
corr_id, worker/events.py) and the stream drops them.
Remembering the stream sequence that claimed a pair tells a client's
duplicate (another message) from a redelivery of the same message.
"""

from __future__ import annotations

import time
from collections import OrderedDict


class CorrIdWindow:
    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        # "<agent_id>:<corr_id>" -> (expires at, stream sequence that claimed it). One string, not a
        # tuple of two: a third less memory per entry. Unambiguous: the at-core schema holds both
        # ids to ^[a-zA-Z0-9_-]+$, so neither holds ':' (as in the message ids, worker/events.py).
        self._claims: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._claims)

    def holder(self, agent_id: str, corr_id: str, now: float) -> int | None:
        """The sequence holding agent_id's corr_id within the window, without claiming it (None: free)."""
        held = self._claims.get(f"{agent_id}:{corr_id}")
        return held[1] if held is not None and held[0] > now else None

    def claim(self, agent_id: str, corr_id: str, stream_seq: int, now: float | None = None) -> int | None:
        """Claim agent_id's corr_id for stream_seq: None when it was free, else the sequence already holding it."""
        if self._ttl_s <= 0:
            return None
        now = time.monotonic() if now is None else now
        claims = self._claims
        while claims:
            oldest, (expires_at, _) = next(iter(claims.items()))
            if expires_at > now and len(claims) < self._max_entries:
                break
            del claims[oldest]
        key = f"{agent_id}:{corr_id}"
        held = claims.get(key)
        if held is not None:
            return held[1]
        claims[key] = (now + self._ttl_s, stream_seq)
        return None
