"""The load report drawn from a synthetic run: the charts' structure and the page's tables, not pixels."""

from __future__ import annotations

import random
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("matplotlib")

from tools.loadgen.report import ReportInput, write_report  # noqa: E402
from tools.loadgen.report_charts import charts  # noqa: E402
from tools.loadgen.stats import IntentRecord, percentiles, summarize  # noqa: E402

RATE = 200.0
STALL_S = (6.0, 7.0)  # the service stalls 400 ms for intents sent in this second


def synthetic_run(count: int = 3000) -> list[IntentRecord]:
    """An open-loop run at RATE: 1 in 50 intents invalid, a few unanswered, a stall in STALL_S."""
    rng = random.Random(7)
    records = []
    for i in range(count):
        due = i / RATE
        record = IntentRecord(f"lg-{i:07d}", "market", None if i % 50 else "schema", due, sent_s=due + 0.001)
        if record.valid and i % 300 != 7:
            delay = rng.randint(100, 2000)
            overhead = rng.lognormvariate(1.0, 0.5) + (400.0 if STALL_S[0] <= due < STALL_S[1] else 0.0)
            record.final_s = due + (delay + overhead) / 1000
            record.simulated_delay_ms = delay
            record.statuses = ["partial", "full"] if i % 10 == 0 else ["full"]
            record.reconciles = len(record.statuses)
            record.slippage_bps = [rng.gauss(0.8, 0.5)]
        records.append(record)
    return records


def summary_of(records: list[IntentRecord]) -> dict:
    return summarize(records, SimpleNamespace(rate_per_s=RATE), elapsed_s=17.0, send_s=15.0)


def export_of(records: list[IntentRecord]) -> dict:
    """The loadgen's JSON export: the figures under "results", with parameters and thresholds."""
    summary = summary_of(records)
    return {
        "run_id": "lg-nightly-42", "started_at": "2026-12-04T10:00:00Z", "finished_at": "2026-12-04T10:00:17Z",
        "version": "0.1.0",
        "parameters": {"rate": RATE, "count": 3000, "mix": {"market": 4, "limit": 3}, "sides": ["buy", "sell"],
                       "hmac_secret": "do-not-print-me", "url": "nats://agent:hunter2@nats:4222", "seed": 1},
        "results": summary,
        "thresholds": [
            {"expression": "overhead_p99<20ms", "metric": "overhead_p99",
             "observed": summary["latency_ms"]["without_simulated_delay"]["p99"], "unit": "ms", "passed": False},
            {"expression": "outstanding==0", "metric": "outstanding", "observed": 10, "unit": "", "passed": True},
            {"expression": "slippage_p99<5bps", "metric": "slippage_p99", "observed": None, "unit": "bps",
             "passed": None},
        ],
        "verdict": "failed",
    }


@pytest.fixture(scope="module")
def drawn() -> dict:
    records = synthetic_run()
    summary = summary_of(records)
    return {chart.slug: chart.figure.axes[0] for chart in charts(records, summary["outcomes"], RATE)}


def test_the_tails_are_on_log_axes(drawn):
    assert drawn["latency-histogram"].get_xscale() == "log"
    assert drawn["overhead-histogram"].get_xscale() == "log"
    assert drawn["latency-over-time"].get_yscale() == "log"
    assert drawn["slippage-histogram"].get_yscale() == "log"


def test_histograms_carry_the_runs_percentiles_as_lines():
    records = synthetic_run()
    latency = [r.latency_ms for r in records if r.valid and r.latency_ms is not None]
    expected = percentiles(latency)
    ax = {c.slug: c.figure.axes[0] for c in charts(records, {}, RATE)}["latency-histogram"]
    lines = {line.get_label().split()[0]: line.get_xdata()[0] for line in ax.get_lines()}
    assert set(lines) == {"p50", "p90", "p99", "p99.9"}
    for name, x in lines.items():
        assert x == pytest.approx(expected[name])
    # Log-spaced bins: equal ratios, not equal widths.
    edges = sorted({patch.get_x() for patch in ax.patches})
    assert edges[2] / edges[1] == pytest.approx(edges[11] / edges[10])


def test_throughput_over_time_shows_the_rate_sent_and_answered(drawn):
    ax = drawn["throughput-over-time"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"sent", "answered (final fill)", "target 200/s"}
    sent = lines["sent"].get_ydata()
    assert min(sent[1:-2]) == pytest.approx(RATE) and max(sent) == pytest.approx(RATE)
    assert sum(lines["answered (final fill)"].get_ydata()[:-1]) > 0


def test_overhead_over_time_shows_when_the_service_stalled(drawn):
    ax = drawn["latency-over-time"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"end-to-end p50", "end-to-end p99", "overhead p50", "overhead p99"} <= set(lines)
    overhead = lines["overhead p50"]
    stalled = [y for x, y in zip(overhead.get_xdata(), overhead.get_ydata(), strict=True) if STALL_S[0] < x < STALL_S[1]]
    calm = [y for x, y in zip(overhead.get_xdata(), overhead.get_ydata(), strict=True) if x < STALL_S[0] - 1]
    assert stalled and calm and min(stalled) > 100 > max(calm)


def test_outcome_bars_are_horizontal_and_labelled_with_their_counts(drawn):
    ax = drawn["outcomes"]
    names = [label.get_text() for label in ax.get_yticklabels()]
    assert set(names) == {"filled in full", "partial rest filled", "unanswered"}  # on the y axis: no overlap
    counts = {t.get_text() for t in ax.texts}
    summary = summary_of(synthetic_run())
    assert counts == {f"{n:,}" for n in summary["outcomes"].values()}


class Tables(HTMLParser):
    """Each <table> of the page under its <h2> title, as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images = 0
        self._heading: str | None = None
        self._title = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._heading = ""
        elif tag == "table":
            self.tables[self._title] = []
        elif tag == "tr":
            self.tables[self._title].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images += 1

    def handle_endtag(self, tag):
        if tag == "h2" and self._heading is not None:
            self._title, self._heading = self._heading, None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._title][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        elif self._cell is not None:
            self._cell.append(data)


def parsed(page: str) -> Tables:
    tables = Tables()
    tables.feed(page)
    return tables


def test_the_page_has_the_verdict_thresholds_and_parameters_as_tables(tmp_path: Path):
    records = synthetic_run()
    export = export_of(records)
    page = write_report(tmp_path, records, export).read_text()
    tables = parsed(page).tables

    assert '<span class="verdict failed">FAILED</span>' in page
    thresholds = {row[0]: row for row in tables["Thresholds"][1:]}
    overhead_p99 = export["results"]["latency_ms"]["without_simulated_delay"]["p99"]
    assert thresholds["overhead_p99<20ms"] == ["overhead_p99<20ms", "overhead_p99", f"{overhead_p99:,.1f} ms", "failed"]
    assert thresholds["outstanding==0"][3] == "passed"
    assert thresholds["slippage_p99<5bps"][2:] == ["-", "not evaluated"]

    parameters = dict(tables["Run parameters"][1:])
    assert set(parameters) == set(export["parameters"])
    assert parameters["rate"] == "200" and parameters["mix"] == "market=4, limit=3"
    assert parameters["sides"] == "buy, sell" and parameters["seed"] == "1" and parameters["count"] == "3,000"
    assert parameters["hmac_secret"] == "***" and parameters["url"] == "nats://***@nats:4222"
    assert "do-not-print-me" not in page and "hunter2" not in page


def test_the_figures_are_tables_not_an_escaped_json_blob(tmp_path: Path):
    records = synthetic_run()
    page = write_report(tmp_path, records, summary_of(records)).read_text()
    tables = parsed(page)
    assert "<pre" not in page and "&quot;" not in page and '{"' not in page
    percentile_rows = {row[0]: row[1:] for row in tables.tables["Percentiles"]}
    assert percentile_rows[""] == ["p50", "p90", "p99", "p99.9", "max", "mean"]
    assert "overhead: latency minus simulated delay (ms)" in percentile_rows
    summary = dict(row for row in tables.tables["Summary"][1:])
    assert summary["intents sent"] == "3,000" and summary["outstanding at the end"] == "10"
    # Today's runs carry no verdict: no empty tables for it.
    assert "Thresholds" not in tables.tables and "Run parameters" not in tables.tables and "Verdict" not in page
    assert tables.images == 6
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{slug}.png" for slug in ("throughput-over-time", "latency-over-time", "latency-histogram",
                                   "overhead-histogram", "outcomes", "slippage-histogram"))


def test_a_run_with_no_answer_still_gives_a_page(tmp_path: Path):
    records = [IntentRecord(f"lg-{i}", "market", None, i / 10, sent_s=i / 10) for i in range(20)]
    page = write_report(tmp_path, records, summary_of(records)).read_text()
    assert parsed(page).images == 6
    assert ReportInput.of(records, summary_of(records)).verdict is None
