"""MARKET_DATA_FILE's entries into files (common/market_paths.py): lists, glob patterns and
directories in name order, each file once, and every entry naming no readable file refused
with its name, through the settings as the service loads them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common import market_paths
from common.config import ConfigError, load_settings
from common.market_paths import MarketPathError, expand

HEADER = "time,instrument,bid,ask\n"


@pytest.fixture
def days(tmp_path: Path) -> Path:
    """A vendor's day files, written out of name order, beside files that are not market data."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("2026-11-03.csv", "2026-11-01.csv.gz", "2026-11-02.parquet", "2026-11-10.CSV",
                 "notes.txt", ".2026-11-04.csv", "2026-11-05.csv.sha256"):
        (folder / name).write_text(HEADER)
    (folder / "more.csv").mkdir()  # a subdirectory is not a file, whatever its name
    return folder


def names(paths: tuple[str, ...]) -> list[str]:
    return [Path(p).name for p in paths]


def test_one_path_is_that_path_as_given(days: Path):
    path = str(days / "2026-11-03.csv")
    assert expand(path) == (path,)
    assert expand(f"  {path}\t") == (path,)


def test_a_list_keeps_its_order_ignoring_whitespace_and_empty_entries(days: Path):
    first, second = days / "2026-11-03.csv", days / "2026-11-01.csv.gz"
    assert expand(f" {first} ,, {second} ,") == (str(first), str(second))


def test_a_directory_is_its_market_data_files_in_name_order(days: Path):
    # Not notes.txt, not the hidden file, not a checksum, not the subdirectory named like a file.
    assert names(expand(str(days))) == ["2026-11-01.csv.gz", "2026-11-02.parquet", "2026-11-03.csv",
                                        "2026-11-10.CSV"]


def test_a_glob_pattern_is_the_files_it_matches_in_name_order(days: Path):
    assert names(expand(str(days / "2026-11-0*"))) == ["2026-11-01.csv.gz", "2026-11-02.parquet", "2026-11-03.csv",
                                                       "2026-11-05.csv.sha256"]
    assert names(expand(str(days / "2026-11-0[13].csv*"))) == ["2026-11-01.csv.gz", "2026-11-03.csv"]
    assert names(expand(str(days.parent / "**" / "*.parquet"))) == ["2026-11-02.parquet"]


def test_a_file_named_twice_is_read_once_at_its_first_place(days: Path):
    third = str(days / "2026-11-03.csv")
    spelled_otherwise = str(days / "." / "2026-11-03.csv")
    assert names(expand(f"{third},{days},{spelled_otherwise}")) == ["2026-11-03.csv", "2026-11-01.csv.gz",
                                                                     "2026-11-02.parquet", "2026-11-10.CSV"]


def test_an_existing_name_with_a_glob_character_is_that_file_not_a_pattern(tmp_path: Path):
    literal = tmp_path / "quotes[1].csv"
    literal.write_text(HEADER)
    (tmp_path / "quotes1.csv").write_text(HEADER)
    assert expand(str(literal)) == (str(literal),)


@pytest.mark.parametrize("entry, problem", [
    ("missing.csv", "cannot read"),
    ("2026-12-*.csv", "the pattern matches no file"),
    ("empty", "the directory holds no"),
])
def test_an_entry_naming_no_file_is_refused_by_its_name(days: Path, entry: str, problem: str):
    (days / "empty").mkdir()
    (days / "empty" / "readme.txt").write_text("not market data")
    good = str(days / "2026-11-03.csv")
    with pytest.raises(MarketPathError) as raised:
        expand(f"{good},{days / entry}")
    assert problem in str(raised.value) and repr(str(days / entry)) in str(raised.value)


def test_nothing_but_commas_names_no_file():
    with pytest.raises(MarketPathError):
        expand(" , ,")


def test_a_file_that_does_not_open_is_refused_naming_it_and_its_entry(days: Path, monkeypatch):
    def refuse(path: str, mode: str):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(market_paths, "open", refuse, raising=False)
    with pytest.raises(MarketPathError) as raised:
        expand(str(days / "*.csv"))
    assert "Permission denied" in str(raised.value)
    assert f"{str(days / '2026-11-03.csv')!r} (from {str(days / '*.csv')!r})" in str(raised.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root opens a file whatever its mode")
def test_a_file_without_read_permission_is_refused(days: Path):
    path = days / "2026-11-03.csv"
    path.chmod(0)
    with pytest.raises(MarketPathError, match="cannot read"):
        expand(str(path))


def test_the_settings_hold_the_expanded_files_and_a_bad_entry_is_a_configuration_error(days: Path):
    env = {"MARKET_DATA": "file", "SIMULATION_CLOCK": "virtual"}
    settings = load_settings({**env, "MARKET_DATA_FILE": f"{days / '2026-11-1*'}, {days / '2026-11-03.csv'}"})
    assert names(settings.market_data_files) == ["2026-11-10.CSV", "2026-11-03.csv"]
    with pytest.raises(ConfigError) as raised:
        load_settings({**env, "MARKET_DATA_FILE": f"{days / '2026-11-03.csv'},{days / 'nov-*.csv'}"})
    assert raised.value.variable == "MARKET_DATA_FILE" and "nov-*.csv" in raised.value.problem
