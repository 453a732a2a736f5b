"""A backtest against a recorded file (MARKET_DATA=file) through a real nats-server, and its replay.

The service runs as users run it, on the CSV shipped in examples/, under the virtual clock
with a fixed delay; every fill must carry the price of the record in force at its arrival
(computed here from the CSV by a plain scan), every event must be valid against its
schema, and `at-exec-sim replay` of the stored intents must give the same bytes.
"""

from __future__ import annotations

import csv
import os
import subprocess
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from common.instruments import normalize
from tests.builders import VALIDATORS, assert_valid
from tools import sample_intents as si
from worker.events import iso_ms

from .conftest import CLI, assert_replay_gives, kind_of, publish_intents, read_outputs, run_async

pytestmark = pytest.mark.integration

CSV = Path(__file__).resolve().parents[2] / "examples" / "recorded-quotes.csv"
T0 = 1_705_314_660_000  # the file's first record
DELAY = 100
FILE_ENV = {"MARKET_DATA": "file", "MARKET_DATA_FILE": str(CSV), "MARKET_DATA_TIME_UNIT": "ms",
            "SIMULATION_CLOCK": "virtual", "SIMULATION_SEED": "file-backtest", "SIMULATION_MIN_DELAY_MS": str(DELAY),
            "SIMULATION_MAX_DELAY_MS": str(DELAY), "SIMULATION_PARTIAL_FILL_CHANCE": "0"}


def in_force(instrument: str, at_ms: int) -> dict[str, str] | None:
    """The last good row of the instrument at or before at_ms, within 60 s (a plain scan)."""
    found = None
    with CSV.open() as f:
        for row in csv.DictReader(f):
            try:
                good = 0 < float(row["bid"]) <= float(row["ask"])
            except ValueError:
                continue
            if good and normalize(row["instrument"]) == normalize(instrument) and int(row["time"]) <= at_ms:
                if found is None or int(row["time"]) >= int(found["time"]):
                    found = row
    return found if found is not None and at_ms - int(found["time"]) <= 60_000 else None


def intent_ms(intent: dict) -> int:
    return int(datetime.fromisoformat(intent["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def orders() -> list[dict]:
    """Market orders across the file (some on a record's exact time), and two with no market."""
    bodies = []
    for n, offset in enumerate((0, 4_900, 5_000 - DELAY, 17_000 - DELAY, 33_333, 61_100, 119_000)):
        for instrument, quantity in (("EURUSD", 1000), ("BTC/USD", 0.5)):
            side = "buy" if n % 2 == 0 else "sell"
            bodies.append(si.intent(f"mf-{n}-{normalize(instrument)}", side=side, instrument=instrument,
                                    quantity=quantity, timestamp=iso_ms(T0 + offset)))
    bodies.append(si.intent("mf-gbp", instrument="GBPUSD", timestamp=iso_ms(T0 + 10_000)))  # not in the file
    bodies.append(si.intent("mf-late", timestamp=iso_ms(T0 + 300_000)))  # past the file's last record + 60 s
    return bodies


def test_a_file_backtest_fills_at_the_files_prices_and_replays_byte_for_byte(nats_server, topology, start_service,
                                                                             tmp_path):
    service = start_service(**FILE_ENV)
    bodies = orders()
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies]))
    stored = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={b["corr_id"] for b in bodies}))
    assert service.metric("exec_sim_market_data_rejected_total", {"type": "crossed"}) == 1
    assert service.metric("exec_sim_market_data_rejected_total", {"type": "schema"}) == 1
    assert service.stop() == 0

    by_corr = {b["corr_id"]: b for b in bodies}
    for msg in stored:
        kind = kind_of(msg)
        event = orjson.loads(msg.data)
        assert_valid(VALIDATORS[kind], event)
        if kind != "fill":
            continue
        intent = by_corr[msg.headers["corr_id"]]
        arrival = intent_ms(intent) + DELAY
        record = in_force(intent["instrument"], arrival)
        if record is None:
            assert (event["fill_status"], event["metadata"]["reason_code"]) == ("rejected", "no_market_data")
            continue
        price = float(record["ask"] if intent["side"] == "buy" else record["bid"])
        assert (event["fill_status"], event["fill_price"]) == ("full", price), (intent["corr_id"], record)
        assert event["timestamp"] == iso_ms(arrival)
    assert {m.headers["corr_id"] for m in stored if b'"no_market_data"' in m.data} >= {"mf-gbp", "mf-late"}

    assert_replay_gives(service.env, stored, tmp_path)


def test_the_file_split_into_day_files_backtests_to_the_same_bytes_as_the_file(nats_server, topology, start_service,
                                                                               tmp_path):
    """docs/market-data.md, "Several files": the example file cut in two, given as a directory, gives the
    events a replay of the same intents over the single file gives, byte for byte."""
    header, *rows = CSV.read_text().splitlines(keepends=True)
    days = tmp_path / "days"
    days.mkdir()
    # Written in the other order than their names: the directory is read in name order.
    (days / "part-2.csv").write_text(header + "".join(rows[len(rows) // 2:]))
    (days / "part-1.csv").write_text(header + "".join(rows[:len(rows) // 2]))
    service = start_service(**{**FILE_ENV, "MARKET_DATA_FILE": f" {days} "})
    bodies = orders()
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies]))
    stored = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={b["corr_id"] for b in bodies}))
    assert service.metric("exec_sim_market_data_rejected_total", {"type": "crossed"}) == 1
    assert service.stop() == 0
    [loaded] = [line for line in service.log_lines() if line.get("message") == "market data loaded"]
    assert (loaded["files"], loaded["records"], loaded["instruments"]) == (2, 50, 2)
    assert sum(b'"fill_status":"full"' in m.data for m in stored) >= 10  # priced from the files, not all rejected

    assert_replay_gives({**service.env, "MARKET_DATA_FILE": str(CSV)}, stored, tmp_path)


def test_a_file_that_cannot_be_read_stops_the_service_at_start_naming_the_setting(tmp_path):
    bad = tmp_path / "quotes.csv.gz"
    bad.write_bytes(b"not gzip")
    env = {**os.environ, **FILE_ENV, "MARKET_DATA_FILE": str(bad), "NATS_URL": "nats://127.0.0.1:9"}
    result = subprocess.run([CLI, "run"], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2
    [line] = result.stderr.decode().strip().splitlines()
    assert "MARKET_DATA_FILE" in line


BARS_CSV = CSV.parent / "recorded-bars.csv"
BARS_ENV = {**FILE_ENV, "MARKET_DATA_FILE": str(BARS_CSV), "MARKET_DATA_KIND": "bars", "MARKET_DATA_BAR_SECONDS": "60",
            "SIMULATION_LIQUIDITY_SHARE": "0"}
MINUTE = 60_000


def on_grid(price: float) -> float:
    """EURUSD's tick grid: a bar's price-only quote puts the spread around the mid at the mid's decimals,
    and the fill is on the tick."""
    return round(price, 5)


def test_a_bars_backtest_gives_the_documented_fills_with_no_look_ahead(nats_server, topology, start_service, tmp_path):
    """docs/market-data.md, "Bars and their fill convention", on examples/recorded-bars.csv."""
    service = start_service(**BARS_ENV)
    at = {"mkt-buy": T0 + 10_000, "mkt-sell": T0 + 2 * MINUTE + 10_000, "lmt-rest": T0 + MINUTE + 10_000,
          "lmt-marketable": T0 + 2 * MINUTE + 5_000, "stop-sell": T0 + 10_000}
    bodies = [
        si.intent("mkt-buy", timestamp=iso_ms(at["mkt-buy"])),
        si.intent("mkt-sell", side="sell", timestamp=iso_ms(at["mkt-sell"])),
        si.intent("lmt-rest", order_type="limit", price=1.0915, timestamp=iso_ms(at["lmt-rest"]),
                  metadata={"time_in_force": "GTC"}),
        si.intent("lmt-marketable", order_type="limit", price=1.0945, timestamp=iso_ms(at["lmt-marketable"]),
                  metadata={"time_in_force": "GTC"}),
        si.intent("stop-sell", side="sell", order_type="stop", stop_price=1.0945, timestamp=iso_ms(at["stop-sell"]),
                  metadata={"time_in_force": "GTC"}),
    ]
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies]))
    stored = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={b["corr_id"] for b in bodies}))
    assert service.stop() == 0
    # Each order's first event is its first fill.
    fills = {m.headers["corr_id"]: orjson.loads(m.data) for m in stored if m.headers["Nats-Msg-Id"].endswith(":1")}
    for fill in fills.values():
        assert_valid(VALIDATORS["fill"], fill)
        assert fill["fill_status"] == "full"

    def when(corr_id: str) -> int:
        return intent_ms({"timestamp": fills[corr_id]["timestamp"]})

    # A market order fills at the next bar's open, at its start: never at a print of the bar it arrived in.
    assert (when("mkt-buy"), fills["mkt-buy"]["market_data"]["mid"]) == (T0 + MINUTE, 1.0956)
    assert on_grid(fills["mkt-buy"]["fill_price"]) == on_grid(fills["mkt-buy"]["market_data"]["ask"]) > 1.0956
    assert (when("mkt-sell"), fills["mkt-sell"]["market_data"]["mid"]) == (T0 + 3 * MINUTE, 1.0936)
    assert on_grid(fills["mkt-sell"]["fill_price"]) == on_grid(fills["mkt-sell"]["market_data"]["bid"]) < 1.0936
    # A limit the first print after its arrival reaches fills there, like a market order.
    assert (when("lmt-marketable"), fills["lmt-marketable"]["market_data"]["mid"]) == (T0 + 3 * MINUTE, 1.0936)
    assert on_grid(fills["lmt-marketable"]["fill_price"]) == on_grid(fills["lmt-marketable"]["market_data"]["ask"]) <= 1.0945
    # A resting limit fills at its limit at the end of the first later bar whose range reaches it
    # (the bar from T0 + 2 min dips to 1.0930, not enough; the next one to 1.0900).
    assert (when("lmt-rest"), fills["lmt-rest"]["fill_price"]) == (T0 + 4 * MINUTE, 1.0915)
    # A stop triggers at the end of the first later bar whose range reaches it (the bar from T0 + 2 min
    # dips to 1.0930) and fills at the next bar's open, not at the low that triggered it.
    assert (when("stop-sell"), fills["stop-sell"]["market_data"]["mid"]) == (T0 + 3 * MINUTE, 1.0936)
    assert on_grid(fills["stop-sell"]["fill_price"]) == on_grid(fills["stop-sell"]["market_data"]["bid"]) < 1.0936

    assert_replay_gives(service.env, stored, tmp_path)
