"""The load generator's terminal output: a live line while it runs, a summary table at the end.

Runs in the loadgen process (rich). Reads only IntentRecords and summaries.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from tools.loadgen.stats import IntentRecord, percentiles


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

    def update(self, records: list[IntentRecord], elapsed_s: float) -> None:
        sent = sum(1 for r in records if r.sent_s is not None)
        answered = [r for r in records if r.valid and r.answered]
        partial = sum(1 for r in answered if r.statuses and r.statuses[0] == "partial")
        cancelled = sum(1 for r in answered if r.statuses[-1] in ("cancelled", "rejected"))
        rejected = sum(1 for r in records if not r.valid and r.sent_s is not None)
        outstanding = sum(1 for r in records if r.valid and r.sent_s is not None and not r.answered)
        t0, sent0, answered0 = self._last
        dt = max(elapsed_s - t0, 1e-9)
        send_rate, answer_rate = (sent - sent0) / dt, (len(answered) - answered0) / dt
        self._last = (elapsed_s, sent, len(answered))
        latency = percentiles([r.latency_ms for r in answered if r.latency_ms is not None])
        line = (
            f"{elapsed_s:6.1f} s  sent {sent:,} ({send_rate:,.0f}/s)  answered {len(answered):,} "
            f"({answer_rate:,.0f}/s)  partial {partial:,}  not filled in full {cancelled:,}  invalid sent {rejected:,}  "
            f"outstanding {outstanding:,}  latency p50 {_ms(latency['p50'])} p99 {_ms(latency['p99'])}"
        )
        self._live.update(Text(line))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="at-exec-sim loadgen", header_style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")
    target = summary["target_rate_per_s"]
    table.add_row("target rate", f"{target:,.0f}/s" if target else "as fast as possible")
    table.add_row("achieved send rate", f"{summary['achieved_send_rate_per_s'] or 0:,.0f}/s")
    table.add_row("intents sent (valid / invalid)",
                  f"{summary['sent']['total']:,} ({summary['sent']['valid']:,} / {summary['sent']['invalid']:,})")
    table.add_row("answered", f"{summary['answered']:,}")
    table.add_row("outstanding at the end", f"{summary['outstanding']:,}")
    for outcome, count in sorted(summary["outcomes"].items()):
        table.add_row(f"  {outcome}", f"{count:,}")
    for kind, count in sorted(summary["rejections_sent_by_type"].items()):
        table.add_row(f"  invalid sent: {kind}", f"{count:,}")
    table.add_row("reconciles", f"{summary['reconciles']:,}")
    for name, key in (("latency, end to end", "end_to_end"), ("latency, simulated delay taken out", "without_simulated_delay")):
        figures = summary["latency_ms"][key]
        table.add_row(name, "  ".join(f"{q} {_ms(figures[q])}" for q in ("p50", "p90", "p99", "p99.9", "max")))
    slip = summary["slippage_bps"]
    if slip["p50"] is not None:
        table.add_row("slippage vs mid, market and stop (bps)", f"p50 {slip['p50']}  p99 {slip['p99']}  max {slip['max']}")
    return table
