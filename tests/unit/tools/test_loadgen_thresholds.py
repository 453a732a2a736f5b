"""k6-style thresholds and the --baseline comparison, on a run's results."""

from __future__ import annotations

import orjson
import pytest

from tools.loadgen.baseline import baseline_results, compare, load_baseline
from tools.loadgen.metrics import METRICS, metric_value
from tools.loadgen.thresholds import DEFAULT_THRESHOLDS, evaluate, parse_threshold, verdict


def results(**changes) -> dict:
    base = {
        "sent": {"total": 1000, "valid": 1000, "invalid": 0},
        "answered": 999, "answered_pct": 99.9, "outstanding": 1, "invalid_answered_with_a_fill": 0,
        "achieved_send_rate_per_s": 480.0, "faults": {"latency_spike": 3, "duplicate_fill": 2}, "duplicate_fills": 2,
        "latency_ms": {"end_to_end": {"p50": 900.0, "p99": 2100.0, "max": 2500.0},
                       "without_simulated_delay": {"p50": 3.0, "p99": 12.3, "p99.9": 15.0, "max": 19.0}},
        "send_lag_ms": {"p99": 1.5}, "slippage_bps": {"p99": 1.9}, "service_rejections": None,
    }
    return base | changes


def test_the_issues_examples_parse_with_their_units():
    t = parse_threshold("overhead_p99<20ms")
    assert (t.metric, t.op, t.value, t.unit) == ("overhead_p99", "<", 20.0, "ms")
    t = parse_threshold("answered>=99.9%")
    assert (t.metric, t.op, t.value, t.unit) == ("answered", ">=", 99.9, "%")
    assert parse_threshold("latency_p99 <= 2s").value == 2000.0  # seconds become the metric's ms
    assert parse_threshold("unanswered==0").unit == ""
    assert parse_threshold("overhead_p99<1.5x").relative


@pytest.mark.parametrize(("text", "message"), [
    ("overhead_p99", "METRIC OP VALUE"), ("overhead_p98<20ms", "unknown metric"),
    ("answered>=99.9ms", "in %"), ("overhead_p99<20", "in ms"), ("unanswered<5%", "plain count"),
    ("overhead_p99<20 parsecs", "METRIC OP VALUE"), ("overhead_p99=20ms", "METRIC OP VALUE"),
])
def test_bad_thresholds_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_threshold(text)


def test_evaluation_gives_the_jsons_rows_and_the_verdict():
    rows = evaluate([parse_threshold("overhead_p99<20ms"), parse_threshold("answered>=99.95%")], results())
    assert rows == [
        {"expression": "overhead_p99<20ms", "metric": "overhead_p99", "observed": 12.3, "unit": "ms", "passed": True},
        {"expression": "answered>=99.95%", "metric": "answered", "observed": 99.9, "unit": "%", "passed": False},
    ]
    assert verdict(rows) == "failed" and verdict(rows[:1]) == "passed"


def test_each_operator_and_the_boundaries():
    observed = results()  # overhead_p99 12.3
    for expression, passed in (("overhead_p99<12.3ms", False), ("overhead_p99<=12.3ms", True),
                               ("overhead_p99>12.3ms", False), ("overhead_p99>=12.3ms", True),
                               ("overhead_p99==12.3ms", True), ("faults>4", True), ("faults<5", False)):
        assert evaluate([parse_threshold(expression)], observed)[0]["passed"] is passed, expression


def test_a_metric_without_a_value_fails_its_threshold():
    rows = evaluate([parse_threshold("overhead_p99<20ms")],
                    results(latency_ms={"end_to_end": {}, "without_simulated_delay": {"p99": None}}))
    assert rows[0]["observed"] is None and rows[0]["passed"] is False


def test_the_default_thresholds_fail_a_run_with_an_unanswered_intent():
    defaults = [parse_threshold(t) for t in DEFAULT_THRESHOLDS]
    assert verdict(evaluate(defaults, results())) == "failed"
    assert verdict(evaluate(defaults, results(answered_pct=100.0, outstanding=0))) == "passed"
    assert verdict(evaluate(defaults, results(answered_pct=100.0, invalid_answered_with_a_fill=1))) == "failed"


def test_relative_thresholds_compare_with_the_baseline():
    before = results(latency_ms={"end_to_end": {}, "without_simulated_delay": {"p99": 10.0}})
    rows = evaluate([parse_threshold("overhead_p99<1.2x"), parse_threshold("overhead_p99<1.3x")], results(), before)
    assert [r["observed"] for r in rows] == [1.23, 1.23] and [r["passed"] for r in rows] == [False, True]
    assert rows[0]["baseline"] == 10.0 and rows[0]["observed_value"] == 12.3
    assert evaluate([parse_threshold("overhead_p99<1.2x")], results())[0]["passed"] is False  # no baseline


def test_an_empty_run_has_counts_but_no_latency_or_share():
    from tools.loadgen.plan import LoadOptions
    from tools.loadgen.stats import summarize

    summary = summarize([], LoadOptions(run_id="x"), 1.0, 1.0)
    values = {name: metric_value(name, summary) for name in METRICS}
    assert values["overhead_p99"] is None and values["answered"] is None and values["quote_rate"] is None
    assert values["unanswered"] == 0 and values["faults"] == 0 and values["send_rate"] == 0
    assert metric_value("faults", results()) == 5.0


def test_baseline_comparison_rows(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(orjson.dumps({"run_id": "lg-1", "results": results(
        latency_ms={"end_to_end": {"p50": 1000.0}, "without_simulated_delay": {"p99": 10.0}},
        achieved_send_rate_per_s=400.0)}))
    rows = {r["metric"]: r for r in compare(baseline_results(load_baseline(path)), results())}
    assert rows["overhead_p99"] == {"metric": "overhead_p99", "unit": "ms", "baseline": 10.0, "this_run": 12.3,
                                    "ratio": 1.23, "change": "worse"}
    assert rows["latency_p50"]["change"] == "better" and rows["send_rate"]["change"] == "better"
    assert rows["send_rate"]["ratio"] == 1.2
    assert rows["unanswered"]["change"] == "same" and rows["unanswered"]["ratio"] == 1.0
    assert "latency_p90" not in rows  # neither run has it


def test_a_baseline_from_before_results_existed_is_read(tmp_path):
    path = tmp_path / "old.json"
    path.write_bytes(orjson.dumps(results()))
    assert baseline_results(load_baseline(path))["answered"] == 999


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'{"results": 5}', b'{"run_id": "x"}'])
def test_a_file_that_is_not_a_run_is_refused(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="--baseline"):
        load_baseline(path)
