"""Strategy-testing controls in the worker: seeded venue faults.

Venue rejects, latency spikes, duplicated fills, delayed reconciles and instrument halts: each
strikes at probability one and never at zero, is marked on its events, occurs near its configured
rate, and is the same for the same seed; halts are whole windows shared by every order on an
instrument. Intents go through the real validator and the real simulator; every event is checked
against its at-core schema.
"""

from __future__ import annotations

import pytest

from tests.builders import (
    FIXED_DELAY,
    SEED,
    T0,
    execute,
    fills_of,
    make_settings,
    update_of,
)
from worker.faults import (
    DUPLICATE_FILL,
    INSTRUMENT_HALT,
    LATENCY_SPIKE,
    RECONCILE_DELAYED,
    VENUE_REJECT,
    VenueFaults,
)

# -- venue faults --------------------------------------------------------------------------


@pytest.mark.parametrize("setting, fault", [
    ("fault_reject_probability", VENUE_REJECT), ("fault_latency_spike_probability", LATENCY_SPIKE),
    ("fault_duplicate_fill_probability", DUPLICATE_FILL), ("fault_reconcile_delay_probability", RECONCILE_DELAYED),
    ("fault_halt_probability", INSTRUMENT_HALT),
])
def test_every_fault_at_probability_one_strikes_is_marked_and_at_zero_never(setting, fault):
    for k in range(20):
        ex, bodies = execute({setting: 1.0}, corr_id=f"f{k}")
        assert ex.faults == (fault,)
        marked = [e for e in ex.events if e.faults]
        assert marked and all(fault in e.faults for e in marked)
        clean, _ = execute({setting: 0.0}, corr_id=f"f{k}")
        assert clean.faults == () and all(not e.faults for e in clean.events)


def test_a_venue_reject_and_a_halt_are_rejections_with_their_reason_codes():
    _, bodies = execute({"fault_reject_probability": 1.0})
    assert [f["fill_status"] for f in fills_of(bodies)] == ["rejected"]
    assert fills_of(bodies)[0]["metadata"] == fills_of(bodies)[0]["metadata"] | {
        "reason_code": "venue_reject", "faults": ["venue_reject"]}
    assert update_of(bodies)["metadata"]["faults"] == ["venue_reject"]
    _, bodies = execute({"fault_halt_probability": 1.0})
    assert fills_of(bodies)[0]["metadata"]["reason_code"] == "instrument_halted"
    assert "halted" in update_of(bodies)["reject_reason"]


def test_a_latency_spike_adds_its_milliseconds_to_the_arrival():
    ex, bodies = execute({"fault_latency_spike_probability": 1.0, "fault_latency_spike_ms": 7_000})
    assert fills_of(bodies)[0]["execution_latency_ms"] == FIXED_DELAY + 7_000
    assert ex.events[0].release_after_ms == FIXED_DELAY + 7_000
    assert fills_of(bodies)[0]["metadata"]["faults"] == ["latency_spike"]


def test_a_duplicated_fill_is_the_same_bytes_under_another_message_id():
    ex, _ = execute({"fault_duplicate_fill_probability": 1.0})
    kinds = [(e.kind, e.msg_id) for e in ex.events]
    assert kinds == [("fill", "agent_1:c1:1"), ("fill", "agent_1:c1:2"), ("reconcile", "agent_1:c1:3")]
    original, duplicate = ex.events[0], ex.events[1]
    assert duplicate.payload == original.payload and duplicate.faults == (DUPLICATE_FILL,) and original.faults == ()
    assert duplicate.release_after_ms == original.release_after_ms


def test_a_delayed_reconcile_is_marked_for_the_supervisor_to_hold():
    ex, bodies = execute({"fault_reconcile_delay_probability": 1.0})
    reconcile = ex.events[1]
    assert reconcile.kind == "reconcile" and reconcile.faults == (RECONCILE_DELAYED,)
    assert bodies[1]["metadata"]["faults"] == [RECONCILE_DELAYED]
    assert ex.events[0].faults == () and ex.agent_id == "agent_1"


def test_fault_rates_are_near_the_configured_probabilities():
    settings = make_settings(fault_reject_probability=0.1, fault_latency_spike_probability=0.2,
                             fault_duplicate_fill_probability=0.05, fault_reconcile_delay_probability=0.3)
    faults = VenueFaults(settings, SEED)
    n = 20_000
    plans = [faults.plan(f"rate-{k}") for k in range(n)]
    for share, expected in ((sum(p.reject for p in plans) / n, 0.1), (sum(bool(p.latency_spike_ms) for p in plans) / n, 0.2),
                            (sum(p.duplicate_fill for p in plans) / n, 0.05), (sum(p.reconcile_delayed for p in plans) / n, 0.3)):
        # 5 standard errors: a real bias fails, chance does not.
        assert abs(share - expected) < 5 * (expected * (1 - expected) / n) ** 0.5, (share, expected)
    # Independent of each other: both a reject and a spike about 0.1 * 0.2 of the time.
    both = sum(p.reject and bool(p.latency_spike_ms) for p in plans) / n
    assert abs(both - 0.02) < 5 * (0.02 * 0.98 / n) ** 0.5


def test_halts_are_whole_windows_shared_by_every_order_on_the_instrument():
    settings = make_settings(fault_halt_probability=0.3, fault_halt_window_s=60)
    faults = VenueFaults(settings, SEED)
    windows = [faults.halt_window("AAPL", T0 + k * 60_000) for k in range(2000)]
    share = sum(w is not None for w in windows) / len(windows)
    assert abs(share - 0.3) < 5 * (0.3 * 0.7 / len(windows)) ** 0.5
    for k, window in enumerate(windows):
        if window is not None:
            start, end = window
            assert start <= T0 + k * 60_000 < end and end - start == 60_000
            assert faults.halt_window("AAPL", start) == window == faults.halt_window("AAPL", end - 1)
    # Another worker with the same seed sees the same halts; another instrument its own.
    again = VenueFaults(settings, SEED)
    assert [again.halt_window("AAPL", T0 + k * 60_000) for k in range(2000)] == windows
    assert [faults.halt_window("MSFT", T0 + k * 60_000) for k in range(2000)] != windows


def test_the_same_seed_gives_the_same_faults_and_events():
    every = {"fault_reject_probability": 0.3, "fault_latency_spike_probability": 0.3,
             "fault_duplicate_fill_probability": 0.3, "fault_reconcile_delay_probability": 0.3,
             "fault_halt_probability": 0.2}
    for k in range(30):
        first, _ = execute(every, corr_id=f"same{k}")
        second, _ = execute(every, corr_id=f"same{k}")
        assert first.events == second.events and first.faults == second.faults
