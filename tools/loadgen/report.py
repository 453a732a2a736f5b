"""`--report DIR`: one HTML page with the run's verdict, parameters, figures and charts, readable offline.

Runs in the loadgen process after the run. The page follows locust's report:
what was run and whether it passed first, then the tables, then the charts.

    header       run id, version, start and finish, the verdict            (when the run has them)
    thresholds   expression, observed value, passed or failed, one a row    (when the run has them)
    parameters   every argument of the run, secrets shown as ***            (when the run has them)
    summary      sent, answered, outstanding, rates, reconciles
    percentiles  p50 p90 p99 p99.9 max mean of latency, overhead, send lag, slippage
    outcomes     each outcome and invalid kind with its count and share
    charts       report_charts.py: throughput and latency over time, histograms, outcome bars

The input is the run's per-intent records (what the over-time charts need) and
either stats.summarize's figures (runs without verdicts) or the run's JSON export:
`{"run_id", "started_at", "finished_at", "version", "parameters", "results",
"thresholds", "verdict"}` with the figures under `results`. Everything but the
figures is optional, so a report is drawn from either.

Charts are PNG data inside the page (and PNG files beside it): one self-contained
file, no script, no network fetch.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.redact import REDACTED, redacted_url
from tools.loadgen.report_charts import Chart, charts
from tools.loadgen.stats import PERCENTILES, IntentRecord

# Parameters whose value is a credential: the report is shared, its secrets are not.
SECRET_WORDS = ("secret", "password", "token")
STYLE = """body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #ccc;padding:0.25em 0.6em}
th{background:#f0f0f0;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#fff;background:#2e7d32}.failed{color:#fff;background:#c62828}
.verdict{display:inline-block;padding:0.2em 0.8em;font-weight:bold;border-radius:3px}
figure{margin:1em 0 2em}figcaption{color:#555;font-size:0.9em}img{max-width:100%}"""


@dataclass(frozen=True)
class ReportInput:
    """A finished run as the report reads it."""

    records: Sequence[IntentRecord]
    summary: Mapping[str, Any]  # stats.summarize's figures: the export's `results`
    run_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    version: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # [{"expression": "overhead_p99<20ms", "metric": "overhead_p99", "observed": 12.3, "unit": "ms", "passed": true}]
    thresholds: Sequence[Mapping[str, Any]] = ()
    verdict: str | None = None  # "passed" | "failed"

    @classmethod
    def of(cls, records: Sequence[IntentRecord], figures: Mapping[str, Any]) -> ReportInput:
        """From the JSON export (figures under "results"), or from the bare figures of a run without one."""
        if "results" not in figures:
            return cls(records, figures)
        return cls(
            records, figures["results"], run_id=figures.get("run_id"), started_at=figures.get("started_at"),
            finished_at=figures.get("finished_at"), version=figures.get("version"),
            parameters=figures.get("parameters") or {}, thresholds=figures.get("thresholds") or (),
            verdict=figures.get("verdict"),
        )


def write_report(directory: Path, records: Sequence[IntentRecord], figures: Mapping[str, Any]) -> Path:
    """DIRECTORY/index.html and a PNG per chart; `figures` is the JSON export or stats.summarize's dict."""
    run = ReportInput.of(records, figures)
    directory.mkdir(parents=True, exist_ok=True)
    drawn = charts(run.records, dict(run.summary.get("outcomes", {})), run.summary.get("target_rate_per_s"))
    images = [(chart, _png(chart)) for chart in drawn]
    for chart, png in images:
        (directory / f"{chart.slug}.png").write_bytes(png)
    path = directory / "index.html"
    path.write_text(page(run, images))
    return path


def _png(chart: Chart) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(chart.figure)
    buffer = io.BytesIO()
    chart.figure.savefig(buffer, format="png")
    return buffer.getvalue()


def page(run: ReportInput, images: Sequence[tuple[Chart, bytes]]) -> str:
    title = "at-exec-sim load test" + (f" {run.run_id}" if run.run_id else "")
    sections = [_header(run), _thresholds(run.thresholds), _parameters(run.parameters), _summary(run.summary),
                _percentiles(run.summary), _outcomes(run.summary)]
    figures = "\n".join(
        f'<figure><h3>{_e(chart.title)}</h3>\n<img alt="{_e(chart.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">\n'
        f"<figcaption>{_e(chart.caption)}</figcaption></figure>"
        for chart, png in images
    )
    body = "\n".join(s for s in sections if s)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head><body>\n<h1>{_e(title)}</h1>\n{body}\n<h2>Charts</h2>\n{figures}\n"
            "</body></html>\n")


def _header(run: ReportInput) -> str:
    facts = [("version", run.version), ("started", run.started_at), ("finished", run.finished_at)]
    line = ", ".join(f"{name} {_e(str(value))}" for name, value in facts if value)
    verdict = (f'<p>Verdict: <span class="verdict {_e(run.verdict)}">{_e(run.verdict.upper())}</span></p>'
               if run.verdict else "")
    return (f"<p>{line}</p>" if line else "") + verdict


def _thresholds(thresholds: Sequence[Mapping[str, Any]]) -> str:
    if not thresholds:
        return ""
    rows = []
    for t in thresholds:
        observed = t.get("observed")
        shown = "-" if observed is None else f"{_number(observed)} {t.get('unit') or ''}".strip()
        # No observation (no answered intent, say) is not a pass: the runner says which it was.
        passed = t.get("passed")
        result = "passed" if passed is True else "failed" if passed is False else "not evaluated"
        rows.append([_e(str(t.get("expression", ""))), _e(str(t.get("metric", ""))), _num(shown),
                     f'<td class="{result.replace(" ", "-")}">{result}</td>'])
    return _table("Thresholds", ["threshold", "metric", "observed", "result"], rows)


def _parameters(parameters: Mapping[str, Any]) -> str:
    if not parameters:
        return ""
    rows = [[_e(name), _e(_parameter(name, value))] for name, value in sorted(parameters.items())]
    return _table("Run parameters", ["parameter", "value"], rows)


def _parameter(name: str, value: Any) -> str:
    if value is None or value == "":
        return "-"
    if any(word in name.lower() for word in SECRET_WORDS):
        return REDACTED
    if "url" in name.lower():
        return ", ".join(redacted_url(u.strip()) for u in str(value).split(","))
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return _number(value)


def _summary(summary: Mapping[str, Any]) -> str:
    sent = summary.get("sent", {})
    target = summary.get("target_rate_per_s")
    facts: list[tuple[str, Any]] = [
        ("target rate (intents/s)", target if target else "as fast as possible"),
        ("achieved send rate (intents/s)", summary.get("achieved_send_rate_per_s")),
        ("sending took (s)", summary.get("send_duration_s")),
        ("run took (s)", summary.get("elapsed_s")),
        ("intents sent", sent.get("total")),
        ("of which valid / invalid", f"{_number(sent.get('valid'))} / {_number(sent.get('invalid'))}"),
        ("answered", summary.get("answered")),
        ("outstanding at the end", summary.get("outstanding")),
        ("reconciles", summary.get("reconciles")),
        ("invalid intents answered with a fill", summary.get("invalid_answered_with_a_fill")),
    ]
    rows = [[_e(name), _num(_number(value))] for name, value in facts if value is not None]
    return _table("Summary", ["what", "value"], rows)


def _percentiles(summary: Mapping[str, Any]) -> str:
    latency = summary.get("latency_ms", {})
    series = [("end-to-end latency (ms)", latency.get("end_to_end")),
              ("overhead: latency minus simulated delay (ms)", latency.get("without_simulated_delay")),
              ("send lag behind schedule (ms)", summary.get("send_lag_ms")),
              ("slippage vs mid, market and stop (bps)", summary.get("slippage_bps"))]
    names = [name for name, _ in PERCENTILES] + ["max", "mean"]
    rows = [[_e(label), *(_num(_number(figures.get(n))) for n in names)] for label, figures in series if figures]
    return _table("Percentiles", ["", *names], rows)


def _outcomes(summary: Mapping[str, Any]) -> str:
    """What became of the valid intents, the invalid ones sent, and the orders that did not fill in full."""
    tables = []
    for title, key, column in (("Outcomes", "outcomes", "outcome of a valid intent"),
                               ("Invalid intents sent", "rejections_sent_by_type", "made invalid by"),
                               ("Order updates", "order_updates_by_reason", "reason")):
        counts: Mapping[str, int] = summary.get(key) or {}
        total = sum(counts.values())
        rows = [[_e(name), _num(_number(count)), _num(f"{100 * count / total:.1f}%")]
                for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
        if rows:
            tables.append(_table(title, [column, "intents", "share"], rows))
    return "\n".join(tables)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Cells are HTML already (escaped text, or a <td> of their own)."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "\n".join(
        "<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<h2>{_e(title)}</h2>\n<table><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def _number(value: Any) -> str:
    """Thousands separated; one decimal from 100 up, else at most three (the figures' own rounding)."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.3f}".rstrip("0").rstrip(".")


def _num(text: str) -> str:
    return f'<td class="n">{_e(text)}</td>'


def _e(text: str) -> str:
    return html.escape(text, quote=True)
