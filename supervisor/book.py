"""The in-flight book: every fetched intent until its input is settled, and when its next event is due.

Runs in the supervisor process, on its event loop. Owns:

    records       stream sequence -> InFlight (supervisor/inflight.py), in delivery
                  order as supervisor/keepalive.py needs it; intake adds, settling removes
    schedule      the release heap (supervisor/release.py): at most one entry per
                  intent, its next event, at its simulated release time
    holds         reconciles held back by the reconcile_delayed fault (supervisor/holds.py)
    long_orders   the records whose last event is far off, apart from the executing
                  room MAX_IN_FLIGHT bounds (supervisor/long_orders.py)
    shares        each agent's count in the executing room, up to its share of
                  MAX_IN_FLIGHT; beyond it, over share (supervisor/agent_shares.py)
    room          set when settling (or a move to the long-order room) brings the
                  executing records under the fetch threshold, or frees over-share room
    wake_release  set when something is due sooner than the release step's timer

Plain bookkeeping: no NATS, no awaits. Intake (supervisor/intake.py) writes
records, collect (supervisor/collect.py) schedules first events, outbound
(supervisor/outbound.py) releases, holds and settles, shutdown
(supervisor/shutdown.py) takes everything back for the hand-back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from common.config import Settings
from common.messages import Execution
from supervisor.agent_shares import AgentShares
from supervisor.holds import ReconcileHolds
from supervisor.inflight import InFlight
from supervisor.long_orders import LongOrderRoom
from supervisor.release import ReleaseSchedule


class InFlightBook:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        # The supervisor's monotonic clock; a test gives its own.
        self._clock = clock
        self.records: dict[int, InFlight] = {}
        self.schedule: ReleaseSchedule[InFlight] = ReleaseSchedule()
        # Intents whose reconcile_delayed event waits for the agent's next fill.
        self.holds: ReconcileHolds[InFlight] = ReconcileHolds()
        self.hold_max_s = settings.fault_reconcile_delay_max_ms / 1000
        self.long_orders = LongOrderRoom(settings.max_long_orders, settings.max_long_orders_per_agent)
        self._long_after_s = settings.long_order_after_s
        self.shares = AgentShares(settings.in_flight_per_agent)
        self.max_over_share = settings.max_queued_over_share
        self._virtual_clock = settings.virtual_clock
        # A fetch asks for at most a batch, and at least this much room (see Intake.fetch_room).
        self.min_fetch = max(1, min(settings.batch_size, settings.max_in_flight // 4))
        self._room_at = settings.max_in_flight - self.min_fetch
        # Created on the loop that uses them (the book is built in Service.run).
        self.room = asyncio.Event()
        self.wake_release = asyncio.Event()

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: InFlight, agent: bytes) -> None:
        """A new delivery, in the executing room under `agent`'s share (or over it)."""
        self.records[record.stream_seq] = record
        record.agent = agent
        self.shares.add(agent)

    @property
    def executing(self) -> int:
        """Records in the executing room: fetched, not answered, not long orders, not over share."""
        return len(self.records) - len(self.long_orders) - self.shares.over_share

    @property
    def executing_full(self) -> bool:
        """The executing room has less free than a fetch asks for: fetching waits."""
        return self.executing > self._room_at

    @property
    def over_share_full(self) -> bool:
        """MAX_QUEUED_OVER_SHARE intents wait beyond their agents' shares: fetching waits."""
        return self.shares.over_share >= max(1, self.max_over_share)

    def _leave_executing(self, record: InFlight) -> None:
        if record.agent is not None:
            self.shares.remove(record.agent)
            record.agent = None
        if self.executing <= self._room_at and not self.over_share_full:
            self.room.set()

    # -- the long-order room --------------------------------------------------

    def is_long(self, record: InFlight, execution: Execution) -> bool:
        """Whether the intent's last event is due more than LONG_ORDER_AFTER_SEC from now."""
        if self._virtual_clock:
            return False  # nothing waits: every event is due at once
        last_due = record.receipt_at + execution.events[-1].release_after_ms / 1000
        return last_due - self._clock() > self._long_after_s

    def to_long_orders(self, record: InFlight, agent_id: str, force: bool = False) -> str | None:
        """Move the record from the executing room to the long-order room: None, or why it may not."""
        refused = self.long_orders.admit(agent_id, record.stream_seq, force)
        if refused is None:
            self._leave_executing(record)
        return refused

    # -- release times --------------------------------------------------------

    def due_at(self, record: InFlight) -> float:
        assert record.execution is not None
        event = record.execution.events[record.next_event]
        return 0.0 if self._virtual_clock else record.receipt_at + event.release_after_ms / 1000

    def due_now(self, record: InFlight) -> bool:
        return self.due_at(record) <= self._clock()

    def schedule_next(self, record: InFlight) -> None:
        due = self.due_at(record)
        self.schedule.add(due, record.stream_seq, record)
        if record.next_event and due <= self._clock():
            self.wake_release.set()  # the intent's next event is due now

    def next_wake(self) -> float | None:
        """When the release step must look again: the next event due, or the next hold's end."""
        next_due = self.schedule.next_due()
        if self.holds:
            hold_ends = self.holds.next_deadline()
            if hold_ends is not None and (next_due is None or hold_ends < next_due):
                next_due = hold_ends
        return next_due

    # -- held reconciles ------------------------------------------------------

    def hold(self, record: InFlight) -> None:
        """Hold the intent's due event until its agent's next fill is stored, or the maximum wait."""
        assert record.execution is not None
        record.held_event = record.next_event
        now = self._clock()
        fell_due = now if self._virtual_clock else min(now, max(self.due_at(record), record.previous_stored_at))
        self.holds.hold(record.execution.agent_id, record.stream_seq, record, fell_due + self.hold_max_s)
        if self.hold_max_s > self._long_after_s:
            # Its fill is out: it cannot be refused now, only kept out of the executing room.
            self.to_long_orders(record, record.execution.agent_id, force=True)

    def end_holds(self, records: list[InFlight]) -> None:
        """Send held events out (scheduled now, so the release step bounds them like any other)."""
        if not records:
            return
        now = self._clock()
        for record in records:
            if self.records.get(record.stream_seq) is record:  # else handed back meanwhile
                self.schedule.add(now, record.stream_seq, record)
        self.wake_release.set()

    # -- settling and the hand-back -------------------------------------------

    def forget(self, record: InFlight) -> None:
        """Out of the books (settled): room for a fetch once enough are gone."""
        self.records.pop(record.stream_seq, None)
        self.long_orders.release(record.stream_seq)
        self._leave_executing(record)

    def take_all(self) -> list[InFlight]:
        """Everything in flight, out of the books (a hand-back): records, schedule and holds emptied."""
        records = list(self.records.values())
        self.records.clear()
        self.schedule.drain()
        self.holds.drain()
        self.long_orders.clear()
        self.shares.clear()
        for record in records:
            record.agent = None
        return records

    def any_finishes_by(self, deadline: float) -> bool:
        """Whether some intent in flight can be answered before `deadline`: one still with the
        workers, or whose last event falls due by then (a held reconcile ends by its max wait)."""
        hold_s = self.hold_max_s if self.holds else 0.0
        for record in self.records.values():
            execution = record.execution
            if execution is None or self._virtual_clock:
                return True
            last_due = record.receipt_at + execution.events[-1].release_after_ms / 1000
            if last_due + hold_s <= deadline:
                return True
        return False

    def describe(self, record: InFlight) -> str:
        """Where an unfinished intent stands, for the shutdown's warning."""
        if record.execution is None:
            return "awaiting worker"
        return (f"event {record.next_event + 1} of {len(record.execution.events)}"
                + (" (held reconcile)" if record.stream_seq in self.holds else ""))
