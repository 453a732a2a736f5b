"""MARKET_DATA=file: the recorded files read once, checked, merged, and turned into the tapes the workers price from.

Runs in the supervisor process at start (supervisor/cli.py, before the service or
`replay` is built), and nowhere else: the workers never open a file. Owns the step
from Settings to Settings.recorded_market: the file's layout from the MARKET_DATA_*
settings, common.market_files' loader over the files MARKET_DATA_FILE named
(expanded and checked when the settings were loaded: common/market_paths.py; bad
rows counted by type and skipped; each instrument's records merged across files in
time order), each instrument's records as a worker.quote_tape's bytes, one log line
for what was loaded and one per type of bad row. A file that cannot be used at all
is a ConfigError naming the setting and the file (exit code 2).

The tapes go to the workers inside the Settings they are spawned with (pickled once
per worker, 48 bytes per record), not through multiprocessing.shared_memory: a
segment outlives a SIGKILLed supervisor unless something unlinks it, and a backtest's
data is small next to the memory a worker already holds (docs/market-data.md).
"""

from __future__ import annotations

import dataclasses
import logging

from common.config import Settings
from common.config_fields import ConfigError
from common.market_files import FileLayout, MarketFileError, RecordedMarketData, load_files, parse_columns
from common.metrics import Metrics
from worker.quote_tape import QuoteTape, tape_bytes, tape_from_bytes

log = logging.getLogger("at_exec_sim.market_file")


def with_recorded_market(settings: Settings) -> Settings:
    """The settings with the files' tapes when MARKET_DATA=file (unchanged otherwise)."""
    if settings.market_data != "file":
        return settings
    try:
        layout = FileLayout(
            kind=settings.market_data_kind, columns=parse_columns(settings.market_data_columns),
            time_unit=settings.market_data_time_unit, price_scale=settings.market_data_price_scale,
            instrument=settings.market_data_instrument or None, bar_seconds=settings.market_data_bar_seconds,
            bar_stamp=settings.market_data_bar_stamp)
    except MarketFileError as exc:
        raise ConfigError("MARKET_DATA_COLUMNS", str(exc)) from None
    files = settings.market_data_files
    try:
        loaded = load_files(files, layout)
    except MarketFileError as exc:
        raise ConfigError("MARKET_DATA_FILE", str(exc)) from None
    tapes = tuple((key, tape_bytes(QuoteTape.from_records(records))) for key, records in sorted(loaded.records.items()))
    if not tapes:
        named = repr(files[0]) if len(files) == 1 else f"none of the {len(files)} files"
        raise ConfigError("MARKET_DATA_FILE", f"{named} holds no usable record")
    data = RecordedMarketData(tapes, layout.kind, tuple((t, n) for t, n in loaded.skipped.items() if n))
    return dataclasses.replace(settings, recorded_market=data)


def log_recorded_market(settings: Settings, metrics: Metrics) -> None:
    """One line for what was loaded (how many files and records, the first and last file), and
    one line and a count per type of bad row skipped (logging and the metrics are set up by then)."""
    data = settings.recorded_market
    if data is None:
        return
    files = settings.market_data_files
    records = sum(len(tape_from_bytes(raw, trusted=True)) for _, raw in data.tapes)
    log.info("market data loaded", extra={"files": len(files), "records": records, "kind": data.kind,
                                          "instruments": len(data.tapes), "first_file": files[0],
                                          "last_file": files[-1]})
    for bad_type, count in data.skipped:
        metrics.market_data_rejected.labels(bad_type).inc(count)
        log.warning("market data rows skipped", extra={"type": bad_type, "count": count, "files": len(files)})
