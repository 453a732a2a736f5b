"""`at-exec-sim loadgen` against the running service on a real nats-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LOADGEN = [str(Path(sys.executable).parent / "at-exec-sim"), "loadgen"]


def test_small_run_answers_everything_and_its_figures_add_up(topology, start_service, tmp_path):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0.2")
    count, invalid_share = 400, 0.1
    result = subprocess.run(
        [*LOADGEN, "--count", str(count), "--rate", "400", "--invalid-share", str(invalid_share), "--seed", "9",
         "--quiet", "--json", str(tmp_path / "run.json"), "--report", str(tmp_path / "report")],
        env=service.env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads((tmp_path / "run.json").read_text())
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


def test_unreachable_server_is_a_clear_error(tmp_path):
    result = subprocess.run([*LOADGEN, "--count", "5", "--url", "nats://127.0.0.1:1", "--quiet"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "cannot connect to NATS at nats://127.0.0.1:1" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
