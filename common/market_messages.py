"""Market data as it comes off the bus: one message's bytes to a checked quote record, or why not.

Runs in the supervisor's market reader (supervisor/market_bus.py) and in `replay`
(which reads the same stored messages into whole tapes): one rule for both, so they
keep the same records. Pure: bytes, the subject's instrument and the stored time in;
a QuoteRecord or the type of a bad message out (the types of
exec_sim_market_data_rejected_total).

A record's time is its stored time in the stream, not the message's `timestamp` (the
source's clock): the stream's times are one server's, in stream order, and the same
on every read. Our L1 quote (schemas/market_quote.schema.json) gives bid, ask and
sizes; at-core's signals.normalized gives a price, taken as the mid with the
instruments file's spread around it on the tick grid, and no sizes (the instruments
file's touch depth applies).
"""

from __future__ import annotations

import math
from typing import Any

import jsonschema_rs
import orjson

from common.contracts import MARKET_QUOTE, SIGNAL, load_schema
from common.instruments import Instrument, InstrumentBook, normalize
from common.market_records import BAD_RECORD_TYPES, QuoteRecord, RecordChecker

SCHEMA = "schema"
SUBJECT_MISMATCH = "subject_mismatch"
NOT_LISTED = "not_listed"  # a signal's instrument has no spread to put around its price
# Every type a bus message or a file row is skipped as (the type label of
# exec_sim_market_data_rejected_total; a file's are common.market_files.SKIP_TYPES, a subset).
REJECTED_TYPES = (SCHEMA, SUBJECT_MISMATCH, NOT_LISTED, *BAD_RECORD_TYPES)

_QUOTE = jsonschema_rs.validator_for(load_schema(MARKET_QUOTE), validate_formats=True)
_SIGNAL = jsonschema_rs.validator_for(load_schema(SIGNAL), validate_formats=True)


def _object(body: bytes, validator: Any) -> dict[str, Any] | None:
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) and validator.is_valid(message) else None


def quote_record(body: bytes, subject_key: str, stored_ms: int) -> QuoteRecord | str:
    """An L1 quote published on the quote subject of `subject_key` (its last token)."""
    quote = _object(body, _QUOTE)
    if quote is None:
        return SCHEMA
    if _normalized(quote["instrument"]) != subject_key:
        return SUBJECT_MISMATCH
    return QuoteRecord(stored_ms, float(quote["bid"]), float(quote["ask"]), float(quote["bid_size"]),
                       float(quote["ask_size"]), float(quote.get("volume", 0.0)))


# An instrument as quotes spell it -> its key: normalize once per spelling, not per quote.
_KEYS: dict[str, str] = {}
_MAX_KEYS = 10_000  # spellings are the publishers': bounded


def _normalized(instrument: str) -> str:
    key = _KEYS.get(instrument)
    if key is None:
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        key = _KEYS[instrument] = normalize(instrument)
    return key


def signal_instrument(body: bytes) -> tuple[str, float] | str:
    """An at-core normalized signal's (instrument, price), or SCHEMA."""
    signal = _object(body, _SIGNAL)
    return SCHEMA if signal is None else (signal["instrument"], float(signal["price"]))


def record_of_price(price: float, instrument: Instrument, stored_ms: int) -> QuoteRecord:
    """A price-only record as a quote: the instruments file's spread around it, bid down and ask up to
    the tick grid, no sizes."""
    half = price * instrument.spread_bps / 20_000
    tick = instrument.tick_size
    decimals = max(0, -math.floor(math.log10(tick))) if tick < 1 else 0
    bid = round(math.floor(round((price - half) / tick, 6)) * tick, decimals + 2)
    ask = round(math.ceil(round((price + half) / tick, 6)) * tick, decimals + 2)
    return QuoteRecord(stored_ms, max(bid, tick), max(ask, tick))


TICK = "tick"


class BusReading:
    """Market messages in stream order -> (instrument key, checked record), a bad type, or TICK.

    One per reader of the stream (the service's market reader, a replay): stored times taken as
    never going back, and each instrument's records checked in order (common/market_records.py)."""

    def __init__(self, instruments: InstrumentBook, signal_subject: str, tick_prefix: str) -> None:
        self._instruments = instruments
        self._signal_subject = signal_subject
        self._tick_prefix = tick_prefix + "."
        self._checkers: dict[str, RecordChecker] = {}
        self.last_stored_ms = -(2**62)

    def read(self, subject: str, body: bytes, stored_ms: int) -> tuple[str, QuoteRecord] | str:
        stored_ms = self.last_stored_ms = max(stored_ms, self.last_stored_ms)
        if subject.startswith(self._tick_prefix):
            return TICK
        if subject == self._signal_subject:
            signal = signal_instrument(body)
            if isinstance(signal, str):
                return signal
            name, price = signal
            if not self._instruments.is_listed(name):
                return NOT_LISTED
            key, record = normalize(name), record_of_price(price, self._instruments.get(name), stored_ms)
        else:
            key = subject.rsplit(".", 1)[-1]
            quote = quote_record(body, key, stored_ms)
            if isinstance(quote, str):
                return quote
            record = quote
        checker = self._checkers.get(key)
        if checker is None:
            checker = self._checkers[key] = RecordChecker()
        bad = checker.verdict(record)
        return (key, record) if bad is None else bad
