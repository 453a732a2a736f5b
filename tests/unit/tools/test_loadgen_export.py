"""What a run writes: the JSON document, the per-second and per-intent CSV, with snake_case keys."""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import orjson

from common.version import package_version
from tools.loadgen import export
from tools.loadgen.plan import LoadOptions
from tools.loadgen.stats import IntentRecord, summarize

SNAKE = re.compile(r"^[a-z0-9_.]+$")  # "p99.9" is a percentile's name


def records() -> list[IntentRecord]:
    return [
        IntentRecord("r-0", "market", None, due_s=0.0, sent_s=0.01, first_fill_s=0.5, final_s=0.5, statuses=["full"],
                     reconciles=1, simulated_delay_ms=450, tif="ioc"),
        IntentRecord("r-1", "limit", None, due_s=0.5, sent_s=0.5, first_fill_s=1.2, final_s=1.6,
                     statuses=["partial", "cancelled"], reconciles=2, simulated_delay_ms=1000,
                     end_reason="remainder_cancelled", faults={"latency_spike"}, fault_s=1.2, force="partial"),
        IntentRecord("r-2", "stop", None, due_s=1.0, sent_s=1.0),
        IntentRecord("r-3", "market", "schema", due_s=1.5, sent_s=1.5),
    ]


def keys(value, path="") -> list[str]:
    """Every key at every depth (outcomes and counters included)."""
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in [f"{path}{key}", *keys(v, f"{path}{key}.")]]
    if isinstance(value, list):
        return [k for v in value for k in keys(v, path)]
    return []


def test_the_json_document_has_the_run_its_parameters_and_a_verdict(tmp_path: Path):
    args = argparse.Namespace(command="loadgen", count=4, rate=2.0, hmac_secret="s3cret", json=tmp_path / "run.json",
                              threshold=["overhead_p99<20ms"], run_id=None)
    results = summarize(records(), LoadOptions(rate_per_s=2.0, run_id="r"), elapsed_s=2.5, send_s=1.5)
    doc = export.document(
        run_id="r", started_at="2026-12-04T10:00:00.000Z", finished_at="2026-12-04T10:00:02.500Z",
        params=export.parameters(args), results=results, service={"metrics_read": False}, feed=None,
        thresholds=[{"expression": "overhead_p99<20ms", "metric": "overhead_p99", "observed": 600.0, "unit": "ms",
                     "passed": False}], verdict="failed", baseline=None, explanation=["why"],
        history_rows=export.history(records(), "r", "2026-12-04T10:00:00.000Z", 2.5))
    export.write_json(args.json, doc)
    back = orjson.loads(args.json.read_bytes())
    assert back["run_id"] == "r" and back["version"] == package_version() and back["verdict"] == "failed"
    assert back["started_at"] == "2026-12-04T10:00:00.000Z" and back["finished_at"].endswith("Z")
    assert back["parameters"] == {"count": 4, "rate": 2.0, "hmac_secret": "set", "json": str(args.json),
                                  "threshold": ["overhead_p99<20ms"], "run_id": None}
    assert "s3cret" not in args.json.read_text()
    assert back["results"]["outcomes"] == {"filled_in_full": 1, "partial_rest_cancelled_remainder_cancelled": 1,
                                           "unanswered": 1}
    assert back["results"]["faults"] == {"latency_spike": 1}
    assert back["results"]["by_time_in_force"]["ioc"] == {"sent": 1, "answered": 1, "outcomes": {"filled_in_full": 1}}
    assert back["results"]["forced_outcomes"] == {"partial": {"sent": 1, "answered": 1, "honoured": 0}}
    bad = [k for k in keys(back) if not SNAKE.match(k.rsplit(".", 1)[-1]) and not k.startswith("parameters.")]
    assert not bad, bad


def test_history_has_one_row_per_second():
    rows = export.history(records(), "r", "2026-12-04T10:00:00.000Z", 2.5)
    assert [r["elapsed_s"] for r in rows] == [1.0, 2.0, 2.5]
    assert [r["timestamp"] for r in rows] == ["2026-12-04T10:00:01.000Z", "2026-12-04T10:00:02.000Z",
                                              "2026-12-04T10:00:02.500Z"]
    assert [r["sent"] for r in rows] == [2, 2, 0] and [r["answered"] for r in rows] == [1, 1, 0]
    assert rows[1]["sent_per_s"] == 2.0 and rows[0]["latency_p50_ms"] == 500.0
    assert rows[1]["overhead_p50_ms"] == 100.0  # 1,100 ms from due, 1,000 ms simulated
    assert [r["outstanding"] for r in rows] == [1, 1, 1]  # r-1 until 1.6 s, then r-2 for ever
    assert [r["faults"] for r in rows] == [0, 1, 0]


def test_csv_files(tmp_path: Path):
    history, intents = tmp_path / "history.csv", tmp_path / "intents.csv"
    export.write_csv(history, export.history(records(), "r", "2026-12-04T10:00:00.000Z", 2.5), export.HISTORY_FIELDS)
    export.write_csv(intents, export.intent_rows(records()), export.INTENT_FIELDS)
    rows = list(csv.DictReader(history.open()))
    assert len(rows) == 3 and list(rows[0]) == list(export.HISTORY_FIELDS) and rows[2]["latency_p50_ms"] == ""
    per_intent = list(csv.DictReader(intents.open()))
    assert [r["corr_id"] for r in per_intent] == ["r-0", "r-1", "r-2", "r-3"]
    assert per_intent[1]["outcome"] == "partial_rest_cancelled_remainder_cancelled"
    assert per_intent[1]["latency_ms"] == "1100.0" and per_intent[1]["faults"] == "latency_spike"
    assert per_intent[3]["expected_rejection"] == "schema" and per_intent[2]["final_s"] == ""
