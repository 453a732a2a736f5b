"""`at-exec-sim loadgen` against the running service on a real nats-server."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import nats
import orjson
import pytest
from jsonschema import Draft202012Validator

from common.contracts import MARKET_QUOTE, load_schema
from tests.integration.conftest import Topology, run_async, stored_messages

pytestmark = pytest.mark.integration

LOADGEN = [str(Path(sys.executable).parent / "at-exec-sim"), "loadgen"]


def test_small_run_answers_everything_and_its_figures_add_up(topology, start_service, tmp_path):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0.2")
    count, invalid_share = 400, 0.1
    result = subprocess.run(
        [*LOADGEN, "--count", str(count), "--rate", "400", "--invalid-share", str(invalid_share), "--seed", "9",
         "--quiet", "--json", str(tmp_path / "run.json"), "--report", str(tmp_path / "report"),
         "--threshold", "answered>=100%", "--threshold", "invalid_filled==0"],
        env=service.env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["verdict"] == "passed" and [t["passed"] for t in run["thresholds"]] == [True, True]
    assert run["parameters"]["count"] == count and run["parameters"]["seed"] == 9
    assert run["run_id"].startswith("lg-") and run["version"] and run["started_at"] < run["finished_at"]
    figures = run["results"]
    sent = figures["sent"]
    assert sent["total"] == count and sent["valid"] + sent["invalid"] == count
    assert figures["answered"] == sent["valid"] and figures["outstanding"] == 0
    assert sum(figures["rejections_sent_by_type"].values()) == sent["invalid"] > 0
    assert figures["invalid_answered_with_a_fill"] == 0
    assert sum(figures["outcomes"].values()) == sent["valid"]
    # The service saw exactly what the generator says it sent.
    assert service.metric("exec_sim_orders_received_total", {"status": "accepted"}, expect=sent["valid"]) == sent["valid"]
    assert service.metric("exec_sim_orders_received_total", {"status": "invalid"}, expect=sent["invalid"]) == sent["invalid"]
    for kind, n in figures["rejections_sent_by_type"].items():
        assert service.metric("exec_sim_validation_errors_total", {"type": kind}, expect=n) == n, kind
    fills = figures["fill_events_by_status"]
    for fill_type in ("full", "partial", "cancelled"):
        expect = fills.get(fill_type, 0)
        assert service.metric("exec_sim_fills_generated_total", {"fill_type": fill_type}, expect=expect) == expect
    assert figures["reconciles"] == sum(fills.values())
    end_to_end = figures["latency_ms"]["end_to_end"]
    assert end_to_end["p50"] <= end_to_end["p99"] <= end_to_end["max"]
    assert figures["latency_ms"]["without_simulated_delay"]["p50"] < end_to_end["p50"]
    # Orders of at most 250,000 in notional pay the half spread and walk a few levels of the book:
    # never better than the mid, never more than a few basis points beyond it.
    assert 0 <= figures["slippage_bps"]["max"] <= 15.0
    assert 300 <= figures["achieved_send_rate_per_s"] <= 500

    page = (tmp_path / "report" / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == 6
    for chart in ("throughput-over-time", "latency-over-time", "latency-histogram", "overhead-histogram",
                  "outcomes", "slippage-histogram"):
        assert (tmp_path / "report" / f"{chart}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h2>Percentiles</h2>" in page and "<pre" not in page
    assert "at-exec-sim loadgen" in result.stdout
    assert service.stop() == 0


def test_unanswered_intents_give_a_non_zero_exit(nats_server, topology, start_service):
    service = start_service()
    assert service.stop() == 0  # the stream exists, nobody answers
    result = subprocess.run([*LOADGEN, "--count", "20", "--rate", "0", "--quiet", "--drain-timeout", "1"],
                            env=service.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "20 valid intents unanswered" in result.stdout
    # The service's consumer holds them: not mistaken for rejections.
    assert "still holds 20 intents not taken: is the service running" in result.stdout


def test_unreachable_server_is_a_clear_error(tmp_path):
    result = subprocess.run([*LOADGEN, "--count", "5", "--url", "nats://127.0.0.1:1", "--quiet"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "cannot connect to NATS at nats://127.0.0.1:1" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def loadgen(service, *argv: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOADGEN, "--quiet", *argv], env=service.env, capture_output=True, text=True,
                          timeout=timeout_s)


def test_two_runs_back_to_back_are_both_answered(topology, start_service, tmp_path):
    """Each run has a run id of its own: the second is not refused as duplicates of the first."""
    service = start_service()
    runs = []
    for n in range(2):
        result = loadgen(service, "--count", "150", "--rate", "300", "--json", str(tmp_path / f"run{n}.json"))
        assert result.returncode == 0, result.stdout + result.stderr
        runs.append(json.loads((tmp_path / f"run{n}.json").read_text()))
    assert runs[0]["run_id"] != runs[1]["run_id"]
    assert [r["results"]["answered"] for r in runs] == [150, 150]
    assert service.metric("exec_sim_validation_errors_total", {"type": "duplicate"}) == 0
    assert service.stop() == 0


def test_a_reused_run_id_is_explained_as_duplicates_and_not_waited_for(topology, start_service, tmp_path):
    service = start_service()
    first = loadgen(service, "--count", "100", "--rate", "0", "--run-id", "fixed")
    assert first.returncode == 0, first.stdout + first.stderr
    started = time.monotonic()
    second = loadgen(service, "--count", "100", "--rate", "0", "--run-id", "fixed", "--drain-timeout", "60",
                     "--json", str(tmp_path / "again.json"))
    took_s = time.monotonic() - started
    assert second.returncode == 1, second.stdout + second.stderr
    out = " ".join(second.stdout.split())
    assert "100 valid intents unanswered (stopped waiting: the service had handled every intent)" in out
    assert "duplicate 100 (its /metrics, service-wide)" in out
    assert "cause: duplicate" in out and "fixed --run-id 'fixed' was used before" in out
    assert took_s < 30, took_s  # not the 60 s drain timeout
    run = json.loads((tmp_path / "again.json").read_text())
    assert run["verdict"] == "failed" and run["results"]["service_rejections"] == 100
    assert run["service"]["rejections_by_type"] == {"duplicate": 100}
    assert any("were rejected" in line for line in run["unanswered_explanation"])
    assert service.stop() == 0


def test_a_failing_threshold_fails_the_run(topology, start_service, tmp_path):
    service = start_service()
    result = loadgen(service, "--count", "60", "--rate", "200", "--threshold", "overhead_p99<0.001ms",
                     "--threshold", "answered>=99.9%", "--json", str(tmp_path / "run.json"),
                     "--csv", str(tmp_path / "history.csv"))
    assert result.returncode == 1, result.stdout + result.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["verdict"] == "failed"
    first, second = run["thresholds"]
    assert first["expression"] == "overhead_p99<0.001ms" and first["passed"] is False and first["observed"] > 0.001
    assert second == {"expression": "answered>=99.9%", "metric": "answered", "observed": 100.0, "unit": "%",
                      "passed": True}
    history = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert sum(int(row["sent"]) for row in history) == 60 and {row["run_id"] for row in history} == {run["run_id"]}
    assert service.stop() == 0


def test_every_tif_forced_outcome_and_injected_fault_is_answered_and_counted(topology, start_service, tmp_path):
    service = start_service(FAULT_DUPLICATE_FILL_PROBABILITY="0.2", FAULT_LATENCY_SPIKE_PROBABILITY="0.1",
                            FAULT_LATENCY_SPIKE_MS="300", FAULT_RECONCILE_DELAY_PROBABILITY="0.1",
                            FAULT_RECONCILE_DELAY_MAX_MS="500")
    result = loadgen(service, "--count", "300", "--rate", "300", "--tif-mix", "none,ioc,fok,day,gtc",
                     "--force-mix", "none=2,full,partial,reject", "--json", str(tmp_path / "run.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads((tmp_path / "run.json").read_text())["results"]
    assert figures["answered"] == 300 and figures["outstanding"] == 0
    assert set(figures["by_time_in_force"]) == {"none", "ioc", "fok", "day", "gtc"}
    for force in ("full", "partial", "reject"):
        forced = figures["forced_outcomes"][force]
        assert forced["honoured"] == forced["sent"] > 0, (force, forced)
    for fault in ("duplicate_fill", "latency_spike", "reconcile_delayed"):
        injected = service.metric("exec_sim_faults_injected_total", {"fault": fault})
        assert figures["faults"][fault] == injected > 0, fault
    assert figures["duplicate_fills"] == figures["faults"]["duplicate_fill"]
    assert "faults received" in result.stdout and "duplicate fills received" in result.stdout
    assert service.stop() == 0


def test_the_feed_publishes_schema_valid_quotes_on_each_instruments_subject(nats_server, topology, start_service):
    service = start_service()
    market_stream = f"{topology.stream}_MARKET"
    run_async(_add_stream(nats_server.url, market_stream, ["market.>"]))
    try:
        result = loadgen(service, "--count", "0", "--feed-rate", "300", "--feed-instruments", "BTC/USD,EURUSD",
                         "--duration", "2")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "quotes published: 600" in result.stdout
        schema = Draft202012Validator(load_schema(MARKET_QUOTE), format_checker=Draft202012Validator.FORMAT_CHECKER)
        for subject, instrument in (("market.quote.BTCUSD", "BTC/USD"), ("market.quote.EURUSD", "EURUSD")):
            msgs = run_async(stored_messages(nats_server.url, _as_topology(market_stream), subject))
            assert len(msgs) == 300, subject
            for msg in msgs:
                quote = orjson.loads(msg.data)
                assert schema.is_valid(quote) and quote["instrument"] == instrument
                assert 0 < quote["bid"] < quote["ask"]
    finally:
        run_async(_delete_stream(nats_server.url, market_stream))
    assert service.stop() == 0


async def _add_stream(url: str, name: str, subjects: list[str]) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=name, subjects=subjects)
    finally:
        await nc.close()


async def _delete_stream(url: str, name: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


def _as_topology(stream: str) -> Topology:
    topology = Topology()
    topology.stream = stream
    return topology
