"""`--report DIR`: an HTML page with the run's charts, readable offline.

Runs in the loadgen process after the run. Charts are drawn with matplotlib
(Agg backend, no display) and embedded in the page as PNG data, so the page is
one self-contained file with no script or network fetch.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import orjson

from tools.loadgen.stats import IntentRecord


def write_report(directory: Path, records: list[IntentRecord], summary: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    answered = [r for r in records if r.valid and r.answered and r.latency_ms is not None]

    def latency_over_time(ax: Any) -> None:
        ax.scatter([r.due_s for r in answered], [r.latency_ms for r in answered], s=4, alpha=0.5)
        ax.set_xlabel("scheduled send time (s)")
        ax.set_ylabel("end-to-end latency (ms)")

    def latency_histogram(ax: Any) -> None:
        ax.hist([r.latency_ms for r in answered], bins=50)
        ax.set_xlabel("end-to-end latency (ms)")
        ax.set_ylabel("intents")

    def status_mix(ax: Any) -> None:
        outcomes = summary["outcomes"]
        names = sorted(outcomes)
        ax.bar(names, [outcomes[n] for n in names])
        ax.tick_params(axis="x", labelrotation=15)
        ax.set_ylabel("intents")

    def slippage_histogram(ax: Any) -> None:
        ax.hist([bps for r in answered for bps in r.slippage_bps], bins=40)
        ax.set_xlabel("slippage vs mid of market and stop orders (bps, positive = worse for the trader)")
        ax.set_ylabel("fills")

    charts = [_chart(plt, directory, "Latency over time", latency_over_time),
              _chart(plt, directory, "Latency histogram", latency_histogram),
              _chart(plt, directory, "Fill status mix", status_mix),
              _chart(plt, directory, "Slippage histogram", slippage_histogram)]

    page = _page(charts, summary)
    path = directory / "index.html"
    path.write_text(page)
    return path


def _chart(plt: Any, directory: Path, title: str, draw: Any) -> tuple[str, str]:
    """One chart drawn by `draw`, saved as DIRECTORY/<title>.png: (title, the PNG in base64)."""
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    draw(ax)
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    name = title.lower().replace(" ", "-").replace(",", "")
    (directory / f"{name}.png").write_bytes(buffer.getvalue())
    return title, base64.b64encode(buffer.getvalue()).decode()


def _page(charts: list[tuple[str, str]], summary: dict[str, Any]) -> str:
    """The report's one HTML page: the charts inline, then the summary's figures."""
    images = "\n".join(
        f'<h2>{html.escape(title)}</h2>\n<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        for title, data in charts
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>at-exec-sim load test</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}pre{{background:#f4f4f4;padding:1em}}</style>
</head><body>
<h1>at-exec-sim load test</h1>
<p>{summary['sent']['total']:,} intents sent, {summary['answered']:,} answered, {summary['outstanding']:,} outstanding.</p>
{images}
<h2>Figures</h2>
<pre>{html.escape(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())}</pre>
</body></html>
"""
