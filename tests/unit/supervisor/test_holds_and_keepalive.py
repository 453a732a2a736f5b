"""The supervisor's bookkeeping for strategy-testing controls: delayed-reconcile holds and the
keepalive sweep's choice of intents."""

from __future__ import annotations

from dataclasses import dataclass

from supervisor import keepalive
from supervisor.holds import ReconcileHolds


def test_a_fill_of_another_intent_of_the_same_agent_ends_its_holds_oldest_first():
    holds: ReconcileHolds[str] = ReconcileHolds()
    holds.hold("agent-a", 1, "a1", deadline=10.0)
    holds.hold("agent-a", 2, "a2", deadline=11.0)
    holds.hold("agent-b", 3, "b3", deadline=12.0)
    assert len(holds) == 3 and 2 in holds
    assert holds.fill_stored("agent-c", 9) == []
    assert holds.fill_stored("agent-a", 7) == ["a1", "a2"]
    assert len(holds) == 1 and 1 not in holds
    assert holds.fill_stored("agent-a", 8) == []  # nothing left for agent-a


def test_an_intents_own_fill_does_not_end_its_hold():
    holds: ReconcileHolds[str] = ReconcileHolds()
    holds.hold("agent-a", 1, "a1", deadline=10.0)
    holds.hold("agent-a", 2, "a2", deadline=10.0)
    assert holds.fill_stored("agent-a", 1) == ["a2"]
    assert 1 in holds


def test_holds_end_at_their_deadline_and_a_hold_ended_by_a_fill_does_not_expire_again():
    holds: ReconcileHolds[str] = ReconcileHolds()
    holds.hold("agent-a", 1, "a1", deadline=5.0)
    holds.hold("agent-b", 2, "b2", deadline=3.0)
    holds.hold("agent-c", 3, "c3", deadline=9.0)
    assert holds.next_deadline() == 3.0
    assert holds.expired(now=2.9) == []
    assert holds.fill_stored("agent-b", 4) == ["b2"]
    assert holds.next_deadline() == 5.0  # b2's heap entry dropped, not reported
    assert holds.expired(now=6.0) == ["a1"]
    assert holds.next_deadline() == 9.0 and len(holds) == 1
    assert holds.expired(now=100.0) == ["c3"]
    assert holds.next_deadline() is None and len(holds) == 0


def test_a_second_hold_of_the_same_intent_replaces_the_first():
    holds: ReconcileHolds[str] = ReconcileHolds()
    holds.hold("agent-a", 1, "first", deadline=1.0)
    holds.hold("agent-a", 1, "second", deadline=4.0)
    assert len(holds) == 1
    assert holds.expired(now=2.0) == []  # the first deadline no longer counts
    assert holds.next_deadline() == 4.0
    assert holds.expired(now=4.0) == ["second"]


def test_drain_ends_every_hold_in_the_order_they_began():
    holds: ReconcileHolds[str] = ReconcileHolds()
    holds.hold("agent-b", 5, "b5", deadline=1.0)
    holds.hold("agent-a", 2, "a2", deadline=2.0)
    assert holds.drain() == ["b5", "a2"]
    assert len(holds) == 0 and holds.next_deadline() is None
    assert holds.fill_stored("agent-a", 9) == [] and holds.expired(now=10.0) == []


@dataclass
class Record:
    progress_at: float


def test_the_sweep_takes_the_old_records_from_the_front_and_stops_at_the_first_young_one():
    records = {1: Record(0.0), 2: Record(1.0), 3: Record(4.0), 4: Record(4.5)}
    assert keepalive.overdue(records, now=5.0, after_s=3.0) == [(1, records[1]), (2, records[2])]
    assert keepalive.overdue(records, now=2.0, after_s=3.0) == []
    assert keepalive.overdue({}, now=2.0, after_s=3.0) == []


def test_a_record_kept_alive_moves_to_the_young_end_so_the_order_holds():
    records = {1: Record(0.0), 2: Record(1.0), 3: Record(4.0)}
    for key, record in keepalive.overdue(records, now=5.0, after_s=3.0):
        keepalive.progressed(records, key, record, now=5.0)
    assert list(records) == [3, 1, 2]
    assert [r.progress_at for r in records.values()] == [4.0, 5.0, 5.0]
    assert keepalive.overdue(records, now=7.5, after_s=3.0) == [(3, records[3])]
    gone = Record(0.0)
    keepalive.progressed(records, 9, gone, now=6.0)  # settled meanwhile: stamped, not re-added
    assert 9 not in records and gone.progress_at == 6.0


def test_every_record_gets_its_progress_ack_well_inside_ack_wait():
    for ack_wait_s in (1.0, 2.0, 30.0, 60.0, 3600.0):
        after_s, interval_s = keepalive.keepalive_after_s(ack_wait_s), keepalive.sweep_interval_s(ack_wait_s)
        assert after_s + interval_s <= 0.75 * ack_wait_s
        assert interval_s <= keepalive.MAX_SWEEP_INTERVAL_S
