"""Recorded market data files (common/market_files.py): vendor layouts by column mapping, bad rows
counted by type, trades and bars as price-only records, and the bar fill convention on a tape."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from common.market_files import (
    BARS,
    SCHEMA,
    SKIP_TYPES,
    TRADES,
    FileLayout,
    MarketFileError,
    load_csv,
    load_file,
    load_files,
    parse_columns,
)
from common.market_records import CROSSED, NON_POSITIVE, OUT_OF_ORDER, QuoteRecord
from worker.quote_tape import QuoteTape

TARDIS_QUOTES = """exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount
coinbase,BTC-USD,1764081000000000,1764081000001500,1.25,95001.0,95000.5,0.8
coinbase,BTC-USD,1764081000100000,1764081000102999,1.0,95002.0,95001.0,0.5
"""
TARDIS = FileLayout(columns=parse_columns(
    "time=local_timestamp,instrument=symbol,bid=bid_price,ask=ask_price,bid_size=bid_amount,ask_size=ask_amount"),
    time_unit="us")


def no_skips(**counts: int) -> dict[str, int]:
    return dict.fromkeys(SKIP_TYPES, 0) | counts


def test_a_tardis_quotes_export_loads_with_a_column_mapping():
    loaded = load_csv(io.StringIO(TARDIS_QUOTES), TARDIS)
    # The time received (local_timestamp, microseconds) floored to milliseconds; the key is the instrument's.
    assert loaded.records == {"BTCUSD": (QuoteRecord(1764081000001, 95000.5, 95001.0, 0.8, 1.25),
                                         QuoteRecord(1764081000102, 95001.0, 95002.0, 0.5, 1.0))}
    assert loaded.skipped == no_skips() and not loaded.price_only


def test_databento_fixed_point_prices_and_nanoseconds():
    text = ("ts_recv,ts_event,symbol,bid_px_00,ask_px_00,bid_sz_00,ask_sz_00\n"
            "1764081000123456789,1764081000120000000,ESZ6,5891250000000,5891500000000,12,30\n")
    layout = FileLayout(columns=parse_columns(
        "time=ts_recv,instrument=symbol,bid=bid_px_00,ask=ask_px_00,bid_size=bid_sz_00,ask_size=ask_sz_00"),
        price_scale="1e-9")
    assert load_csv(io.StringIO(text), layout).records == {
        "ESZ6": (QuoteRecord(1764081000123, 5891.25, 5891.5, 12.0, 30.0),)}


def test_rfc3339_times_and_a_file_of_one_instrument():
    text = "time,bid,ask\n2025-11-25T14:30:00.001Z,1.1,1.2\n2025-11-25T15:30:00.250+01:00,1.1,1.3\n2025-11-25T14:30:01,1,2\n"
    loaded = load_csv(io.StringIO(text), FileLayout(time_unit="iso", instrument="EUR/USD"))
    assert [r.at_ms for r in loaded.records["EURUSD"]] == [1764081000001, 1764081000250]
    assert loaded.skipped == no_skips(**{SCHEMA: 1})  # a time without its offset is not a time


def test_bad_rows_are_counted_by_type_and_skipped():
    text = """time,instrument,bid,ask,bid_size
1000,AAPL,190.0,190.1,100
2000,AAPL,,190.1,100
2000,AAPL,abc,190.1,100
3000,AAPL,190.2,190.1,100
3000,AAPL,0,190.1,100
3000,AAPL,190.0,190.1,-5
3000,AAPL,190.0,190.1,50
1500,AAPL,190.0,190.1,100
4000,MSFT,410.0,410.2,
4000,a b,1,2,1
5000,aapl,190.05,190.1,100
"""
    loaded = load_csv(io.StringIO(text), FileLayout(time_unit="ms"))
    assert [r.at_ms for r in loaded.records["AAPL"]] == [1000, 3000, 5000]  # "aapl" is the same instrument
    assert loaded.records["MSFT"] == (QuoteRecord(4000, 410.0, 410.2),)  # an empty optional column is 0
    assert loaded.skipped == no_skips(**{SCHEMA: 3, CROSSED: 1, NON_POSITIVE: 2, OUT_OF_ORDER: 1})


def test_a_required_column_missing_from_the_file_skips_every_row_as_schema():
    loaded = load_csv(io.StringIO("time,instrument,bid\n1,AAPL,1\n2,AAPL,1\n"), FileLayout(time_unit="ms"))
    assert loaded.records == {} and loaded.skipped[SCHEMA] == 2


def test_trades_are_price_only_records():
    text = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\nx,ETH-USD,1,2000,7,buy,3400.5,0.25\n"
    layout = FileLayout(kind=TRADES, columns=parse_columns("time=local_timestamp,instrument=symbol,size=amount"),
                        time_unit="us")
    loaded = load_csv(io.StringIO(text), layout)
    assert loaded.records == {"ETHUSD": (QuoteRecord(2, 3400.5, 3400.5, 0.0, 0.0, 0.25),)} and loaded.price_only


BARS_CSV = """ticker,volume,open,close,high,low,window_start,transactions
SPY,1000,100,101,105,99,0,10
SPY,2000,101.5,98,102,97,60000000000,12
SPY,10,100,100,99,98,120000000000,1
SPY,10,100,100,101,0,120000000000,1
SPY,10,100,100,101,99,60000000000,1
"""
POLYGON_BARS = FileLayout(kind=BARS, columns=parse_columns("time=window_start,instrument=ticker"))


def test_bars_become_the_open_at_the_start_and_the_range_at_the_end():
    loaded = load_csv(io.StringIO(BARS_CSV), POLYGON_BARS)
    assert loaded.records["SPY"] == (
        QuoteRecord(0, 100, 100), QuoteRecord(60_000, 99, 99), QuoteRecord(60_000, 105, 105),
        QuoteRecord(60_000, 101, 101, volume=1000),
        QuoteRecord(60_000, 101.5, 101.5), QuoteRecord(120_000, 97, 97), QuoteRecord(120_000, 102, 102),
        QuoteRecord(120_000, 98, 98, volume=2000))
    # A range that does not hold its open, a low of 0, a bar starting before the last record: one count each.
    assert loaded.skipped == no_skips(**{CROSSED: 1, NON_POSITIVE: 1, OUT_OF_ORDER: 1})


def test_bars_stamped_at_their_close():
    text = "time,instrument,open,high,low,close\n60,SPY,100,105,99,101\n"
    loaded = load_csv(io.StringIO(text), FileLayout(kind=BARS, time_unit="s", bar_stamp="close"))
    assert [r.at_ms for r in loaded.records["SPY"]] == [0, 60_000, 60_000, 60_000]


def test_the_bar_fill_convention_on_a_tape():
    """A market order arriving inside the first bar is priced at the first print after its arrival:
    the next bar's open, never the first bar's close. A buy limit at 98 resting from then fills at the
    end of the first later bar whose low reaches it, not on the first bar's low of 99 (seen before)."""
    tape = QuoteTape.from_records(load_csv(io.StringIO(BARS_CSV), POLYGON_BARS).records["SPY"])
    arrival = 30_000
    assert tape.quote(arrival).mid == 100  # the open already printed: known, but not the price it gets
    priced_at = tape.next_instant_after(arrival)
    assert priced_at == 60_000 and tape.quote(priced_at).ask == 101.5  # the next bar's open
    resume = tape.next_instant_after(priced_at)
    assert tape.first_crossing(resume, 10**9, 98.0, False, "ask") == 120_000
    assert tape.first_crossing(resume, 10**9, 96.0, False, "ask") is None


def test_files_by_their_name(tmp_path: Path):
    plain = tmp_path / "quotes.csv"
    plain.write_text(TARDIS_QUOTES)
    packed = tmp_path / "quotes.csv.gz"
    with gzip.open(packed, "wt") as f:
        f.write(TARDIS_QUOTES)
    assert load_file(plain, TARDIS) == load_file(packed, TARDIS)
    with pytest.raises(MarketFileError):
        load_file(tmp_path / "quotes.txt", TARDIS)


def test_a_parquet_file_loads_like_the_same_csv(tmp_path: Path):
    pa = pytest.importorskip("pyarrow", reason="the market-data extra (make venv installs it with dev)")
    import pyarrow.csv
    import pyarrow.parquet

    plain = tmp_path / "quotes.csv"
    plain.write_text(TARDIS_QUOTES)
    table = pyarrow.csv.read_csv(plain)
    assert isinstance(table, pa.Table)
    pyarrow.parquet.write_table(table, tmp_path / "quotes.parquet")
    assert load_file(tmp_path / "quotes.parquet", TARDIS) == load_file(plain, TARDIS)


@pytest.mark.parametrize("layout", [
    dict(kind="ticks"), dict(time_unit="minutes"), dict(bar_stamp="middle"), dict(bar_seconds=0),
    dict(columns={"price_x": "p"}), dict(price_scale="0"), dict(price_scale="lots"),
])
def test_a_layout_that_cannot_be_used_is_refused(layout):
    with pytest.raises(MarketFileError):
        FileLayout(**layout)


@pytest.mark.parametrize("text", ["time", "time=", "=ts", "time:ts"])
def test_a_column_mapping_that_is_not_ours_equals_theirs_is_refused(text: str):
    with pytest.raises(MarketFileError):
        parse_columns(text)


# Several files (load_files): each instrument's records merged across files in time order.
DAY_1 = """time,instrument,bid,ask
86399000,EURUSD,1.10,1.11
86399500,BTC-USD,42000,42001
86399700,EURUSD,1.2,1.1
86399800,EURUSD,1.10,1.12
86399900,EURUSD,x,1.12
86400000,EURUSD,1.11,1.12
"""
DAY_2 = """time,instrument,bid,ask
86400000,EURUSD,1.12,1.13
86400000,BTC-USD,42010,42011
86400500,EURUSD,1.13,1.14
86400100,EURUSD,1.13,1.15
"""
MS = FileLayout(time_unit="ms")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_day_files_give_the_records_and_counts_of_their_concatenation(tmp_path: Path):
    days = [write(tmp_path, "day-1.csv", DAY_1), write(tmp_path, "day-2.csv", DAY_2)]
    joined = write(tmp_path, "both.csv", DAY_1 + DAY_2.split("\n", 1)[1])
    merged = load_files(days, MS)
    assert merged == load_file(joined, MS)
    # The midnight record of day 1 and the first of day 2 share a millisecond: day 1's first, so day 2's is in force.
    assert [(r.at_ms, r.bid) for r in merged.records["EURUSD"]] == [
        (86399000, 1.10), (86399800, 1.10), (86400000, 1.11), (86400000, 1.12), (86400500, 1.13)]
    assert merged.skipped == no_skips(**{SCHEMA: 1, CROSSED: 1, OUT_OF_ORDER: 1})


def test_bar_day_files_give_the_bars_of_their_concatenation(tmp_path: Path):
    header, *bars = BARS_CSV.splitlines(keepends=True)
    days = [write(tmp_path, "bars-1.csv", header + bars[0]), write(tmp_path, "bars-2.csv", header + "".join(bars[1:]))]
    joined = write(tmp_path, "bars.csv", BARS_CSV)
    assert load_files(days, POLYGON_BARS) == load_file(joined, POLYGON_BARS)


def test_files_that_overlap_in_time_are_merged_not_skipped_as_out_of_order(tmp_path: Path):
    venue_a = write(tmp_path, "a.csv", "time,instrument,bid,ask\n1000,AAPL,190.0,190.2\n3000,AAPL,190.4,190.6\n")
    venue_b = write(tmp_path, "b.csv", "time,instrument,bid,ask\n2000,AAPL,190.1,190.3\n4000,AAPL,190.5,190.7\n"
                                       "2500,AAPL,190.1,190.3\n")
    merged = load_files([venue_b, venue_a], MS)
    assert [r.at_ms for r in merged.records["AAPL"]] == [1000, 2000, 3000, 4000]
    # Out of order is judged within a file, as for a file alone: b's 2500 comes after its own 4000.
    assert merged.skipped == no_skips(**{OUT_OF_ORDER: 1})
    tape = QuoteTape.from_records(merged.records["AAPL"])
    assert [tape.quote(t).bid for t in (1500, 2500, 3500)] == [190.0, 190.1, 190.4]


def test_equal_times_keep_file_order_then_row_order(tmp_path: Path):
    first = write(tmp_path, "first.csv", "time,instrument,bid,ask\n1000,AAPL,1,2\n1000,AAPL,3,4\n")
    second = write(tmp_path, "second.csv", "time,instrument,bid,ask\n1000,AAPL,5,6\n1000,AAPL,7,8\n")
    assert [r.bid for r in load_files([first, second], MS).records["AAPL"]] == [1, 3, 5, 7]
    assert [r.bid for r in load_files([second, first], MS).records["AAPL"]] == [5, 7, 1, 3]
    # The last of the millisecond is the quote in force: the later file's.
    assert QuoteTape.from_records(load_files([first, second], MS).records["AAPL"]).quote(1000).bid == 7


def test_one_file_loads_as_it_always_did(tmp_path: Path):
    path = write(tmp_path, "day-1.csv", DAY_1)
    assert load_files([path], MS) == load_file(path, MS)


def test_a_file_another_mapping_would_read_is_refused_by_its_name(tmp_path: Path):
    ours = write(tmp_path, "ours.csv", DAY_1)
    tardis = write(tmp_path, "tardis.csv", TARDIS_QUOTES)
    with pytest.raises(MarketFileError) as raised:
        load_files([ours, tardis], MS)
    assert repr(str(tardis)) in str(raised.value) and "no column time, instrument, bid, ask" in str(raised.value)
    # Without an instrument column, MARKET_DATA_INSTRUMENT names it.
    single = write(tmp_path, "eurusd.csv", "time,bid,ask\n1000,1.1,1.2\n")
    assert load_files([single], FileLayout(time_unit="ms", instrument="EUR/USD")).records["EURUSD"][0].at_ms == 1000
    with pytest.raises(MarketFileError, match="no column instrument"):
        load_files([single], MS)


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path):
    good = write(tmp_path, "day-1.csv", DAY_1)
    bad = tmp_path / "day-2.csv.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(MarketFileError, match=repr(str(bad)).replace(".", r"\.")):
        load_files([good, bad], MS)


def test_csv_and_parquet_files_with_the_same_columns_merge(tmp_path: Path):
    pytest.importorskip("pyarrow", reason="the market-data extra (make venv installs it with dev)")
    import pyarrow.csv
    import pyarrow.parquet

    day_2 = write(tmp_path, "day-2.csv", DAY_2)
    pyarrow.parquet.write_table(pyarrow.csv.read_csv(day_2), tmp_path / "day-2.parquet")
    day_1 = write(tmp_path, "day-1.csv", DAY_1)
    assert load_files([day_1, tmp_path / "day-2.parquet"], MS) == load_files([day_1, day_2], MS)
