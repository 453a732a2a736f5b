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
from collections.abc import Sequence

from common.market_files import QUOTES
from common.market_records import QuoteRecord
from worker.quote_tape import records_bytes, tape_from_bytes
from worker.recorded_market import RecordedMarket
from worker.synthetic_market import SyntheticMarket

_KNOWN = struct.Struct("<q")
# A first pass knows nothing: it learns the instrument and the arrival, and asks for the rest.
NOTHING_KNOWN = -(2**62)
# Its tape, shared by every first pass: a tape is never written to, and an empty one has no age to keep.
_NO_RECORDS = tape_from_bytes(records_bytes(()))


def slice_bytes(known_until_ms: int, records: Sequence[QuoteRecord]) -> bytes:
    """The slice of a pass: records (time-ordered, checked) known up to `known_until_ms`."""
    return _KNOWN.pack(known_until_ms) + records_bytes(records)


def slice_market(data: bytes | None, instrument_key: str, synthetic: SyntheticMarket, max_age_ms: int,
                 fallback_synthetic: bool) -> RecordedMarket:
    """The market view of one pass (None: the first pass, nothing known). The instrument always has a
    tape, empty or not, so a resting order waits for records the way a replay of the whole series
    finds them."""
    if data is None:
        known_until, tape = NOTHING_KNOWN, _NO_RECORDS
    else:
        (known_until,) = _KNOWN.unpack_from(data)
        # Trusted: the supervisor built the slice from checked records (supervisor/market_waits.py).
        tape = tape_from_bytes(data[_KNOWN.size:], max_age_ms, trusted=True)
    return RecordedMarket({instrument_key: tape}, QUOTES, synthetic, max_age_ms, fallback_synthetic, known_until)
