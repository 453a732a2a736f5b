"""One recorded market record, and the checker that decides which records a quote tape may hold.

Used in the supervisor process (the bus reader and the file loader count what they
skip: common/market_files.py) and in the pool's worker processes (worker/quote_tape.py
builds tapes of checked records only). Pure.

A record is skipped, and counted by type, when a price is not a finite number above
0 or a size or volume is below 0 or not finite (non_positive), when its bid is above
its ask (crossed; a locked quote, bid equal to ask, is kept), or when its time is
earlier than the last record kept for its instrument (out_of_order). Records of the
same millisecond are kept in the order given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

NON_POSITIVE = "non_positive"
CROSSED = "crossed"
OUT_OF_ORDER = "out_of_order"
# The closed set of reasons a checked record is skipped (metric label values).
BAD_RECORD_TYPES = (NON_POSITIVE, CROSSED, OUT_OF_ORDER)
_INF = math.inf


@dataclass(frozen=True, slots=True)
class QuoteRecord:
    """One L1 quote of one instrument at `at_ms` (epoch milliseconds of the source's time base)."""

    at_ms: int
    bid: float
    ask: float
    bid_size: float = 0.0  # 0: the source gives no size (the instruments file's depth applies)
    ask_size: float = 0.0
    volume: float = 0.0  # traded since the previous record


class RecordChecker:
    """Judges one instrument's records in the order they come; remembers the last time kept."""

    def __init__(self) -> None:
        self.last_ms: int | None = None

    def verdict(self, record: QuoteRecord) -> str | None:
        """None when the record may enter the tape (and its time is remembered), else why not."""
        # Chained comparisons: 0 < v < inf is "finite and above 0", 0 <= v < inf "finite and at least 0"
        # (a NaN fails both), without a call per value: the bus reader judges every quote it reads.
        bid, ask = record.bid, record.ask
        if not (0.0 < bid < _INF and 0.0 < ask < _INF):
            return NON_POSITIVE
        if not (0.0 <= record.bid_size < _INF and 0.0 <= record.ask_size < _INF and 0.0 <= record.volume < _INF):
            return NON_POSITIVE
        if bid > ask:
            return CROSSED
        if self.last_ms is not None and record.at_ms < self.last_ms:
            return OUT_OF_ORDER
        self.last_ms = record.at_ms
        return None


@dataclass(frozen=True, slots=True)
class CheckedRecords:
    kept: tuple[QuoteRecord, ...]
    skipped: dict[str, int]  # every type of BAD_RECORD_TYPES, 0 when none


def check_records(records: Iterable[QuoteRecord]) -> CheckedRecords:
    """One instrument's records in the order given: those a tape may hold, and the others counted by type."""
    checker = RecordChecker()
    kept: list[QuoteRecord] = []
    skipped = dict.fromkeys(BAD_RECORD_TYPES, 0)
    for record in records:
        reason = checker.verdict(record)
        if reason is None:
            kept.append(record)
        else:
            skipped[reason] += 1
    return CheckedRecords(tuple(kept), skipped)
