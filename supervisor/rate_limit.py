"""RATE_LIMIT_RPS as a token bucket on fetching: excess intents wait in the stream.

Runs in the supervisor's fetch step. Limiting what is fetched (not what is
processed) means nothing is dropped and nothing sits in memory waiting. The
clock is injected (time.monotonic by default) so tests drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FetchRateLimit:
    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_s
        self._burst = max(1.0, float(burst))
        self._clock = clock
        self._tokens = self._burst
        self._updated = clock()

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def allowance(self, wanted: int) -> int:
        """How many of `wanted` may be fetched now (0 when the bucket is empty)."""
        if not self.enabled:
            return wanted
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        return min(wanted, int(self._tokens))

    def spend(self, count: int) -> None:
        if self.enabled:
            self._tokens -= count

    def wait_s(self) -> float:
        """Time until one more token."""
        if not self.enabled or self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self._rate
