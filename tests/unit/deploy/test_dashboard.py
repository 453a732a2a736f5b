"""The Grafana dashboard imports into any Grafana and charts only what the service exposes.

Checks deploy/grafana/dashboards/at-exec-sim.json as a file (no Grafana runs): a datasource
variable and `__inputs` instead of a hard-coded datasource uid, an instance variable every query
filters on, `$__rate_interval` instead of fixed rate windows (a fixed [1m] shows a 500/s burst as
53/s), and panels for the metrics an operator acts on.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.deploy.promql import ROOT, unknown_metrics

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "at-exec-sim.json"
FIXED_WINDOW = re.compile(r"\[\d+[smhdw]\]")


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _targets() -> list[dict]:
    return [t for panel in _dashboard()["panels"] for t in panel.get("targets", [])]


def _datasources(dashboard: dict) -> list[dict]:
    panels = dashboard["panels"]
    found = [p["datasource"] for p in panels if "datasource" in p]
    found += [t["datasource"] for p in panels for t in p.get("targets", []) if "datasource" in t]
    found += [v["datasource"] for v in dashboard["templating"]["list"] if "datasource" in v]
    return found


def test_the_datasource_is_an_import_input_and_a_variable():
    dashboard = _dashboard()
    assert [i["pluginId"] for i in dashboard["__inputs"] if i["type"] == "datasource"] == ["prometheus"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["includeAll"] and variables["instance"]["multi"]
    assert {d["uid"] for d in _datasources(dashboard)} == {"${datasource}"}


@pytest.mark.parametrize("target", _targets(), ids=lambda t: t["expr"][:60])
def test_every_query_names_exposed_metrics_with_no_fixed_window(target):
    expr = target["expr"]
    assert not unknown_metrics(expr), f"not in common/metrics.py: {unknown_metrics(expr)}"
    assert not FIXED_WINDOW.findall(expr), f"fixed window in {expr}: use $__rate_interval"
    assert 'instance=~"$instance"' in expr


@pytest.mark.parametrize("metric", [
    "exec_sim_intake_duration_seconds_bucket", "exec_sim_events_deduplicated_total",
    "exec_sim_room_exhausted", "exec_sim_long_orders", "exec_sim_intents_over_share",
    "exec_sim_nats_connected", "exec_sim_workers_alive", "exec_sim_pending_events",
    "exec_sim_consumer_backlog", "exec_sim_nats_publish_errors_total",
    "exec_sim_market_data_received_total", "exec_sim_market_data_rejected_total",
    "exec_sim_market_data_age_seconds", "exec_sim_intents_awaiting_market_data",
    "exec_sim_market_data_missing_total",
])
def test_an_operator_sees_the_metric(metric):
    assert any(metric in t["expr"] for t in _targets())


def test_panel_ids_are_unique():
    ids = [p["id"] for p in _dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def test_market_data_has_a_row_of_its_own():
    """The bus's panels sit under a "Market data" row: received and rejected as rates by label, the age
    per asset class, the intents waiting; each panel below the row and above any later row."""
    panels = sorted(_dashboard()["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    rows = [p for p in panels if p["type"] == "row"]
    market = next(r for r in rows if r["title"].startswith("Market data"))
    assert not market["collapsed"]  # collapsed, its panels would move inside it and out of the checks above
    start = market["gridPos"]["y"]
    end = min((r["gridPos"]["y"] for r in rows if r["gridPos"]["y"] > start), default=10**6)
    under = " ".join(t["expr"] for p in panels if start < p["gridPos"]["y"] < end for t in p.get("targets", []))
    assert "sum by (source) (rate(exec_sim_market_data_received_total" in under
    assert "sum by (type) (rate(exec_sim_market_data_rejected_total" in under
    assert "by (asset_class) (exec_sim_market_data_age_seconds" in under
    assert "exec_sim_intents_awaiting_market_data" in under


def test_panels_do_not_overlap():
    taken: set[tuple[int, int]] = set()
    for panel in _dashboard()["panels"]:
        g = panel["gridPos"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells
