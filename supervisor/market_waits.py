"""The bus market's bookkeeping: recent records per instrument, the watermark, and the intents waiting on them.

Runs in the supervisor process, on its event loop (MARKET_DATA=bus); plain data, no
NATS and no awaits: supervisor/market_bus.py feeds it what the market reader reads,
collect hands it each AwaitingMarket, and whatever it returns as ready goes back to
the workers with its slice (worker.market_slice). Owns:

    tapes       each instrument's records in stream order (supervisor/market_tape.py:
                the slice's columns, no record objects), kept retain_ms behind the
                watermark (and the one in force at that edge)
    watermark   the stored time of the last market message read: every record up to
                the millisecond before it is known (the stream stores in time order)
    waiting     intents sent back by a pass: until the watermark passes the instant
                they need, or, for a resting order's watch, the first record that
                crosses it (found as records come: heaps of levels per side)
    slices      what each waiting intent's passes have been given, so the next pass
                sees the same records and more (docs/market-data.md, "Resting orders"):
                a first slice as the columns it was cut from, records only once an
                intent comes back for a later pass
    history     intents whose instant is older than what the reader holds (a
                redelivery after a restart): listed in history_wanted for the reader
                to fetch from the stream, then given whole (with_history)
    first pass  an intent whose receipt the watermark has passed when it first goes
                to the workers (a backlog's) goes with the slice it would get if sent
                again for its receipt (first_pass), and is kept like one sent again

A pass is given, of its instrument's records: everything an earlier pass had; the
first record after the end of the last pass's (so an instant in the gap between
them sees a record that does not cross, as in the whole series); and the records
from the one in force just before the instant it was sent again for through the
watermark, or through the millisecond before the SLICE_AHEAD_RECORDS-th record after
that instant when there are more (the pass then knows the market that far: an
intent of a backlog, sent long after its instant, is given the records it prices
from, not every record since; one that asks beyond comes back and is sent again at once).
Records left out never cross the watched level: the first that does is the instant
the order is sent again for. So every answer equals one over the whole stored series,
which is what `replay` prices from.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from common.instruments import normalize
from common.market_records import QuoteRecord
from common.messages import AwaitingMarket, MarketWatch, RawIntent
from supervisor.market_tape import Cut, InstrumentRecords
from worker.market_slice import slice_bytes, slice_of_columns
from worker.recorded_market import REPORTED_AGES

log = logging.getLogger("at_exec_sim.supervisor")

# How far behind the watermark records are kept (at least this, and three times MARKET_DATA_MAX_AGE_MS):
# a pass asks for the record in force at its instant, which is never far behind unless the
# workers were that late, or the intent is a redelivery after a restart (its history is then read
# from the stream: `history_wanted`).
MIN_RETAIN_MS = 10_000


def intent_instrument(body: bytes) -> str | None:
    """An intent's instrument key, as the worker's validation and normalize read it; None for a body
    that is not an object with a string instrument (its first pass then goes bare)."""
    try:
        intent = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    instrument = intent.get("instrument") if type(intent) is dict else None
    return normalize(instrument) if type(instrument) is str else None


def retain_ms(max_age_ms: int) -> int:
    return max(MIN_RETAIN_MS, (REPORTED_AGES + 1) * max_age_ms)
# The most records a pass is given after the instant it is sent for (and those of that millisecond).
SLICE_AHEAD_RECORDS = 16


@dataclass(eq=False)
class WaitingIntent:
    raw: RawIntent
    instrument: str
    need_ms: int
    watch: MarketWatch | None
    known_until_ms: int  # of the last pass it was given
    # Stream sequence -> record, of every pass (the first's only once `records()` has merged `cut`).
    given: dict[int, QuoteRecord] = field(default_factory=dict)
    cut: Cut | None = None  # its first slice's records while they are only columns: `records`
    history: bool = False  # its instrument's records before those held were read from the stream
    candidate_ms: int | None = None  # the first record after its last pass that crosses its watch
    ticket: int = 0  # heap entries carry it: an entry of an earlier wait is stale

    def records(self) -> dict[int, QuoteRecord]:
        """Every record its passes were given, by stream sequence."""
        if self.cut is not None:  # most intents are answered by their first pass: never built for them
            self.given.update(self.cut.records())
            self.cut = None
        return self.given


def _value(record: QuoteRecord, side: str) -> float:
    if side == "bid":
        return record.bid
    if side == "ask":
        return record.ask
    return (record.bid + record.ask) / 2  # as worker.quote_tape computes the mid


def _side_values(tape: InstrumentRecords, side: str, start: int) -> Iterable[float]:
    """What _value reads, of the records held from `start` on."""
    if side == "bid":
        return tape.columns[1][start:]
    if side == "ask":
        return tape.columns[2][start:]
    return ((bid + ask) / 2 for bid, ask in zip(tape.columns[1][start:], tape.columns[2][start:]))


def crosses(record: QuoteRecord, watch: MarketWatch) -> bool:
    """worker.quote_tape's rule: the side at or beyond the level."""
    return _reaches(_value(record, watch.side), watch.level, watch.above)


def _reaches(value: float, level: float, above: bool) -> bool:
    return value >= level if above else value <= level


class MarketWaits:
    def __init__(self, max_age_ms: int, started_ms: int = -(2**62), ahead: int = SLICE_AHEAD_RECORDS) -> None:
        self._max_age_ms = max_age_ms
        self._ahead = ahead
        # Where the reader started reading: an instant before it may have records not held.
        self.started_ms = started_ms
        self.tapes: dict[str, InstrumentRecords] = {}
        self.watermark = -(2**62)
        self._waiting: dict[int, WaitingIntent] = {}  # stream_seq -> waiting or at a worker
        self._due: list[tuple[int, int, int]] = []  # (need or candidate ms, ticket, stream_seq)
        # instrument -> (side, above) -> heap of (±level, ticket, stream_seq): the first entries cross first
        self._levels: dict[str, dict[tuple[str, bool], list[tuple[float, int, int]]]] = {}
        self._tickets = itertools.count(1)
        self._retain_ms = retain_ms(max_age_ms)
        # Intents whose instant is older than the records held: (stream_seq, instrument, from_ms,
        # the stream sequence of the oldest record held, or None); the reader fetches their history.
        self.history_wanted: list[tuple[int, str, int, int | None]] = []

    def __len__(self) -> int:
        return sum(1 for w in self._waiting.values() if w.ticket)

    @property
    def earliest_need(self) -> int | None:
        """The soonest instant a waiting intent needs known (None when nothing waits)."""
        while self._due:
            at, ticket, seq = self._due[0]
            waiting = self._waiting.get(seq)
            if waiting is not None and waiting.ticket == ticket:
                return at
            heapq.heappop(self._due)
        return None

    # -- what the reader reads --------------------------------------------------------

    def record(self, instrument: str, record: QuoteRecord, seq: int) -> None:
        """A checked record of `instrument` stored at `record.at_ms` (never before the watermark), at
        stream sequence `seq`."""
        tape = self.tapes.get(instrument)
        if tape is None:
            tape = self.tapes[instrument] = InstrumentRecords()
        tape.append(record, seq)
        watched = self._levels.get(instrument)
        if not watched:  # no resting order watches it: the usual case, one lookup per record
            return
        for (side, above), heap in watched.items():
            if not heap:
                continue
            value = _value(record, side)
            while heap and (heap[0][0] <= value if above else -heap[0][0] >= value):
                _, ticket, seq = heapq.heappop(heap)
                waiting = self._waiting.get(seq)
                if waiting is not None and waiting.ticket == ticket and waiting.candidate_ms is None:
                    self._candidate(waiting, record.at_ms)

    def advance(self, stored_ms: int) -> list[RawIntent]:
        """The watermark moves to a market message's stored time: the intents now ready, with their slices."""
        if stored_ms > self.watermark:
            self.watermark = stored_ms
        ready: list[RawIntent] = []
        while self._due and self._due[0][0] < self.watermark:
            at, ticket, seq = heapq.heappop(self._due)
            waiting = self._waiting.get(seq)
            if waiting is not None and waiting.ticket == ticket:
                again = self._next_pass(waiting, at)
                if again is not None:
                    ready.append(again)
        return ready

    def first_pass(self, raw: RawIntent, instrument: str) -> RawIntent | None:
        """An intent's first pass with a slice, as if it had been sent again for its receipt: the bus runs
        on the wall clock, where its pricing asks about the market from its receipt plus a delay of at
        least 0 on (worker.simulator: stamp base and delay). None when the watermark has not passed the
        receipt, its records from there are not all held, or it is waiting already: then it goes
        bare, and asks for what it needs."""
        from_ms = raw.received_at_ms
        if from_ms >= self.watermark or raw.stream_seq in self._waiting:
            return None
        tape = self.tapes.get(instrument)
        if (tape is None or not tape or from_ms - REPORTED_AGES * self._max_age_ms < self.started_ms
                or not tape.covers(from_ms)):
            return None
        waiting = self._waiting[raw.stream_seq] = WaitingIntent(raw, instrument, from_ms, None, -(2**62))
        return self._next_pass(waiting, from_ms)

    def with_history(self, stream_seq: int, at_ms: int, records: list[tuple[int, QuoteRecord]]) -> list[RawIntent]:
        """The instrument's records before those held, read from the stream for a waiting intent: its
        pass now (an empty list when it is no longer waiting)."""
        waiting = self._waiting.get(stream_seq)
        if waiting is None:
            return []
        waiting.records().update(records)
        waiting.history = True
        again = self._next_pass(waiting, at_ms)
        return [] if again is None else [again]

    def trim(self) -> None:
        """Let records the retention behind the watermark go (called now and then)."""
        for tape in self.tapes.values():
            tape.trim(self.watermark - self._retain_ms)

    # -- what the workers say -----------------------------------------------------------

    def wait(self, awaiting: AwaitingMarket) -> list[RawIntent]:
        """A pass sent the intent back: keep it until it is ready (returned at once when it already is)."""
        waiting = self._waiting.get(awaiting.stream_seq)
        if waiting is None:
            waiting = WaitingIntent(awaiting.raw, awaiting.instrument, awaiting.need_ms, awaiting.watch, -(2**62))
            self._waiting[awaiting.stream_seq] = waiting
        waiting.need_ms, waiting.watch, waiting.candidate_ms = awaiting.need_ms, awaiting.watch, None
        waiting.ticket = next(self._tickets)
        if awaiting.watch is not None:
            self._look_for_candidate(waiting)
        due = waiting.need_ms if waiting.candidate_ms is None else min(waiting.need_ms, waiting.candidate_ms)
        heapq.heappush(self._due, (due, waiting.ticket, awaiting.stream_seq))
        return self.advance(self.watermark)

    def forget(self, stream_seq: int) -> None:
        """The intent is answered (or handed back): its slices go."""
        self._waiting.pop(stream_seq, None)

    def clear(self) -> None:
        self._waiting.clear()
        self._due.clear()
        self._levels.clear()

    # -- inside -----------------------------------------------------------------------

    def _look_for_candidate(self, waiting: WaitingIntent) -> None:
        """Records read since the last pass's end may already cross the new watch; else watch for one."""
        assert waiting.watch is not None
        tape, watch = self.tapes.get(waiting.instrument), waiting.watch
        if tape is not None:
            start = tape.first_after(waiting.known_until_ms) - tape.base
            level, above = watch.level, watch.above
            for i, value in enumerate(_side_values(tape, watch.side, start), start):
                if _reaches(value, level, above):  # crosses(), over the column
                    waiting.candidate_ms = tape.times[i]
                    return
        watched = self._levels.setdefault(waiting.instrument, {})
        heapq.heappush(watched.setdefault((watch.side, watch.above), []),
                       (watch.level if watch.above else -watch.level, waiting.ticket, waiting.raw.stream_seq))

    def _candidate(self, waiting: WaitingIntent, at_ms: int) -> None:
        waiting.candidate_ms = at_ms
        if at_ms < waiting.need_ms:
            heapq.heappush(self._due, (at_ms, waiting.ticket, waiting.raw.stream_seq))

    def _next_pass(self, waiting: WaitingIntent, at_ms: int) -> RawIntent | None:
        """The intent again, with its slice: what it had, the record after it, and from `at_ms` on;
        None when the records before those held must be read first (history_wanted)."""
        known_until = self.watermark - 1
        tape = self.tapes.get(waiting.instrument)
        # Records it may see at at_ms (in force, or reported: worker.recorded_market) may be older
        # than the reader's start, or trimmed since.
        if not waiting.history and (at_ms - REPORTED_AGES * self._max_age_ms < self.started_ms
                                    or (tape is not None and not tape.covers(at_ms))):
            oldest = tape.seqs[0] if tape is not None and tape.seqs else None
            self.history_wanted.append((waiting.raw.stream_seq, waiting.instrument, at_ms, oldest))
            waiting.ticket = 0  # reading its history: sent again by with_history
            return None
        given = waiting.records()
        fresh = not given  # its first slice: the run below, and perhaps the record after the last pass's
        run = stop = lone = -1
        if tape is not None and tape:
            base = tape.base
            ahead = tape.first_after(at_ms) + self._ahead
            if ahead < tape.end:  # known only up to the millisecond before that record: at_ms or later
                known_until = min(known_until, tape.times[ahead - base] - 1)
            follower = tape.first_after(waiting.known_until_ms) - base
            if 0 <= follower < len(tape) and tape.times[follower] <= known_until:
                lone = follower
            run, stop = tape.in_force_before(at_ms) - base, tape.first_after(known_until) - base
        waiting.known_until_ms = known_until
        waiting.ticket = 0  # at a worker: no heap entry of it is live
        if fresh and tape is not None and 0 <= run <= stop:  # the tape's own records, in order: cut, not packed
            waiting.cut = tape.cut([(lone, lone + 1), (run, stop)] if 0 <= lone < run else [(run, stop)])
            count = sum(map(len, waiting.cut.seqs))
            return _with_market(waiting.raw, slice_of_columns(known_until, count, waiting.cut.pieces))
        if tape is not None and lone >= 0:
            given[tape.seqs[lone]] = tape.records(lone, lone + 1)[0]
        if tape is not None and run >= 0:
            given.update(zip(tape.seqs[run:stop], tape.records(run, stop)))
        return _with_market(waiting.raw, slice_bytes(known_until, _in_stream_order(given)))


def _in_stream_order(given: dict[int, QuoteRecord]) -> list[QuoteRecord]:
    records = [given[i] for i in sorted(given)]
    for k in range(1, len(records)):  # a history read's clock step: never back, as the reader counts
        if records[k].at_ms < records[k - 1].at_ms:
            records[k] = QuoteRecord(records[k - 1].at_ms, records[k].bid, records[k].ask, records[k].bid_size,
                                     records[k].ask_size, records[k].volume)
    return records


def _with_market(raw: RawIntent, market: bytes) -> RawIntent:
    """The intent with its pass's slice; built whole: dataclasses.replace showed in the supervisor's profile."""
    return RawIntent(raw.stream_seq, raw.body, raw.signature, raw.received_at_ms, raw.key_id, market, raw.accepted)
