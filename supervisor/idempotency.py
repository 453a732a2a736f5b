"""Which corr_ids this supervisor has filled within IDEMPOTENCY_TTL_SEC.

Runs in the supervisor's event loop. An in-memory map ordered by first sight,
expired from the front; it stops an intent repeated while this process runs.
Across restarts and instances the stream's duplicate window does the same job:
the repeated intent yields the same message ids and the stream drops them.
"""

from __future__ import annotations

import time
from collections import OrderedDict


class CorrIdWindow:
    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    def claim(self, corr_id: str, now: float | None = None) -> bool:
        """True if corr_id is new within the window (and now taken); False for a duplicate."""
        if self._ttl_s <= 0:
            return True
        now = time.monotonic() if now is None else now
        while self._expiry:
            oldest, expires_at = next(iter(self._expiry.items()))
            if expires_at > now:
                break
            del self._expiry[oldest]
        if corr_id in self._expiry:
            return False
        self._expiry[corr_id] = now + self._ttl_s
        return True
