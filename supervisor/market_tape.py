"""One instrument's recent bus records, held as the columns a pass's slice is made of.

Runs in the supervisor process, on its event loop (MARKET_DATA=bus), inside the
bookkeeping of supervisor/market_waits.py, which appends what the market reader reads,
trims what falls behind its retention, and cuts each pass's slice from here. Plain
data, no NATS and no awaits. Owns the layout: six columns in worker.quote_tape.tape_head's
order (times as int64; bid, ask, bid_size, ask_size and volume as float64) and the stream
sequences, one array each. A slice is mostly a run of these columns joined as they are,
so no record object is kept (56 bytes per record, nothing more); a QuoteRecord is built
only for the few records an intent sent back for a later pass is given (`records`,
`Cut.records`).
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_left, bisect_right
from typing import NamedTuple

from common.market_records import QuoteRecord


class InstrumentRecords:
    """One instrument's recent records in stream order, as columns; an absolute index names each record."""

    def __init__(self) -> None:
        self.columns = (array("q"), array("d"), array("d"), array("d"), array("d"), array("d"))
        self.times = self.columns[0]
        self.seqs = array("q")  # each record's stream sequence: its name in every slice
        self.base = 0  # absolute index of the first record held
        self.trimmed = False  # records before the first held were dropped

    def __len__(self) -> int:
        return len(self.seqs)

    def append(self, record: QuoteRecord, seq: int) -> None:
        self.seqs.append(seq)
        times, bid, ask, bid_size, ask_size, volume = self.columns
        times.append(record.at_ms)
        bid.append(record.bid)
        ask.append(record.ask)
        bid_size.append(record.bid_size)
        ask_size.append(record.ask_size)
        volume.append(record.volume)

    def records(self, start: int, stop: int) -> list[QuoteRecord]:
        """Records [start, stop) (indexes into those held) as QuoteRecords, equal to those appended."""
        return list(map(QuoteRecord, *(column[start:stop] for column in self.columns)))

    def cut(self, runs: list[tuple[int, int]]) -> Cut:
        """Runs of records (indexes into those held, in order) as the columns' own pieces."""
        return Cut([self.seqs[a:b] for a, b in runs], [column[a:b] for column in self.columns for a, b in runs])

    @property
    def end(self) -> int:
        return self.base + len(self.seqs)

    def in_force_before(self, at_ms: int) -> int:
        """Absolute index of the record in force just before `at_ms` (the first kept when none is):
        from there on a pass sees every record of the millisecond `at_ms`, the one that crossed too."""
        return self.base + max(bisect_left(self.times, at_ms) - 1, 0)

    def first_after(self, at_ms: int) -> int:
        return self.base + bisect_right(self.times, at_ms)

    def covers(self, at_ms: int) -> bool:
        """Whether the record in force at `at_ms` is still held."""
        return not self.trimmed or (bool(self.times) and self.times[0] <= at_ms)

    def trim(self, before_ms: int) -> None:
        """Drop records older than the last one at or before `before_ms`."""
        drop = bisect_right(self.times, before_ms) - 1
        if drop > 0:
            del self.seqs[:drop]
            for column in self.columns:
                del column[:drop]
            self.base += drop
            self.trimmed = True


class Cut(NamedTuple):
    """A first slice's records, as cut from a tape: the stream sequences of each run, and each column's
    pieces (column by column, a piece per run), as slice_of_columns joins them. Kept beside the
    waiting intent and turned into records only if a later pass needs them (WaitingIntent.records)."""

    seqs: list[array[int]]
    pieces: list[array[int] | array[float]]

    def records(self) -> dict[int, QuoteRecord]:
        runs = len(self.seqs)
        columns = [itertools.chain.from_iterable(self.pieces[k:k + runs]) for k in range(0, len(self.pieces), runs)]
        return dict(zip(itertools.chain.from_iterable(self.seqs), map(QuoteRecord, *columns)))
