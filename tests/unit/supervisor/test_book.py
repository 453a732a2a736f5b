"""The in-flight book (supervisor/book.py): release times, room for fetching, holds and the hand-back."""

from __future__ import annotations

from common.config import load_settings
from common.messages import Execution, OutboundEvent
from supervisor.book import InFlightBook
from supervisor.inflight import InFlight


def execution(seq: int, *delays_ms: int) -> Execution:
    events = tuple(OutboundEvent("fill", f"agent-a:c{seq}:{k}", b"{}", delay) for k, delay in enumerate(delays_ms, 1))
    return Execution(seq, f"c{seq}", "AAPL", "market", "filled", delays_ms[-1], events, 0.0, agent_id="agent-a")


def record(book: InFlightBook, seq: int, receipt_at: float, *delays_ms: int) -> InFlight:
    entry = InFlight(f"$JS.ACK.S.C.1.{seq}.{seq}.0.0", seq, False, receipt_at, receipt_at)
    if delays_ms:
        entry.execution = execution(seq, *delays_ms)
    book.records[seq] = entry
    return entry


def test_release_times_count_from_receipt_and_are_zero_under_the_virtual_clock() -> None:
    wall = InFlightBook(load_settings({}))
    entry = record(wall, 1, 100.0, 250, 900)
    assert wall.due_at(entry) == 100.25
    entry.next_event = 1
    assert wall.due_at(entry) == 100.9
    virtual = InFlightBook(load_settings({"SIMULATION_CLOCK": "virtual"}))
    assert virtual.due_at(record(virtual, 1, 100.0, 250)) == 0.0


NOW = 5_000.0


def test_a_next_event_already_due_wakes_the_release_step_a_first_one_does_not() -> None:
    book = InFlightBook(load_settings({}), clock=lambda: NOW)
    first = record(book, 1, NOW - 10, 0, 0)
    book.schedule_next(first)
    assert not book.wake_release.is_set()  # collect wakes the release step once per batch
    first.next_event = 1
    book.schedule_next(first)
    assert book.wake_release.is_set() and len(book.schedule) == 2


def test_settling_makes_room_for_a_fetch_only_below_the_threshold() -> None:
    book = InFlightBook(load_settings({"MAX_IN_FLIGHT": "100", "BATCH_SIZE": "10", "NATS_MAX_ACK_PENDING": "-1"}))
    assert book.min_fetch == 10
    entries = [record(book, seq, 0.0) for seq in range(1, 93)]
    book.forget(entries[0])
    assert len(book) == 91 and not book.room.is_set()  # room at 90 = MAX_IN_FLIGHT - min_fetch
    book.forget(entries[1])
    assert len(book) == 90 and book.room.is_set()


def test_held_events_end_back_in_the_schedule_unless_handed_back() -> None:
    clock = [NOW]
    book = InFlightBook(load_settings({"FAULT_RECONCILE_DELAY_MAX_MS": "2000"}), clock=lambda: clock[0])
    kept, handed_back = record(book, 1, NOW, 0, 0), record(book, 2, NOW, 0, 0)
    book.hold(kept)
    book.hold(handed_back)
    assert len(book.holds) == 2 and kept.held_event == 0
    assert book.next_wake() == NOW + 2.0  # due now, so held for the whole maximum wait
    clock[0] = NOW + 0.5
    del book.records[2]
    book.end_holds(book.holds.fill_stored("agent-a", 99))
    assert book.schedule.pop_due(NOW + 0.5, 10) == [kept] and book.wake_release.is_set()


def test_the_hand_back_takes_everything_out_of_the_books() -> None:
    book = InFlightBook(load_settings({}))
    entries = [record(book, seq, 0.0, 5) for seq in (3, 1, 2)]
    book.schedule_next(entries[0])
    book.hold(entries[1])
    assert book.take_all() == entries
    assert len(book) == 0 and len(book.schedule) == 0 and len(book.holds) == 0


def test_any_finishes_by_the_deadline() -> None:
    book = InFlightBook(load_settings({"FAULT_RECONCILE_DELAY_MAX_MS": "1000"}))
    resting = record(book, 1, 0.0, 3_600_000)
    assert not book.any_finishes_by(60.0)
    record(book, 2, 0.0)  # still with the workers
    assert book.any_finishes_by(60.0)
    del book.records[2]
    record(book, 3, 0.0, 59_500)
    assert book.any_finishes_by(60.0)
    book.hold(resting)  # a hold adds its maximum wait to every last event
    assert not book.any_finishes_by(60.0)
    assert book.describe(resting) == "event 1 of 1 (held reconcile)"
