"""Recorded market data files: L1 quotes, trades or OHLCV bars from CSV or Parquet, into checked records.

Called in the supervisor process (MARKET_DATA=file, read once at start, before the
workers) and by `replay`; not in tools/, because the service's image must load files
and has no tools/. load_file is the only function that opens a file (load_files
reads several through it and merges them: docs/market-data.md, "Several files"); the
rest is pure (rows in, records out), so the tests and a future bus reader use it on
rows they make. Parquet goes through pyarrow, from the optional `market-data` extra.

A vendor's export loads by naming its columns: FileLayout.columns maps our names
(COLUMNS) to the file's, e.g. parse_columns("time=ts_recv,bid=bid_px_00,ask=ask_px_00").
What each kind gives (docs/market-data.md has the conventions):
- quotes: one record per row.
- trades: a price-only record per trade (bid = ask = the price, no sizes, the size as
  volume); the market view puts the instruments file's spread and depth around it.
- bars: four price-only records per bar: the open at the bar's start, then the low,
  the high and the close at its end (a bar's range is not known before it closes; the
  close, last, is in force after it), the volume on the close. A bar whose range does
  not hold its open and close is counted as crossed.
Every record goes through common.market_records' checker; a row that cannot be read (a
required column missing, a value not a number or a time) is counted as "schema".
"""

from __future__ import annotations

import csv
import gzip
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from common.instruments import normalize
from common.market_records import BAD_RECORD_TYPES, CROSSED, NON_POSITIVE, OUT_OF_ORDER, QuoteRecord, RecordChecker

QUOTES, TRADES, BARS = "quotes", "trades", "bars"
SCHEMA = "schema"
# Every reason a row or record is skipped, in the order counts are reported.
SKIP_TYPES = (SCHEMA, *BAD_RECORD_TYPES)
COLUMNS = {
    QUOTES: (("time", "instrument", "bid", "ask"), ("bid_size", "ask_size", "volume")),
    TRADES: (("time", "instrument", "price"), ("size",)),
    BARS: (("time", "instrument", "open", "high", "low", "close"), ("volume",)),
}
# Milliseconds per unit of a numeric time column.
_MS_PER_UNIT = {"s": Decimal(1000), "ms": Decimal(1), "us": Decimal("0.001"), "ns": Decimal("0.000001")}
TIME_UNITS = (*_MS_PER_UNIT, "iso")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MarketFileError(ValueError):
    """The file or its layout cannot be used at all (not a bad row: those are counted)."""


@dataclass(frozen=True, slots=True)
class FileLayout:
    kind: str = QUOTES
    columns: Mapping[str, str] = field(default_factory=dict)  # ours -> the file's; unnamed: the same name
    time_unit: str = "ns"
    price_scale: str = "1"  # decimal text: Databento's fixed-point prices are "1e-9"
    instrument: str | None = None  # the instrument of a file without an instrument column
    bar_seconds: int = 60
    bar_stamp: str = "open"  # a bar's time is its "open" or its "close"

    def __post_init__(self) -> None:
        if self.kind not in COLUMNS:
            raise MarketFileError(f"kind is one of {', '.join(COLUMNS)}, not {self.kind!r}")
        if self.time_unit not in TIME_UNITS:
            raise MarketFileError(f"time unit is one of {', '.join(TIME_UNITS)}, not {self.time_unit!r}")
        if self.bar_stamp not in ("open", "close") or self.bar_seconds < 1:
            raise MarketFileError("bars need bar_stamp open or close and bar_seconds of at least 1")
        unknown = set(self.columns) - {c for required, optional in COLUMNS.values() for c in required + optional}
        if unknown:
            raise MarketFileError(f"no such column of ours: {', '.join(sorted(unknown))}")
        try:
            if not Decimal(self.price_scale) > 0:
                raise MarketFileError(f"price scale must be above 0, not {self.price_scale!r}")
        except InvalidOperation:
            raise MarketFileError(f"price scale is a number, not {self.price_scale!r}") from None

    def column(self, ours: str) -> str:
        return self.columns.get(ours, ours)


@dataclass(frozen=True, slots=True)
class LoadedMarket:
    records: dict[str, tuple[QuoteRecord, ...]]  # by instrument key (common.instruments.normalize)
    skipped: dict[str, int]  # every type of SKIP_TYPES
    price_only: bool  # trades and bars: the view adds the instruments file's spread and depth


@dataclass(frozen=True, slots=True)
class RecordedMarketData:
    """A loaded file as the workers get it: each instrument's records as a quote tape's bytes
    (worker.quote_tape.tape_bytes), pickled once into each worker when it starts."""

    tapes: tuple[tuple[str, bytes], ...]  # (instrument key, tape bytes), sorted by key
    kind: str  # quotes, trades or bars: trades and bars are price-only (the view adds spread and depth)
    skipped: tuple[tuple[str, int], ...]  # (SKIP_TYPES' type, rows or records skipped)


def parse_columns(text: str) -> dict[str, str]:
    """"time=ts_recv,bid=bid_px_00" -> {"time": "ts_recv", "bid": "bid_px_00"}."""
    mapping = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise MarketFileError(f"a column mapping is ours=theirs, not {pair!r}")
        mapping[ours.strip()] = theirs.strip()
    return mapping


# The files load_file reads (it refuses anything else); a directory in MARKET_DATA_FILE gives these.
SUFFIXES = (".csv", ".csv.gz", ".parquet")


def load_file(path: str | Path, layout: FileLayout) -> LoadedMarket:
    """Read a .csv, .csv.gz or .parquet file (the only I/O here). A file without a column the
    layout requires is refused whole: its every row would be a schema skip, and among several
    files one read with another vendor's columns would vanish from the backtest unnoticed."""
    name = str(path).lower()
    if name.endswith(".parquet"):
        table = _parquet_table(path)
        _check_columns(table.column_names, layout)
        rows: list[Mapping[str, Any]] = table.to_pylist()
        return load_rows(rows, layout)
    if not name.endswith(SUFFIXES):
        raise MarketFileError(f"a market data file is {', '.join(SUFFIXES)}")
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as text:
        reader = csv.DictReader(text)
        _check_columns(reader.fieldnames or (), layout)
        return load_rows(reader, layout)


def load_files(paths: Sequence[str | Path], layout: FileLayout) -> LoadedMarket:
    """Several files read as one (in the order given): each file loaded and checked as if alone
    (out_of_order is against the file's own previous record), then each instrument's records merged
    across files in time order, stable: equal times keep file order, then row order. So day files
    give the tape of their concatenation, and files that overlap in time interleave instead of the
    later file's early records being skipped as out of order. A file that cannot be read at all is
    a MarketFileError naming it."""
    parts = []
    for path in paths:
        try:
            parts.append(load_file(path, layout))
        except (OSError, EOFError, UnicodeError, csv.Error, ValueError) as exc:  # ValueError: pyarrow's too
            raise MarketFileError(f"cannot read {str(path)!r}: {exc}") from None
    if len(parts) == 1:
        return parts[0]
    return merge_loaded(parts)


def merge_loaded(parts: Sequence[LoadedMarket]) -> LoadedMarket:
    """Loaded files as one: each instrument's records merged by time (each part's are in time order
    already, the checker saw to it), skips summed by type."""
    instruments = dict.fromkeys(key for part in parts for key in part.records)  # first seen first
    records = {key: tuple(heapq.merge(*(part.records.get(key, ()) for part in parts), key=_record_time))
               for key in instruments}
    skipped = {kind: sum(part.skipped[kind] for part in parts) for kind in SKIP_TYPES}
    return LoadedMarket(records, skipped, parts[0].price_only)  # one layout, one kind


def _record_time(record: QuoteRecord) -> int:
    return record.at_ms


def load_csv(text: Iterable[str], layout: FileLayout) -> LoadedMarket:
    """Rows of CSV text with a header line."""
    return load_rows(csv.DictReader(text), layout)


def _parquet_table(path: str | Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MarketFileError("Parquet files need pyarrow: pip install 'at-exec-sim[market-data]'") from None
    return pq.read_table(path)


def _check_columns(names: Iterable[str], layout: FileLayout) -> None:
    """MarketFileError when the file lacks a column the layout requires (the instrument's only
    without MARKET_DATA_INSTRUMENT)."""
    present = set(names)
    required, _ = COLUMNS[layout.kind]
    missing = [layout.column(c) for c in required
               if layout.column(c) not in present and not (c == "instrument" and layout.instrument is not None)]
    if missing:
        raise MarketFileError(f"no column {', '.join(missing)} (every file is read with one column mapping: "
                              f"{', '.join(layout.column(c) for c in required)})")


def load_rows(rows: Iterable[Mapping[str, Any]], layout: FileLayout) -> LoadedMarket:
    """Rows (column name -> text or number) into each instrument's checked records, in file order."""
    required, optional = COLUMNS[layout.kind]
    skipped = dict.fromkeys(SKIP_TYPES, 0)
    kept: dict[str, list[QuoteRecord]] = {}
    checkers: dict[str, RecordChecker] = {}
    for row in rows:
        try:
            instrument = _instrument(row, layout)
            values = {c: _value(row, c, layout) for c in required if c != "instrument"}
            values |= {c: _value(row, c, layout) for c in optional if _present(row, layout.column(c))}
        except (KeyError, ValueError, ArithmeticError):
            skipped[SCHEMA] += 1
            continue
        checker = checkers.setdefault(instrument, RecordChecker())
        reason = _bar_verdict(values, layout, checker) if layout.kind == BARS else None
        if reason is not None:
            skipped[reason] += 1
            continue
        for record in _records(values, layout):
            verdict = checker.verdict(record)
            if verdict is None:
                kept.setdefault(instrument, []).append(record)
            else:
                skipped[verdict] += 1
    return LoadedMarket({k: tuple(v) for k, v in kept.items()}, skipped, layout.kind != QUOTES)


def _present(row: Mapping[str, Any], name: str) -> bool:
    return row.get(name) not in (None, "")


def _instrument(row: Mapping[str, Any], layout: FileLayout) -> str:
    name = layout.column("instrument")
    raw = row[name] if _present(row, name) or layout.instrument is None else layout.instrument
    key = normalize(str(raw))
    if not key.isascii() or not key.isalnum():
        raise ValueError(f"instrument {raw!r}")
    return key


def _value(row: Mapping[str, Any], ours: str, layout: FileLayout) -> int | float:
    """A column's value: milliseconds for the time, else a float (prices scaled)."""
    raw = row[layout.column(ours)]
    if raw is None or raw == "":
        raise ValueError(f"{ours} is empty")
    if ours == "time":
        return _epoch_ms(raw, layout.time_unit)
    number = Decimal(str(raw))
    if ours in ("bid", "ask", "price", "open", "high", "low", "close") and layout.price_scale != "1":
        number *= Decimal(layout.price_scale)
    return float(number)


def _epoch_ms(raw: object, unit: str) -> int:
    if unit == "iso":
        moment = datetime.fromisoformat(str(raw))
        if moment.tzinfo is None:
            raise ValueError("a time without its offset")
        since = moment - _EPOCH  # exact, unlike the float of moment.timestamp()
        return (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000
    return int((Decimal(str(raw)) * _MS_PER_UNIT[unit]).to_integral_value(ROUND_FLOOR))


def _bar_verdict(values: dict[str, int | float], layout: FileLayout, checker: RecordChecker) -> str | None:
    """Why a whole bar is skipped: a price not above 0, a range that does not hold its open and
    close, or a start before the instrument's last record (one count per bar)."""
    o, h, lo, c = (float(values[k]) for k in ("open", "high", "low", "close"))
    if not all(0 < p < float("inf") for p in (o, h, lo, c)) or float(values.get("volume", 0.0)) < 0:
        return NON_POSITIVE
    if not lo <= min(o, c) <= max(o, c) <= h:
        return CROSSED
    start, _ = _bar_span(int(values["time"]), layout)
    if checker.last_ms is not None and start < checker.last_ms:
        return OUT_OF_ORDER
    return None


def _bar_span(at_ms: int, layout: FileLayout) -> tuple[int, int]:
    length = layout.bar_seconds * 1000
    return (at_ms, at_ms + length) if layout.bar_stamp == "open" else (at_ms - length, at_ms)


def _records(values: dict[str, int | float], layout: FileLayout) -> list[QuoteRecord]:
    at = int(values["time"])
    if layout.kind == QUOTES:
        return [QuoteRecord(at, float(values["bid"]), float(values["ask"]), float(values.get("bid_size", 0.0)),
                            float(values.get("ask_size", 0.0)), float(values.get("volume", 0.0)))]
    if layout.kind == TRADES:
        price = float(values["price"])
        return [QuoteRecord(at, price, price, 0.0, 0.0, float(values.get("size", 0.0)))]
    start, end = _bar_span(at, layout)
    o, h, lo, c = (float(values[k]) for k in ("open", "high", "low", "close"))
    return [QuoteRecord(start, o, o), QuoteRecord(end, lo, lo), QuoteRecord(end, h, h),
            QuoteRecord(end, c, c, volume=float(values.get("volume", 0.0)))]

