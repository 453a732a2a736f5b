"""The quote tape: one instrument's recorded quotes as a time-ordered series, asked with no look-ahead.

Runs wherever recorded quotes are priced from: the pool's worker processes (over a
slice of records the supervisor passes as bytes, or over a whole file's tape it was spawned with),
the supervisor (to pick those slices) and `replay` (over the whole stored series);
the same rules in all three, so they agree (docs/market-data.md). Pure: numpy
arrays in, answers out; no clock, no I/O.

Owns QuoteTape: the MarketView questions for one instrument, answered from the
records at or before the instant asked about. Which records may enter a tape (the
checker of bad records, counted by type) is common/market_records.py, shared with
the supervisor's readers. Records of the same millisecond are kept in the order
given, and the last one is the quote in force. A record is in force from its time
until the next record's time, or until it is older than max_age_ms (then there is
no quote).

The first crossing is searched over blocks of `block` records whose minimum and
maximum of each side are computed once: blocks that cannot reach the level are
skipped in one vectorized step, and only a block that can is scanned. That costs
two floats per block and side; a sparse table would answer a range maximum in O(1)
but costs n log n floats, and the blocks already bound a search to the blocks it
must read. Trading sessions are not the tape's business: the market view that
holds it intersects the search with the open hours, as the synthetic one does.
A view whose quotes are not the tape's values (price-only records, whose bid and ask
it rounds) searches with a level that lets every crossing through and an exact test
of each value found: a value that fails it does not stop the scan.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from common.market_records import QuoteRecord
from worker.market import Quote

SIDES = ("bid", "ask", "mid")
BLOCK = 1024
# tape_bytes' layout: this tag, the record count (uint32), then the columns whole (times, bid, ask,
# bid_size, ask_size, volume) in the machine's byte order: they only pass between its processes.
_TAG = b"QT1\x00"
_RECORD_BYTES = 48
_COUNT = struct.Struct("=I")

Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.int64]
# A stricter test of a value the level lets through (first_crossing's `exact`).
Exact = Callable[[float], bool]


class QuoteTape:
    """One instrument's checked quotes, answering what was known at or before each instant."""

    def __init__(self, times: Times, bid: Floats, ask: Floats, bid_size: Floats, ask_size: Floats,
                 volume: Floats, max_age_ms: int | None = None, block: int = BLOCK, trusted: bool = False) -> None:
        """Columns of equal length in time order (views of bytes are not copied). Raises
        ValueError for columns a checker would not have kept: a tape is built from checked records.
        trusted: the columns were checked where they were built (a bus pass's slice: the supervisor
        took each record from common.market_records' checker and keeps their times in order), so
        the vectorized check is skipped; it was half the cost of a slice's tape."""
        if not len(times) == len(bid) == len(ask) == len(bid_size) == len(ask_size) == len(volume):
            raise ValueError("a tape's columns must have one value per record")
        if not trusted and not _checked(times, bid, ask, (bid_size, ask_size, volume)):
            raise ValueError("a tape is built from checked records: time-ordered, 0 < bid <= ask, sizes >= 0")
        if max_age_ms is not None and max_age_ms < 0:
            raise ValueError(f"max_age_ms is at least 0, not {max_age_ms}")
        if block < 1:
            raise ValueError(f"a block holds at least one record, not {block}")
        self.times = times
        # The times as Python ints for bisect: a search of a bus pass's slice (a few dozen records)
        # costs a tenth of np.searchsorted's call, and of a file's tape no more.
        self._at = times.data
        # The mid column is computed at its first use (a search, or tape_bytes): a quote's mid is
        # the same sum and halving in floats (record).
        self._sides: dict[str, Floats] = {"bid": bid, "ask": ask}
        self._bid_size, self._ask_size, self._volume = bid_size, ask_size, volume
        self.max_age_ms = max_age_ms
        self._block = block
        # Each side's block ranges, computed at its first search: most tapes (a bus pass's slice of
        # a market order) are never searched.
        self._block_ranges: dict[str, tuple[Floats, Floats]] = {}

    @classmethod
    def from_records(cls, records: Iterable[QuoteRecord], max_age_ms: int | None = None,
                     block: int = BLOCK) -> QuoteTape:
        """A tape of checked records (check_records' kept)."""
        rows = list(records)

        def column(name: str) -> Floats:
            return np.array([getattr(r, name) for r in rows], dtype=np.float64)

        times = np.array([r.at_ms for r in rows], dtype=np.int64)
        return cls(times, column("bid"), column("ask"), column("bid_size"), column("ask_size"), column("volume"),
                   max_age_ms, block)

    def values(self, side: str) -> Floats:
        """The column of a side ("bid", "ask" or "mid"), one value per record (do not write to it)."""
        found = self._sides.get(side)
        if found is None:
            if side != "mid":
                raise ValueError(f"a quote's side is bid, ask or mid, not {side!r}")
            found = self._sides["mid"] = (self._sides["bid"] + self._sides["ask"]) / 2
        return found

    def __len__(self) -> int:
        return len(self.times)

    def index_at(self, at_ms: int) -> int | None:
        """The record in force at `at_ms`: the last one at or before it, None when there is none or
        it is older than max_age_ms."""
        i = bisect_right(self._at, at_ms) - 1
        if i < 0 or not self._fresh(i, at_ms):
            return None
        return i

    def _fresh(self, i: int, at_ms: int) -> bool:
        return self.max_age_ms is None or at_ms - self._at[i] <= self.max_age_ms

    def time_of(self, i: int) -> int:
        """Record i's time, epoch ms."""
        return self._at[i]

    def count_through(self, at_ms: int) -> int:
        """How many records are stamped at or before `at_ms` (the index of the first after it)."""
        return bisect_right(self._at, at_ms)

    def count_before(self, at_ms: int) -> int:
        """How many records are stamped before `at_ms` (the index of the first at or after it)."""
        return bisect_left(self._at, at_ms)

    def quote(self, at_ms: int) -> Quote | None:
        """The quote in force at `at_ms` (None: no market data, or only stale data)."""
        i = self.index_at(at_ms)
        return None if i is None else self.record(i)

    def record(self, i: int) -> Quote:
        """Record i as a quote (a crossing record may be under a later one of its millisecond)."""
        bid, ask, bid_size, ask_size, volume = self.row(i)
        return Quote(bid=bid, ask=ask, mid=(bid + ask) / 2, volume=volume, bid_size=bid_size, ask_size=ask_size)

    def row(self, i: int) -> tuple[float, float, float, float, float]:
        """Record i's bid, ask, bid_size, ask_size and volume (a view's quote is built once from them)."""
        return (float(self._sides["bid"][i]), float(self._sides["ask"][i]), float(self._bid_size[i]),
                float(self._ask_size[i]), float(self._volume[i]))

    def next_instant_after(self, at_ms: int) -> int:
        """The first instant after `at_ms` whose quote may differ from the one at `at_ms`: the next
        record's time, or the instant the record in force goes stale, whichever is first; at_ms + 1
        when the tape holds nothing later (a record may still come)."""
        j = self.count_through(at_ms)
        candidates = [self._at[j]] if j < len(self._at) else []
        i = self.index_at(at_ms)
        if i is not None and self.max_age_ms is not None:
            candidates.append(self._at[i] + self.max_age_ms + 1)
        return min(candidates) if candidates else at_ms + 1

    def first_crossing(self, start_ms: int, end_ms: int, level: float, above: bool, side: str = "mid",
                       exact: Exact | None = None) -> int | None:
        """The first instant in [start_ms, end_ms) at which a record's `side` ("bid", "ask" or "mid")
        is >= level (above) or <= level (not above), and passes `exact` when given; None when there
        is none (`level` must then let through every value `exact` accepts).

        The record in force at start_ms counts (the answer is then start_ms), then every record
        stamped after start_ms and before end_ms, at its own time: a crossing that a later record
        of the same millisecond undoes still happened."""
        values = self.values(side)
        if start_ms >= end_ms:
            return None
        i = self.index_at(start_ms)
        if i is not None and _crosses(float(values[i]), level, above, exact):
            return start_ms
        found = self._scan(values, side, self.count_through(start_ms), self.count_before(end_ms), level, above, exact)
        return None if found is None else self._at[found]

    def _scan(self, values: Floats, side: str, first: int, stop: int, level: float, above: bool,
              exact: Exact | None) -> int | None:
        """Index of the first record in [first, stop) whose value crosses, reading only the blocks
        whose range can reach the level."""
        if first >= stop:
            return None
        ranges = self._block_ranges.get(side)
        if ranges is None:
            ranges = self._block_ranges[side] = _block_ranges(values, self._block)
        low, high = ranges
        b0, b1 = first // self._block, (stop - 1) // self._block
        reachable = high[b0:b1 + 1] >= level if above else low[b0:b1 + 1] <= level
        for b in (np.flatnonzero(reachable) + b0).tolist():
            lo, hi = max(first, b * self._block), min(stop, (b + 1) * self._block)
            hit = first_hit(values[lo:hi], level, above, exact)
            if hit is not None:
                return lo + hit
        return None


def first_hit(values: Floats, level: float, above: bool, exact: Exact | None = None) -> int | None:
    """Index of the first value >= level (above) or <= level (not above) that `exact` also accepts;
    None when there is none. `exact` is asked once per distinct value, not per record: a market
    that sits at a value the level lets through and `exact` refuses costs one question."""
    hits = np.flatnonzero(values >= level if above else values <= level)
    if not len(hits):
        return None
    first = int(hits[0])
    if exact is None or exact(float(values[first])):
        return first
    candidates = values[hits]
    distinct = np.unique(candidates)
    accepted = np.fromiter((exact(float(v)) for v in distinct), dtype=bool, count=len(distinct))
    passing = np.flatnonzero(accepted[np.searchsorted(distinct, candidates)])
    return int(hits[passing[0]]) if len(passing) else None


def tape_bytes(tape: QuoteTape, first: int = 0, stop: int | None = None) -> bytes:
    """Records [first, stop) of a tape as bytes (48 per record): what the supervisor passes a worker
    beside an intent, so the worker builds the same tape without a shared object."""
    stop = len(tape) if stop is None else stop
    count = max(stop - first, 0)
    part = slice(first, first + count)
    floats = (tape.values("bid"), tape.values("ask"), tape._bid_size, tape._ask_size, tape._volume)
    return b"".join([_TAG, np.array([count], dtype=np.uint32).tobytes(),
                     np.ascontiguousarray(tape.times[part], dtype=np.int64).tobytes(),
                     *(np.ascontiguousarray(c[part], dtype=np.float64).tobytes() for c in floats)])


def records_bytes(records: Sequence[QuoteRecord]) -> bytes:
    """Checked records as tape_bytes writes them, without building a tape first (the supervisor's
    slices of bus records: a handful each)."""
    columns = (array("q", [r.at_ms for r in records]), array("d", [r.bid for r in records]),
               array("d", [r.ask for r in records]), array("d", [r.bid_size for r in records]),
               array("d", [r.ask_size for r in records]), array("d", [r.volume for r in records]))
    return b"".join([tape_head(len(records)), *columns])


def tape_head(count: int) -> bytes:
    """What precedes the columns in tape_bytes' layout; the columns follow whole, in its order (times as
    int64, then bid, ask, bid_size, ask_size and volume as float64, each in the machine's byte order):
    the supervisor joins them straight from the arrays it keeps (supervisor/market_tape.py)."""
    return _TAG + _COUNT.pack(count)


def tape_from_bytes(data: bytes, max_age_ms: int | None = None, block: int = BLOCK, trusted: bool = False) -> QuoteTape:
    """The tape tape_bytes wrote (read-only views of `data`, no copy); ValueError for anything else
    (trusted: QuoteTape's)."""
    head = len(_TAG) + 4
    if len(data) < head or data[:len(_TAG)] != _TAG:
        raise ValueError("not a quote tape's bytes")
    (count,) = _COUNT.unpack_from(data, len(_TAG))
    if len(data) != head + count * _RECORD_BYTES:
        raise ValueError(f"a quote tape of {count} records has another length than {len(data)} bytes")
    times = np.frombuffer(data, dtype=np.int64, count=count, offset=head)
    # The five float columns are one block: one view of it, a row each (a slice pays per call, not per record).
    bid, ask, bid_size, ask_size, volume = np.frombuffer(
        data, dtype=np.float64, count=5 * count, offset=head + 8 * count).reshape(5, count)
    return QuoteTape(times, bid, ask, bid_size, ask_size, volume, max_age_ms, block, trusted)


def _checked(times: Times, bid: Floats, ask: Floats, sizes: tuple[Floats, ...]) -> bool:
    """The columns hold only what RecordChecker keeps (vectorized)."""
    if not len(times):
        return True
    prices = np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (bid <= ask)
    return bool(np.all(np.diff(times) >= 0) and np.all(prices)
                and all(np.all(np.isfinite(s) & (s >= 0)) for s in sizes))


def _block_ranges(values: Floats, block: int) -> tuple[Floats, Floats]:
    """(minimum, maximum) of each block of `block` records."""
    if not len(values):
        return values, values
    starts = np.arange(0, len(values), block)
    return np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)



def _crosses(value: float, level: float, above: bool, exact: Exact | None) -> bool:
    return (value >= level if above else value <= level) and (exact is None or exact(value))
