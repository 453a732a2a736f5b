"""The run written to files: `--json` (everything), `--csv` (per second), `--csv-intents` (per intent).

Pure shapes plus the writes, in the loadgen process after the run. The JSON is
one document with snake_case keys:

    run_id, started_at, finished_at (RFC 3339 UTC), version (the package's), tool,
    parameters   every option of the command as it ran (a secret as "set")
    results      the figures (stats.summarize, plus service_rejections)
    service      the service's word on the run (service_watch.ServiceState)
    feed         the quote feed's figures, or null
    thresholds   [{expression, metric, observed, unit, passed}], verdict "passed" | "failed"
    baseline     {file, run_id, comparison: [{metric, unit, baseline, this_run, ratio, change}]} or null
    unanswered_explanation   lines, empty when everything was answered
    history      the --csv rows

The CSV history is locust's: one row per second of the run (the last one
shorter), with what was sent and answered in it and the latency of the intents
answered in it. The per-intent CSV has one row per intent sent.
"""

from __future__ import annotations

import argparse
import csv
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from common.version import package_version
from tools.loadgen.stats import IntentRecord, percentiles

SECRET_OPTIONS = frozenset({"hmac_secret"})
HISTORY_FIELDS = ("run_id", "timestamp", "elapsed_s", "sent", "sent_per_s", "answered", "answered_per_s",
                  "outstanding", "latency_p50_ms", "latency_p99_ms", "overhead_p50_ms", "overhead_p99_ms",
                  "faults")
INTENT_FIELDS = ("corr_id", "order_type", "time_in_force", "forced_outcome", "instrument", "expected_rejection",
                 "due_s", "sent_s", "final_s", "latency_ms", "overhead_ms", "outcome", "faults", "duplicate_fills")


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Every option as the run used it: paths as text, secrets as "set" (or null when not given)."""
    out: dict[str, Any] = {}
    for key, value in sorted(vars(args).items()):
        if key == "command":
            continue
        if key in SECRET_OPTIONS:
            value = None if value is None else "set"
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, list):
            value = [str(v) for v in value]
        out[key] = value
    return out


def history(records: list[IntentRecord], run_id: str, started_at: str, elapsed_s: float) -> list[dict[str, Any]]:
    """One row per second of the run: what was sent and answered in it, and how fast."""
    start = datetime.fromisoformat(started_at.replace("Z", "+00:00")) if started_at else None
    rows = []
    for k in range(max(1, math.ceil(elapsed_s - 1e-9))):
        lo, hi = float(k), min(float(k + 1), max(elapsed_s, 1e-9))
        width = max(hi - lo, 1e-9)
        sent = [r for r in records if r.sent_s is not None and lo <= r.sent_s < hi]
        done = [r for r in records if r.valid and r.final_s is not None and lo <= r.final_s < hi]
        latency = percentiles([r.latency_ms for r in done if r.latency_ms is not None])
        overhead = percentiles([_overhead(r) for r in done if _overhead(r) is not None])  # type: ignore[misc]
        rows.append({
            "run_id": run_id,
            "timestamp": (start + timedelta(seconds=hi)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if start else None,
            "elapsed_s": round(hi, 3),
            "sent": len(sent), "sent_per_s": round(len(sent) / width, 1),
            "answered": len(done), "answered_per_s": round(len(done) / width, 1),
            "outstanding": sum(1 for r in records if r.awaited and r.sent_s is not None and r.sent_s < hi
                               and (r.final_s is None or r.final_s >= hi)),
            "latency_p50_ms": latency["p50"], "latency_p99_ms": latency["p99"],
            "overhead_p50_ms": overhead["p50"], "overhead_p99_ms": overhead["p99"],
            "faults": sum(1 for r in records if r.fault_s is not None and lo <= r.fault_s < hi),
        })
    return rows


def _overhead(record: IntentRecord) -> float | None:
    latency = record.latency_ms
    return None if latency is None else latency - (record.simulated_delay_ms or 0)


def intent_rows(records: list[IntentRecord]) -> list[dict[str, Any]]:
    return [{
        "corr_id": r.corr_id, "order_type": r.order_type, "time_in_force": r.tif, "forced_outcome": r.force,
        "instrument": r.instrument, "expected_rejection": r.expected_rejection or "",
        "due_s": round(r.due_s, 6), "sent_s": _round(r.sent_s), "final_s": _round(r.final_s),
        "latency_ms": _round(r.latency_ms), "overhead_ms": _round(_overhead(r)), "outcome": r.outcome,
        "faults": " ".join(sorted(r.faults)), "duplicate_fills": r.duplicate_fills,
    } for r in records if r.sent_s is not None]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def document(*, run_id: str, started_at: str, finished_at: str, params: dict[str, Any], results: dict[str, Any],
             service: dict[str, Any], feed: dict[str, Any] | None, thresholds: list[dict[str, Any]],
             verdict: str, baseline: dict[str, Any] | None, explanation: list[str],
             history_rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "run_id": run_id, "started_at": started_at, "finished_at": finished_at, "version": package_version(),
        "tool": "at-exec-sim loadgen", "parameters": params, "results": results, "service": service,
        "feed": feed, "thresholds": thresholds, "verdict": verdict, "baseline": baseline,
        "unanswered_explanation": explanation, "history": history_rows,
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def write_csv(path: Path, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in fields})
