"""/metrics and /healthz of the running service, checked by real Prometheus tools; the dashboard's queries."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.instruments import ASSET_CLASSES
from common.market_messages import REJECTED_TYPES as MARKET_DATA_REJECTED_TYPES
from common.metrics import FILL_TYPES, KEYRING_RELOAD_RESULTS, MARKET_DATA_SOURCES, ORDER_UPDATE_STATUSES
from tools import sample_intents as si
from tools.embedded_nats import EmbeddedNats, free_port

from .conftest import publish_intents, read_outputs, run_async

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {
    "exec_sim_orders_received_total": {"status"},
    "exec_sim_fills_generated_total": {"fill_type"},
    "exec_sim_validation_errors_total": {"type"},
}


def prometheus_binary(name: str) -> str:
    """promtool / prometheus from the Debian `prometheus` package (.ci/run installs it)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing: .ci/run must install the Debian package 'prometheus'")
        pytest.skip(f"{name} not installed (apt-get install prometheus)")
    return path


def samples(metrics_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_have_the_contract_names_and_pass_promtool(topology, start_service, tmp_path):
    service = start_service()
    service.wait_http("/healthz")
    status, body = service.get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name, labels in REQUIRED.items():
        family = families[name.removesuffix("_total")]
        assert family.type == "counter"
        assert {key for s in family.samples for key in s.labels} == labels, name
    assert families["exec_sim_simulation_duration_seconds"].type == "histogram"
    statuses = {s.labels["status"] for s in families["exec_sim_orders_received"].samples}
    assert statuses == {"accepted", "invalid", "duplicate", "refused"}

    result = subprocess.run([prometheus_binary("promtool"), "check", "metrics"], input=body,
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert service.stop() == 0


def test_optional_parts_counters_exist_at_zero_in_a_default_run(topology, start_service):
    """No keyring and the synthetic market: their counters are still there, at zero, for rate() and alerts."""
    service = start_service()
    service.wait_http("/healthz")
    _, body = service.get("/metrics")
    values = samples(body.decode())
    expected = ([("exec_sim_keyring_reloads_total", "result", r) for r in KEYRING_RELOAD_RESULTS]
                + [("exec_sim_market_data_rejected_total", "type", t) for t in MARKET_DATA_REJECTED_TYPES]
                + [("exec_sim_market_data_received_total", "source", s) for s in MARKET_DATA_SOURCES]
                + [("exec_sim_market_data_missing_total", "asset_class", c) for c in ASSET_CLASSES])
    for name, label, label_value in expected:
        assert values.get((name, ((label, label_value),))) == 0.0, (name, label_value)
    assert service.stop() == 0


def test_counters_equal_a_known_mixed_workload(nats_server, topology, start_service):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0.3", SIMULATION_SEED="mixed")
    valid = list(si.mixed(120, prefix="mix"))
    invalid = si.invalid_samples()
    payloads = [si.encode(b) for b in valid] + [p for _, p in invalid] + [si.encode(valid[0]), si.encode(valid[1])]
    run_async(publish_intents(nats_server.url, topology.intent_subject, payloads))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2 * len(valid)), timeout_s=60)
    fills = Counter(orjson.loads(m.data)["fill_status"] for m in msgs if m.subject == topology.fill_subject)
    reconciles = sum(1 for m in msgs if m.subject == topology.reconcile_subject)
    assert {orjson.loads(m.data)["corr_id"] for m in msgs if m.subject == topology.fill_subject} == {
        b["corr_id"] for b in valid}

    service.metric("exec_sim_reconciles_generated_total", expect=reconciles)
    text = service.get("/metrics")[1]
    values = samples(text.decode())
    checked = subprocess.run([prometheus_binary("promtool"), "check", "metrics"], input=text, capture_output=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stderr.decode()
    assert value(values, "exec_sim_orders_received_total", status="accepted") == len(valid)
    assert value(values, "exec_sim_orders_received_total", status="invalid") == len(invalid)
    assert value(values, "exec_sim_orders_received_total", status="duplicate") == 2
    consumed = sum(value(values, "exec_sim_orders_received_total", status=s)
                   for s in ("accepted", "invalid", "duplicate", "refused"))
    assert consumed == len(payloads)
    for kind, count in Counter(kind for kind, _ in invalid).items():
        assert value(values, "exec_sim_validation_errors_total", type=kind) == count, kind
    assert value(values, "exec_sim_validation_errors_total", type="duplicate") == 2
    for fill_type in ("full", "partial", "cancelled"):
        assert value(values, "exec_sim_fills_generated_total", fill_type=fill_type) == fills[fill_type], fill_type
    assert fills["partial"] > 0 and fills["cancelled"] > 0
    assert value(values, "exec_sim_reconciles_generated_total") == reconciles == sum(fills.values())
    assert value(values, "exec_sim_simulation_duration_seconds_count") == len(valid)
    assert value(values, "exec_sim_intake_duration_seconds_count") == len(valid)
    # Stored to simulated, on one machine: positive, and far below the test's own time.
    assert 0 < value(values, "exec_sim_intake_duration_seconds_sum") / len(valid) < 5
    # Each published event once, its lateness counted from when it could go out: well under a second here.
    published = sum(value(values, "exec_sim_fills_generated_total", fill_type=t) for t in FILL_TYPES) + reconciles + sum(
        value(values, "exec_sim_order_updates_generated_total", status=s) for s in ORDER_UPDATE_STATUSES)
    assert value(values, "exec_sim_release_lateness_seconds_count") == published
    assert value(values, "exec_sim_release_lateness_seconds_sum") / published < 0.5
    assert service.stop() == 0


def test_logs_are_json_lines_with_trading_fields(nats_server, topology, start_service):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    run_async(publish_intents(nats_server.url, topology.intent_subject,
                              [si.encode(si.intent("log-1", "limit", "sell", "AAPL")), b"[]"]))
    run_async(read_outputs(nats_server.url, topology, expected=2))
    assert service.stop() == 0
    raw_lines = [line for line in service.log().splitlines() if line.strip()]
    lines = [json.loads(line) for line in raw_lines]  # every line is one JSON object
    assert all({"level", "time", "message"} <= line.keys() for line in lines)
    executed = [line for line in lines if line.get("corr_id") == "log-1"]
    assert executed and executed[0]["instrument"] == "AAPL" and executed[0]["order_type"] == "limit"
    assert executed[0]["fill_status"] == "full" and isinstance(executed[0]["simulation_delay_ms"], int)
    rejected = [line for line in lines if line.get("rejection_type") == "not_object"]
    assert len(rejected) == 1 and rejected[0]["level"] == "WARNING" and rejected[0]["error_code"] == "EXEC-001"


def test_log_level_is_respected(nats_server, topology, start_service):
    service = start_service(LOG_LEVEL="WARNING")
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(si.intent("quiet-1")), b"{"]))
    run_async(read_outputs(nats_server.url, topology, expected=2))
    assert service.stop() == 0
    levels = {json.loads(line)["level"] for line in service.log().splitlines() if line.strip()}
    assert levels and levels <= {"WARNING", "ERROR", "CRITICAL"}


def test_healthz_follows_nats_within_two_seconds(tmp_path, start_service):
    own = EmbeddedNats(tmp_path / "own-js")
    own.start()
    try:
        service = start_service(NATS_URL=own.url, WORKERS="2")
        body = json.loads(service.wait_http("/healthz", 200))
        assert body["status"] == "ok" and body["nats"] == "connected" and body["workers"] == 2
        assert body["ok"] is True and body["processor_status"] == "active" and body["uptime_s"] > 0

        own.kill()
        killed_at = time.monotonic()
        body = json.loads(service.wait_http("/healthz", 503, timeout_s=5))
        assert time.monotonic() - killed_at < 2.0
        assert body["nats"] == "disconnected" and body["ok"] is False

        own.start()  # same port, same store
        restarted_at = time.monotonic()
        body = json.loads(service.wait_http("/healthz", 200, timeout_s=15))
        assert body["nats"] == "connected"
        assert time.monotonic() - restarted_at < 10
        assert service.stop() == 0
    finally:
        own.stop()


def test_prometheus_scrapes_the_fill_count(nats_server, topology, start_service, tmp_path):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: at-exec-sim\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{service.port}']\n"
    )
    prometheus = subprocess.Popen(
        [prometheus_binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"), stdin=subprocess.DEVNULL,
    )
    try:
        count = 25
        run_async(publish_intents(nats_server.url, topology.intent_subject,
                                  [si.encode(si.intent(f"prom-{n}")) for n in range(count)]))
        run_async(read_outputs(nats_server.url, topology, expected=2 * count))
        query = urllib.parse.urlencode({"query": 'sum(exec_sim_fills_generated_total{fill_type="full"})'})
        deadline, seen = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/query?{query}", timeout=2) as r:
                    result = json.loads(r.read())["data"]["result"]
                seen = float(result[0]["value"][1]) if result else None
                if seen == count:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert seen == count, (seen, (tmp_path / "prometheus.log").read_text()[-2000:])
    finally:
        prometheus.terminate()
        prometheus.wait(20)
    assert service.stop() == 0


def dashboard_metric_names() -> set[str]:
    names = set()
    for path in (REPO / "deploy" / "grafana" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                names |= set(re.findall(r"\bexec_sim_[a-z_]+", target["expr"]))
    return names


def test_every_dashboard_query_names_an_exposed_metric(topology, start_service):
    names = dashboard_metric_names()
    assert len(names) >= 8
    service = start_service()
    service.wait_http("/healthz")
    exposed = {key[0] for key in samples(service.get("/metrics")[1].decode())}
    # The market data's age has a series per asset class only once a record of that class is read
    # (an age of 0 before any would say the data is fresh): defined, not yet exposed.
    later = {"exec_sim_market_data_age_seconds"}
    assert all(name in (Path(__file__).resolve().parents[2] / "common" / "metrics.py").read_text() for name in later)
    missing = names - exposed - later
    assert not missing, f"dashboard queries metrics the service does not expose: {sorted(missing)}"
    assert service.stop() == 0


def test_consumer_backlog_gauge_shows_what_waits_in_the_stream(nats_server, topology, start_service):
    service = start_service(RATE_LIMIT_RPS="20", BATCH_SIZE="10")
    run_async(publish_intents(nats_server.url, topology.intent_subject,
                              [si.encode(si.intent(f"bl-{n}")) for n in range(300)]))
    deadline, backlog = time.monotonic() + 12, 0.0
    while time.monotonic() < deadline and backlog == 0:
        time.sleep(0.5)
        backlog = service.metric("exec_sim_consumer_backlog")
    # Checked every 5 s while the limit holds most of the 300 in the stream.
    assert 100 < backlog < 300
    assert service.stop() == 0
