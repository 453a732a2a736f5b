"""MARKET_DATA=file's settings and the supervisor's loading of its files (supervisor/market_file.py).

Real files in a temporary folder; the tapes are read back as the workers read them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from common.config import ConfigError, load_settings
from supervisor.market_file import log_recorded_market, with_recorded_market
from worker.quote_tape import tape_from_bytes

CSV = """time,instrument,bid,ask
1000,EURUSD,1.1,1.1002
2000,EURUSD,1.2,1.1
3000,EURUSD,x,1.1
2500,EURUSD,1.1,1.1003
4000,BTC-USD,42000,42001
"""


def file_env(path: Path | str, **kw: str) -> dict[str, str]:
    return {"MARKET_DATA": "file", "MARKET_DATA_FILE": str(path), "SIMULATION_CLOCK": "virtual",
            "MARKET_DATA_TIME_UNIT": "ms", **kw}


@pytest.fixture
def quotes(tmp_path: Path) -> Path:
    path = tmp_path / "quotes.csv"
    path.write_text(CSV)
    return path


def test_nothing_set_is_the_synthetic_market_without_a_file():
    s = load_settings({})
    assert (s.market_data, s.recorded_market, s.market_data_fallback, s.market_data_max_age_ms) == \
        ("synthetic", None, "reject", 60_000)
    assert with_recorded_market(s) is s


@pytest.mark.parametrize("env, variable", [
    ({"SIMULATION_CLOCK": "wall"}, "MARKET_DATA"),
    ({"MARKET_DATA_FILE": ""}, "MARKET_DATA_FILE"),
    ({"MARKET_DATA": "bus"}, "MARKET_DATA"),
    ({"MARKET_DATA_KIND": "bars", "MARKET_DATA_MAX_AGE_MS": "59999"}, "MARKET_DATA_MAX_AGE_MS"),
    ({"MARKET_DATA_FALLBACK": "guess"}, "MARKET_DATA_FALLBACK"),
])
def test_settings_that_cannot_run_name_their_variable(quotes, env, variable):
    merged = file_env(quotes, **env)
    if env.get("MARKET_DATA_FILE") == "":
        del merged["MARKET_DATA_FILE"]
    with pytest.raises(ConfigError) as raised:
        load_settings(merged)
    assert raised.value.variable == variable


def test_the_file_is_loaded_into_each_instruments_tape_with_bad_rows_counted(quotes):
    s = with_recorded_market(load_settings(file_env(quotes)))
    data = s.recorded_market
    assert data is not None and data.kind == "quotes"
    assert dict(data.skipped) == {"schema": 1, "crossed": 1}
    tapes = {key: tape_from_bytes(raw) for key, raw in data.tapes}
    assert sorted(tapes) == ["BTCUSD", "EURUSD"]
    assert list(tapes["EURUSD"].times) == [1000, 2500]
    assert "recorded_market" not in repr(s)


@pytest.mark.parametrize("content, name", [(b"not gzip", "quotes.csv.gz"), (b"time\n1\n", "quotes.txt"),
                                           (b"time,instrument,bid,ask\n", "empty.csv")])
def test_a_file_that_cannot_be_used_is_a_configuration_error_naming_the_file(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError) as raised:
        with_recorded_market(load_settings(file_env(path)))
    assert raised.value.variable == "MARKET_DATA_FILE"


def test_a_bad_column_mapping_names_the_mapping(quotes):
    with pytest.raises(ConfigError) as raised:
        with_recorded_market(load_settings(file_env(quotes, MARKET_DATA_COLUMNS="bid")))
    assert raised.value.variable == "MARKET_DATA_COLUMNS"


class RejectedCounts:
    """Stands in for the metrics' exec_sim_market_data_rejected_total: counts by label."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def labels(self, bad_type: str) -> SimpleNamespace:
        return SimpleNamespace(inc=lambda n: self.counts.update({bad_type: n}))


def test_a_directory_of_day_files_prices_from_one_merged_tape_and_says_how_many_it_read(tmp_path, caplog):
    folder = tmp_path / "days"
    folder.mkdir()
    header, *rows = CSV.splitlines(keepends=True)
    (folder / "2024-01-02.csv").write_text(header + "".join(rows[3:]))  # the 2500 record and BTC-USD
    (folder / "2024-01-01.csv").write_text(header + "".join(rows[:3]))  # 1000, the crossed row, a schema row
    s = with_recorded_market(load_settings(file_env(folder)))
    assert [Path(p).name for p in s.market_data_files] == ["2024-01-01.csv", "2024-01-02.csv"]
    single = with_recorded_market(load_settings(file_env(write_csv(tmp_path))))
    assert s.recorded_market == single.recorded_market

    metrics = SimpleNamespace(market_data_rejected=RejectedCounts())
    with caplog.at_level("INFO", logger="at_exec_sim.market_file"):
        log_recorded_market(s, metrics)  # type: ignore[arg-type]
    loaded = caplog.records[0]
    assert (loaded.getMessage(), loaded.files, loaded.records, loaded.instruments) == ("market data loaded", 2, 3, 2)
    assert Path(loaded.first_file).name == "2024-01-01.csv" and Path(loaded.last_file).name == "2024-01-02.csv"
    assert metrics.market_data_rejected.counts == {"schema": 1, "crossed": 1}


def write_csv(folder: Path) -> Path:
    path = folder / "all.csv"
    path.write_text(CSV)
    return path


def test_files_with_no_usable_record_between_them_are_a_configuration_error(tmp_path):
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("time,instrument,bid,ask\n1000,EURUSD,0,1\n")
    with pytest.raises(ConfigError) as raised:
        with_recorded_market(load_settings(file_env(tmp_path / "*.csv")))
    assert raised.value.variable == "MARKET_DATA_FILE" and "none of the 2 files" in raised.value.problem


def test_a_file_of_several_that_cannot_be_read_is_named_in_the_configuration_error(quotes, tmp_path):
    bad = tmp_path / "day-2.csv.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ConfigError) as raised:
        with_recorded_market(load_settings(file_env(f"{quotes}, {bad}")))
    assert raised.value.variable == "MARKET_DATA_FILE" and repr(str(bad)) in raised.value.problem
