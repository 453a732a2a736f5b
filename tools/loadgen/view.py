"""The load generator's terminal output: live lines while it runs, summary tables at the end.

Runs in the loadgen process (rich). Reads only the runner's Progress, the
results (stats.summarize) and the threshold and baseline rows.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tools.loadgen.stats import IntentRecord, percentiles

if TYPE_CHECKING:
    from tools.loadgen.runner import Progress


class LiveView:
    def __init__(self, console: Console) -> None:
        self._live = Live(Text("starting"), console=console, refresh_per_second=4, transient=True)
        self._last: tuple[float, int, int] = (0.0, 0, 0)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._live.__exit__(kind, error, trace)

    def update(self, progress: Progress) -> None:
        text, self._last = live_text(progress, self._last)
        self._live.update(Text(text))


def live_text(progress: Progress, last: tuple[float, int, int]) -> tuple[str, tuple[float, int, int]]:
    """The live lines, and (elapsed, sent, answered) for the next call's rates."""
    records, elapsed_s = progress.records, progress.elapsed_s
    sent = sum(1 for r in records if r.sent_s is not None)
    answered = [r for r in records if r.valid and r.answered]
    partial = sum(1 for r in answered if r.statuses and r.statuses[0] == "partial")
    cancelled = sum(1 for r in answered if r.statuses[-1] in ("cancelled", "rejected"))
    invalid = sum(1 for r in records if not r.valid and r.sent_s is not None)
    outstanding = sum(1 for r in records if r.awaited and r.sent_s is not None and not r.answered)
    t0, sent0, answered0 = last
    dt = max(elapsed_s - t0, 1e-9)
    send_rate, answer_rate = (sent - sent0) / dt, (len(answered) - answered0) / dt
    latency = percentiles([r.latency_ms for r in answered if r.latency_ms is not None])
    lines = [
        f"{elapsed_s:6.1f} s  sent {sent:,} ({send_rate:,.0f}/s)  answered {len(answered):,} "
        f"({answer_rate:,.0f}/s)  partial {partial:,}  not filled in full {cancelled:,}  invalid sent {invalid:,}  "
        f"outstanding {outstanding:,}  latency p50 {_ms(latency['p50'])} p99 {_ms(latency['p99'])}",
        f"         faults received: {faults_text(records)}",
    ]
    rejected = progress.service.rejections
    if progress.service.metrics_read:
        lines.append("         service rejected (its /metrics): "
                     + (", ".join(f"{k} {int(v):,}" for k, v in sorted(rejected.items()) if v > 0) or "none"))
    if progress.quotes:
        lines.append(f"         quotes published: {progress.quotes:,}")
    return "\n".join(lines), (elapsed_s, sent, len(answered))


def faults_text(records: list[IntentRecord]) -> str:
    """Injected faults seen in the answers, by fault (intents touched), and duplicate fills received."""
    by_fault = Counter(fault for r in records for fault in r.faults)
    duplicates = sum(r.duplicate_fills for r in records)
    parts = [f"{name} {n:,}" for name, n in sorted(by_fault.items())]
    if duplicates:
        parts.append(f"duplicate fills received {duplicates:,}")
    return ", ".join(parts) or "none"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def summary_table(summary: dict[str, Any], service: dict[str, Any] | None = None, run_id: str | None = None) -> Table:
    table = Table(title=f"at-exec-sim loadgen{f' run {run_id}' if run_id else ''}", header_style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")
    target = summary["target_rate_per_s"]
    table.add_row("target rate", f"{target:,.0f}/s" if target else "as fast as possible")
    table.add_row("achieved send rate", f"{summary['achieved_send_rate_per_s'] or 0:,.0f}/s")
    table.add_row("intents sent (valid / invalid)",
                  f"{summary['sent']['total']:,} ({summary['sent']['valid']:,} / {summary['sent']['invalid']:,})")
    table.add_row("answered", f"{summary['answered']:,}")
    table.add_row("outstanding at the end", f"{summary['outstanding']:,}")
    if summary.get("resting"):
        table.add_row("resting (DAY/GTC, market closed)", f"{summary['resting']:,}")
    for outcome, count in sorted(summary["outcomes"].items()):
        table.add_row(f"  {outcome}", f"{count:,}")
    for kind, count in sorted(summary["rejections_sent_by_type"].items()):
        table.add_row(f"  invalid sent: {kind}", f"{count:,}")
    for tif, group in summary.get("by_time_in_force", {}).items():
        if tif != "none":
            table.add_row(f"  time in force {tif.upper()}", f"{group['answered']:,} of {group['sent']:,} answered")
    for force, group in summary.get("forced_outcomes", {}).items():
        table.add_row(f"  forced {force}", f"{group['honoured']:,} of {group['sent']:,} honoured")
    table.add_row("reconciles", f"{summary['reconciles']:,}")
    faults = summary.get("faults") or {}
    table.add_row("faults received (intents)", ", ".join(f"{k} {v:,}" for k, v in sorted(faults.items())) or "none")
    if summary.get("duplicate_fills"):
        table.add_row("duplicate fills received", f"{summary['duplicate_fills']:,}")
    if service and service.get("metrics_read"):
        rejected = service.get("rejections_by_type") or {}
        table.add_row("service rejected (its /metrics)",
                      ", ".join(f"{k} {int(v):,}" for k, v in sorted(rejected.items())) or "none")
    for name, key in (("latency, end to end", "end_to_end"), ("latency, simulated delay taken out", "without_simulated_delay")):
        figures = summary["latency_ms"][key]
        table.add_row(name, "  ".join(f"{q} {_ms(figures[q])}" for q in ("p50", "p90", "p99", "p99.9", "max")))
    slip = summary["slippage_bps"]
    if slip["p50"] is not None:
        table.add_row("slippage vs mid, market and stop (bps)", f"p50 {slip['p50']}  p99 {slip['p99']}  max {slip['max']}")
    return table


def thresholds_table(rows: list[dict[str, Any]], verdict: str) -> Table:
    table = Table(title=f"thresholds: {verdict}", header_style="bold")
    for column in ("threshold", "observed", "result"):
        table.add_column(column, justify="right" if column == "observed" else "left")
    for row in rows:
        observed = "no value" if row["observed"] is None else f"{row['observed']:,g} {row['unit']}".rstrip()
        table.add_row(row["expression"], observed, "[green]passed[/]" if row["passed"] else "[red]failed[/]")
    return table


def baseline_table(rows: list[dict[str, Any]], baseline_run: str) -> Table:
    table = Table(title=f"against the baseline run {baseline_run}", header_style="bold")
    for column in ("metric", "baseline", "this run", "ratio", "change"):
        table.add_column(column, justify="left" if column in ("metric", "change") else "right")
    for row in rows:
        unit = f" {row['unit']}" if row["unit"] else ""
        table.add_row(row["metric"], _value(row["baseline"], unit), _value(row["this_run"], unit),
                      "-" if row["ratio"] is None else f"{row['ratio']:.3f}", row["change"] or "-")
    return table


def _value(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:,g}{unit}"
