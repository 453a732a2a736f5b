"""A bus pass's market data: how far the market is known, and the records of the intent's instrument.

Encoded in the supervisor (supervisor/market_waits.py picks the records) and read in
the pool's worker processes, as RawIntent.market. Pure. Owns the slice's layout and
the market view a worker builds from it: a RecordedMarket over one instrument's tape
that knows the market up to `known_until_ms` and raises MarketNotKnown past it.

The slice holds, of the instrument's stored records, exactly those the pricing can
ask about (docs/market-data.md, "Resting orders"): from the record in force at each
instant the order was sent again for through the watermark, every record that
crossed its watch, and the record after each of those runs. Records left out between
them never cross the watched level, so the answers are those of the whole series.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence

from common.market_files import QUOTES
from common.market_records import QuoteRecord
from worker.quote_tape import records_bytes, tape_from_bytes, tape_head
from worker.recorded_market import RecordedMarket
from worker.synthetic_market import SyntheticMarket

_KNOWN = struct.Struct("<q")


def slice_bytes(known_until_ms: int, records: Sequence[QuoteRecord]) -> bytes:
    """The slice of a pass: records (time-ordered, checked) known up to `known_until_ms`."""
    return _KNOWN.pack(known_until_ms) + records_bytes(records)


def slice_of_columns(known_until_ms: int, count: int, columns: Sequence[array[int] | array[float]]) -> bytes:
    """The same bytes as slice_bytes, from `count` records' columns in quote_tape's order (times, bid,
    ask, bid_size, ask_size, volume), each as one or more arrays (machine-order values):
    the supervisor's columns, cut with no record built (supervisor/market_tape.py)."""
    return b"".join([_KNOWN.pack(known_until_ms), tape_head(count), *columns])


def slice_market(data: bytes, instrument_key: str, synthetic: SyntheticMarket, max_age_ms: int,
                 fallback_synthetic: bool) -> RecordedMarket:
    """The market view of a later pass (a first pass has none: it only asks for the market up to its
    arrival, worker.process). The instrument always has a tape, empty or not, so a resting order
    waits for records the way a replay of the whole series finds them."""
    (known_until,) = _KNOWN.unpack_from(data)
    # Trusted: the supervisor built the slice from checked records (supervisor/market_waits.py).
    tape = tape_from_bytes(data[_KNOWN.size:], max_age_ms, trusted=True)
    return RecordedMarket({instrument_key: tape}, QUOTES, synthetic, max_age_ms, fallback_synthetic, known_until)
