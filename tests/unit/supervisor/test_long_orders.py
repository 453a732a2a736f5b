"""The long-order room (supervisor/long_orders.py) and how the book keeps it apart from MAX_IN_FLIGHT."""

from __future__ import annotations

from common.config import load_settings
from supervisor.book import InFlightBook
from supervisor.long_orders import AGENT_SHARE_FULL, ROOM_FULL, LongOrderRoom

from .test_book import execution, record

NOW = 5_000.0


def test_an_agent_holds_at_most_its_share_and_all_agents_at_most_the_room() -> None:
    room = LongOrderRoom(max_orders=5, max_per_agent=3)
    assert [room.admit("mallory", seq) for seq in range(1, 5)] == [None, None, None, AGENT_SHARE_FULL]
    assert room.held_by("mallory") == 3 and 4 not in room
    assert room.admit("eve", 10) is None and room.admit("eve", 11) is None
    assert room.exhausted and room.refusal("alice") == ROOM_FULL
    # The agent at its share is told so first: its own orders are what it can free.
    assert room.refusal("mallory") == AGENT_SHARE_FULL
    assert room.release(1) and not room.release(1) and not room.exhausted
    assert room.admit("alice", 12) is None and room.exhausted


def test_forced_admission_goes_past_the_bounds_and_is_released_like_any_other() -> None:
    room = LongOrderRoom(max_orders=1, max_per_agent=1)
    assert room.admit("a", 1) is None
    assert room.admit("a", 2) == AGENT_SHARE_FULL
    assert room.admit("a", 2, force=True) is None and len(room) == 2 and room.held_by("a") == 2
    assert room.admit("a", 2) is None and len(room) == 2  # already held: admitted once
    room.release(1)
    room.release(2)
    assert len(room) == 0 and room.held_by("a") == 0 and room.admit("b", 3) is None


def test_an_order_due_beyond_long_order_after_sec_is_long_and_none_is_under_the_virtual_clock() -> None:
    book = InFlightBook(load_settings({"LONG_ORDER_AFTER_SEC": "10"}), clock=lambda: NOW)
    entry = record(book, 1, NOW - 1, 500)
    assert not book.is_long(entry, execution(1, 500, 11_000))  # last event 10 s from now: not beyond
    assert book.is_long(entry, execution(1, 500, 11_001))
    virtual = InFlightBook(load_settings({"SIMULATION_CLOCK": "virtual"}), clock=lambda: NOW)
    assert not virtual.is_long(entry, execution(1, 3_600_000))


def test_long_orders_leave_the_executing_room_and_wake_the_fetch() -> None:
    book = InFlightBook(load_settings({"MAX_IN_FLIGHT": "100", "BATCH_SIZE": "10", "MAX_LONG_ORDERS": "50",
                                       "MAX_LONG_ORDERS_PER_AGENT": "30"}), clock=lambda: NOW)
    entries = [record(book, seq, NOW) for seq in range(1, 101)]
    assert book.executing == 100 and book.executing_full
    moved = [book.to_long_orders(entry, "mallory") for entry in entries[:31]]
    assert moved == [None] * 30 + [AGENT_SHARE_FULL]
    assert book.executing == 70 and len(book) == 100 and book.room.is_set() and not book.executing_full
    book.room.clear()
    book.forget(entries[0])  # a long order settled: its long room is free, the executing room unchanged
    assert len(book.long_orders) == 29 and book.executing == 70
    assert book.to_long_orders(entries[30], "mallory") is None
    book.take_all()
    assert len(book.long_orders) == 0 and book.executing == 0


def test_a_long_held_reconcile_is_moved_out_of_the_executing_room_without_refusal() -> None:
    book = InFlightBook(load_settings({"FAULT_RECONCILE_DELAY_MAX_MS": "60000", "LONG_ORDER_AFTER_SEC": "10",
                                       "MAX_LONG_ORDERS": "0"}), clock=lambda: NOW)
    entry = record(book, 1, NOW, 0, 0)
    entry.next_event = 1
    book.hold(entry)
    assert 1 in book.long_orders and book.executing == 0
    short = InFlightBook(load_settings({"FAULT_RECONCILE_DELAY_MAX_MS": "2000"}), clock=lambda: NOW)
    entry = record(short, 1, NOW, 0, 0)
    entry.next_event = 1
    short.hold(entry)
    assert 1 not in short.long_orders and short.executing == 1
