"""deploy/alerts.yml: the rules parse, name only exposed metrics, and fire when they should.

`promtool check rules` and `promtool test rules deploy/alerts.test.yml` (promtool from the Debian
`prometheus` package, as in tests/integration/test_observability.py); the metric-name check runs
without it. deploy/prometheus.yml must load the rules file.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.unit.deploy.promql import PROMETHEUS_OWN, ROOT, unknown_metrics

RULES = ROOT / "deploy" / "alerts.yml"
NEEDED = {
    "ExecSimDown", "ExecSimHeartbeatStale", "ExecSimNatsDisconnected", "ExecSimWorkersMissing",
    "ExecSimWorkerRestarts", "ExecSimLongOrderRoomExhausted", "ExecSimPendingEventsAtBound",
    "ExecSimPublishErrors", "ExecSimBacklogGrowing", "ExecSimMarketDataStale", "ExecSimMarketDataAbsent",
}


def _rules() -> list[dict]:
    return [r for group in yaml.safe_load(RULES.read_text())["groups"] for r in group["rules"]]


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: .ci/run must install the Debian package 'prometheus'")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def test_the_on_call_alerts_exist_with_a_severity_and_summary():
    rules = {r["alert"]: r for r in _rules()}
    assert NEEDED <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["annotations"]["summary"], name


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r["alert"])
def test_every_expression_names_exposed_metrics(rule):
    assert not unknown_metrics(rule["expr"]), unknown_metrics(rule["expr"])
    assert "exec_sim_" in rule["expr"] or any(own in rule["expr"] for own in PROMETHEUS_OWN)


def test_prometheus_loads_the_rules():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]


@pytest.mark.parametrize("command", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"],
                                     ["check", "config", "prometheus.yml"]], ids=" ".join)
def test_promtool_accepts_the_rules(command):
    result = subprocess.run([_promtool(), *command], cwd=ROOT / "deploy", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stale_market_data_alerts_at_the_default_maximum_age():
    """ExecSimMarketDataStale's threshold is MARKET_DATA_MAX_AGE_MS's default: past it, orders are
    no_market_data; the alert waits minutes, so a gap between two quotes never fires it."""
    import re

    from common.config import load_settings

    rule = {r["alert"]: r for r in _rules()}["ExecSimMarketDataStale"]
    age = re.search(r"exec_sim_market_data_age_seconds > (\d+(?:\.\d+)?)", rule["expr"])
    assert age, rule["expr"]
    assert float(age.group(1)) == load_settings({}).market_data_max_age_ms / 1000
    # ... and only while orders of the class are refused for it: a closed venue's old data is no fault.
    assert "exec_sim_market_data_missing_total" in rule["expr"]
    assert rule["for"].endswith("m")
