"""The supervisor's pure bookkeeping: release order, the corr_id window, the fetch rate limit."""

from __future__ import annotations

import time

from supervisor.idempotency import CorrIdWindow
from supervisor.rate_limit import FetchRateLimit
from supervisor.release import ReleaseSchedule


def test_release_schedule_releases_due_items_by_time_then_stream_order():
    schedule: ReleaseSchedule[str] = ReleaseSchedule()
    schedule.add(2.0, 5, "late")
    schedule.add(1.0, 9, "early-seq9")
    schedule.add(1.0, 3, "early-seq3")
    schedule.add(9.0, 1, "future")
    assert schedule.pop_due(now=5.0, limit=10) == ["early-seq3", "early-seq9", "late"]
    assert schedule.next_due() == 9.0 and len(schedule) == 1


def test_release_schedule_respects_the_limit():
    schedule: ReleaseSchedule[int] = ReleaseSchedule()
    for n in range(10):
        schedule.add(0.0, n, n)
    assert schedule.pop_due(now=1.0, limit=4) == [0, 1, 2, 3]
    assert len(schedule) == 6


def test_corr_id_window_rejects_repeats_until_the_ttl_passes():
    window = CorrIdWindow(ttl_s=10)
    assert window.claim("a", now=0.0)
    assert not window.claim("a", now=9.9)
    assert window.claim("b", now=5.0)
    assert window.claim("a", now=10.0)  # expired, claimed afresh
    assert len(window) == 2


def test_corr_id_window_off_with_zero_ttl():
    window = CorrIdWindow(ttl_s=0)
    assert window.claim("a") and window.claim("a")


def test_rate_limit_allows_a_burst_then_the_rate():
    limit = FetchRateLimit(rate_per_s=100, burst=50)
    assert limit.allowance(80) == 50
    limit.spend(50)
    assert limit.allowance(10) == 0
    assert 0 < limit.wait_s() <= 0.011
    time.sleep(0.05)
    assert 3 <= limit.allowance(100) <= 10


def test_rate_limit_off_allows_everything():
    limit = FetchRateLimit(rate_per_s=0, burst=1)
    assert limit.allowance(10_000) == 10_000 and limit.wait_s() == 0
