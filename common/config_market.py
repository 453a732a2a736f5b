"""The market source's settings: MARKET_DATA and the layout of a recorded file (docs/market-data.md).

Runs wherever Settings are loaded (the supervisor at start, the CLI); common.config
reads these variables after common.config_variables', and its Settings inherit
these fields. Owns the
variables' definitions and the checks across them; MARKET_DATA_FILE's entries are
expanded by common/market_paths.py, and the files are read by supervisor/market_file.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common import config_fields as parse
from common.config_fields import ConfigError, Variable
from common.market_files import RecordedMarketData

# Where fills are priced from (docs/market-data.md).
MARKET_SOURCES = ("synthetic", "bus", "file")
MARKET_FILE_KINDS = ("quotes", "trades", "bars")
MARKET_TIME_UNITS = ("s", "ms", "us", "ns", "iso")
MARKET_FALLBACKS = ("reject", "synthetic")


@dataclass(frozen=True)
class MarketDataSettings:
    """Settings' fields of the market source (common.config.Settings inherits them)."""

    market_data: str = "synthetic"
    market_data_files: tuple[str, ...] = ()  # MARKET_DATA_FILE expanded: the files read, in order
    market_data_kind: str = "quotes"
    market_data_instrument: str = ""
    market_data_columns: str = ""
    market_data_time_unit: str = "ns"
    market_data_price_scale: str = "1"
    market_data_bar_seconds: int = 60
    market_data_bar_stamp: str = "open"
    market_data_max_age_ms: int = 60_000
    market_data_fallback: str = "reject"
    # MARKET_DATA=bus: where quotes (our L1 contract) and at-core signals are read, and how long a
    # quiet bus may leave an order waiting before the service stores a watermark tick.
    market_quote_subjects: tuple[str, ...] = ("market.quote.>",)
    market_signal_subject: str = ""
    market_watermark_tick_ms: int = 50
    # MARKET_DATA=file: the files' checked records, loaded once by the supervisor at start
    # (supervisor/market_file.py); the workers get them with the settings when they start.
    recorded_market: RecordedMarketData | None = field(default=None, repr=False, compare=False)


# Each variable's whole definition (common/config_fields.Variable): common.config reads them, and
# docs/configuration.md is generated from them (`python -m tools.docs_config --write`).
MARKET_VARIABLES = (
    Variable("MARKET_DATA", "market_data", parse.choice(MARKET_SOURCES),
             "where fills are priced from: `synthetic` (the seeded market), `bus`: quotes and signals stored in "
             "the stream (live paper trading, SIMULATION_CLOCK=wall; see [Market data](market-data.md)), or "
             "`file`: a recorded file (needs SIMULATION_CLOCK=virtual and MARKET_DATA_FILE; see "
             "[Backtesting & replay](backtesting.md))"),
    Variable("MARKET_DATA_FILE", "market_data_files", parse.market_files,
             "`file`: the recorded files, `.csv`, `.csv.gz` or `.parquet` (Parquet needs the `market-data` "
             "extra), read once at start: comma-separated paths, glob patterns (`data/2026-11-*.csv`) or "
             "directories (their files of those kinds, in name order); each instrument's records are merged "
             "across files in time order (see [Market data](market-data.md#several-files))", default="(none)"),
    Variable("MARKET_DATA_KIND", "market_data_kind", parse.choice(MARKET_FILE_KINDS),
             "`quotes` (L1 bid and ask), `trades` or `bars` (OHLCV)"),
    Variable("MARKET_DATA_INSTRUMENT", "market_data_instrument", parse.text,
             "the instrument of a file without an instrument column", default="(none)"),
    Variable("MARKET_DATA_COLUMNS", "market_data_columns", parse.text,
             "the file's column names, `ours=theirs,...`, e.g. "
             "`time=ts_recv,instrument=symbol,bid=bid_px_00,ask=ask_px_00`", default="(our names)"),
    Variable("MARKET_DATA_TIME_UNIT", "market_data_time_unit", parse.choice(MARKET_TIME_UNITS),
             "the time column: `s`, `ms`, `us`, `ns` since the epoch, or `iso` (RFC 3339 with its offset)"),
    Variable("MARKET_DATA_PRICE_SCALE", "market_data_price_scale", parse.text,
             "multiplies the file's prices exactly (Databento's fixed-point prices: `1e-9`)"),
    Variable("MARKET_DATA_BAR_SECONDS", "market_data_bar_seconds", parse.integer(1, 86_400), "bars: the interval"),
    Variable("MARKET_DATA_BAR_STAMP", "market_data_bar_stamp", parse.choice(("open", "close")),
             "bars: the file's time is each bar's `open` or its `close`"),
    Variable("MARKET_DATA_MAX_AGE_MS", "market_data_max_age_ms", parse.integer(0, 31 * 86_400_000),
             "how long a record stays in force; under bars at least the bar interval"),
    Variable("MARKET_DATA_FALLBACK", "market_data_fallback", parse.choice(MARKET_FALLBACKS),
             "an order arriving when its instrument has no record in force: `reject` (`no_market_data`) or "
             "`synthetic` (priced from the synthetic market)"),
    Variable("MARKET_QUOTE_SUBJECTS", "market_quote_subjects", parse.subject_list,
             "`bus`: where L1 quotes (schemas/market_quote.schema.json) are read, comma-separated, wildcards "
             "allowed; the last token of a quote's subject is its instrument", default="market.quote.>"),
    Variable("MARKET_SIGNAL_SUBJECT", "market_signal_subject", parse.subject,
             "`bus`: also price from at-core normalized signals on this subject (a price taken as the mid, "
             "with the instruments file's spread)", default="(off)"),
    Variable("MARKET_WATERMARK_TICK_MS", "market_watermark_tick_ms", parse.integer(1, 10_000),
             "`bus`: how long a quiet bus may leave an order waiting before the service stores an empty "
             "watermark tick (market.tick.<instance>, beside the quote subjects)"),
)


def check_market_data(s: MarketDataSettings, virtual_clock: bool) -> None:
    """ConfigError for a market source the service cannot run with."""
    if s.market_data == "bus" and virtual_clock:
        # The data known at an instant is decided by the stream's stored times, one server's clock:
        # a recorded feed is backtested as a file.
        raise ConfigError("MARKET_DATA", "bus is live paper trading: it needs SIMULATION_CLOCK=wall "
                                         "(backtest recorded data with MARKET_DATA=file)")
    if s.market_data != "file":
        return
    if not virtual_clock:
        raise ConfigError("MARKET_DATA", "file is for backtests: it needs SIMULATION_CLOCK=virtual")
    if not s.market_data_files:
        raise ConfigError("MARKET_DATA_FILE", "MARKET_DATA=file needs the files to price from")
    # A bar's records age like any other: a shorter age would leave every bar's middle without a market.
    if s.market_data_kind == "bars" and s.market_data_max_age_ms < s.market_data_bar_seconds * 1000:
        raise ConfigError("MARKET_DATA_MAX_AGE_MS", f"{s.market_data_max_age_ms} is below the bar interval "
                                                    f"MARKET_DATA_BAR_SECONDS={s.market_data_bar_seconds} s")
