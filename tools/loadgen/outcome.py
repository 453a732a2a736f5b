"""The end of a load-generator run: judged against its thresholds, printed, written, an exit status.

Runs in the loadgen process after the run (and in `at-exec-sim demo`). Owns the
verdict: the thresholds given (or DEFAULT_THRESHOLDS) evaluated on the run's
figures, against the baseline when one was given; 0 when all passed, 1 when not.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from common.config import Settings
from tools.loadgen import export
from tools.loadgen.baseline import baseline_results, compare, load_baseline
from tools.loadgen.explain import explain_unanswered, service_rejections
from tools.loadgen.plan import LoadOptions
from tools.loadgen.runner import LoadRun
from tools.loadgen.thresholds import (
    DEFAULT_FEED_ONLY_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    Threshold,
    evaluate,
    parse_threshold,
    verdict,
)
from tools.loadgen.view import baseline_table, summary_table, thresholds_table

EXIT_UNANSWERED = 1


@dataclass(frozen=True)
class Outputs:
    """What to do with a finished run: files to write, criteria to judge it by, context to explain it."""

    json_path: Path | None = None
    csv_path: Path | None = None
    csv_intents_path: Path | None = None
    report_dir: Path | None = None
    thresholds: tuple[Threshold, ...] = ()
    baseline_path: Path | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    # For the explanation of unanswered intents (explain.explain_unanswered).
    run: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace, options: LoadOptions, settings: Settings) -> Outputs:
        """ValueError for a combination the parser cannot see (an x threshold without --baseline)."""
        thresholds = tuple(parse_threshold(t) for t in args.threshold or ())
        if any(t.relative for t in thresholds) and args.baseline is None:
            raise ValueError("--threshold with an x value (a ratio) needs --baseline")
        return cls(json_path=args.json, csv_path=args.csv, csv_intents_path=args.csv_intents,
                   report_dir=args.report, thresholds=thresholds, baseline_path=args.baseline,
                   parameters=export.parameters(args) | {"run_id": options.run_id},
                   run=run_context(options, settings, run_id_given=args.run_id is not None))


def run_context(options: LoadOptions, settings: Settings, run_id_given: bool) -> dict[str, Any]:
    return {"run_id": options.run_id, "run_id_given": run_id_given, "signed": bool(options.hmac_secret),
            "agent_id": options.agent_id, "idempotency_ttl_s": settings.idempotency_ttl_s,
            "replay_window_s": settings.replay_window_s}


def finish(result: LoadRun, console: Console, json_path: Path | None = None, report_dir: Path | None = None,
           outputs: Outputs | None = None) -> int:
    """Long because it is the end of the run in the order a reader wants it: figures, comparison,
    verdict, diagnosis, files."""
    outputs = outputs or Outputs(json_path=json_path, report_dir=report_dir)
    results = result.summary
    results["service_rejections"] = service_rejections(results, result.service)
    results["feed"] = result.feed
    feed_only = results["sent"]["total"] == 0 and result.feed is not None
    if not feed_only:
        console.print(summary_table(results, result.service, outputs.run.get("run_id")))
    if result.feed is not None:
        console.print(f"quotes published: {result.feed['published']:,} "
                      f"({result.feed['achieved_rate_per_s'] or 0:,.0f}/s)")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    baseline_doc = load_baseline(outputs.baseline_path) if outputs.baseline_path is not None else None
    baseline = None
    if baseline_doc is not None:
        rows = compare(baseline_results(baseline_doc), results)
        baseline = {"file": str(outputs.baseline_path), "run_id": baseline_doc.get("run_id"), "comparison": rows}
        console.print(baseline_table(rows, str(baseline_doc.get("run_id") or outputs.baseline_path)))
    defaults = DEFAULT_FEED_ONLY_THRESHOLDS if feed_only else DEFAULT_THRESHOLDS
    criteria = list(outputs.thresholds) or [parse_threshold(t) for t in defaults]
    threshold_rows = evaluate(criteria, results, baseline_results(baseline_doc) if baseline_doc else None)
    judged = verdict(threshold_rows)
    console.print(thresholds_table(threshold_rows, judged))
    explanation = explain_unanswered(results, result.service, outputs.run)
    if results["outstanding"] or results["invalid_answered_with_a_fill"]:
        console.print(f"[red]not every intent was answered as expected:[/] {results['outstanding']:,} valid intents "
                      f"unanswered{' (stopped waiting: the service had handled every intent)' if result.stopped_early else ''}, "
                      f"{results['invalid_answered_with_a_fill']:,} invalid ones filled", soft_wrap=True)
        for line in explanation:
            console.print(line, soft_wrap=True, highlight=False)
    _write(result, console, outputs, export.document(
        run_id=outputs.run.get("run_id", ""), started_at=result.started_at, finished_at=result.finished_at,
        params=outputs.parameters, results=results, service=result.service, feed=result.feed,
        thresholds=threshold_rows, verdict=judged, baseline=baseline, explanation=explanation,
        history_rows=export.history(result.records, outputs.run.get("run_id", ""), result.started_at,
                                    results["elapsed_s"])))
    return 0 if judged == "passed" else EXIT_UNANSWERED


def _write(result: LoadRun, console: Console, outputs: Outputs, doc: dict[str, Any]) -> None:
    if outputs.json_path is not None:
        export.write_json(outputs.json_path, doc)
        console.print(f"run written to {outputs.json_path}")
    if outputs.csv_path is not None:
        export.write_csv(outputs.csv_path, doc["history"], export.HISTORY_FIELDS)
        console.print(f"history written to {outputs.csv_path}")
    if outputs.csv_intents_path is not None:
        export.write_csv(outputs.csv_intents_path, export.intent_rows(result.records), export.INTENT_FIELDS)
        console.print(f"intents written to {outputs.csv_intents_path}")
    if outputs.report_dir is not None:
        from tools.loadgen.report import write_report

        console.print(f"report written to {write_report(outputs.report_dir, result.records, doc)}")
