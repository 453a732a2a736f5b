"""The supervisor's pure bookkeeping: release order, the corr_id window, the fetch rate limit."""

from __future__ import annotations

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
    window = CorrIdWindow(ttl_s=10, max_entries=1000)
    assert window.claim("ag", "a", 1, now=0.0) is None
    assert window.claim("ag", "a", 2, now=9.9) == 1  # another message: a duplicate of seq 1
    assert window.claim("ag", "a", 1, now=9.9) == 1  # the same message again: a redelivery
    assert window.claim("ag", "b", 3, now=5.0) is None
    assert window.claim("ag", "a", 4, now=10.0) is None  # expired, claimed afresh
    assert len(window) == 2


def test_corr_id_window_holder_looks_without_claiming():
    window = CorrIdWindow(ttl_s=10, max_entries=1000)
    assert window.holder("ag", "a", now=0.0) is None
    assert window.claim("ag", "a", 1, now=0.0) is None
    assert window.holder("ag", "a", now=9.9) == 1 and window.holder("other", "a", now=1.0) is None
    assert window.holder("ag", "a", now=10.0) is None  # expired
    assert window.claim("ag", "b", 2, now=1.0) is None and window.holder("ag", "b", now=1.0) == 2


def test_corr_id_window_keeps_each_agents_corr_ids_apart():
    window = CorrIdWindow(ttl_s=10, max_entries=1000)
    assert window.claim("agent_a", "x", 1, now=0.0) is None
    assert window.claim("agent_b", "x", 2, now=1.0) is None  # another agent's own corr_id
    assert window.claim("agent_a", "x", 3, now=2.0) == 1  # the same agent again: a duplicate
    assert window.claim("agent_b", "x", 4, now=2.0) == 2
    # Neither part may borrow from the other: ("a", "b_c") and ("a_b", "c") are different claims.
    assert window.claim("a", "b_c", 5, now=3.0) is None
    assert window.claim("a_b", "c", 6, now=3.0) is None


def test_corr_id_window_is_capped_oldest_first():
    window = CorrIdWindow(ttl_s=3600, max_entries=3)
    for seq, corr_id in enumerate("abcd"):
        window.claim("ag", corr_id, seq, now=float(seq))
    assert len(window) == 3
    assert window.claim("ag", "a", 9, now=5.0) is None  # "a" was let go: the stream's dedupe covers it
    assert window.claim("ag", "d", 9, now=5.0) == 3


def test_corr_id_window_off_with_zero_ttl():
    window = CorrIdWindow(ttl_s=0, max_entries=1000)
    assert window.claim("ag", "a", 1) is None and window.claim("ag", "a", 2) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_allows_a_burst_then_the_rate():
    clock = FakeClock()
    limit = FetchRateLimit(rate_per_s=100, burst=50, clock=clock)
    assert limit.allowance(80) == 50
    limit.spend(50)
    assert limit.allowance(10) == 0
    assert limit.wait_s() == 0.01  # one token at 100/s
    clock.now += 0.25  # binary-exact: 25 tokens, not 24.999...
    assert limit.allowance(100) == 25
    limit.spend(25)
    assert limit.allowance(100) == 0
    clock.now += 10.0  # refills up to the burst, never beyond
    assert limit.allowance(100) == 50


def test_rate_limit_off_allows_everything():
    limit = FetchRateLimit(rate_per_s=0, burst=1)
    assert limit.allowance(10_000) == 10_000 and limit.wait_s() == 0
