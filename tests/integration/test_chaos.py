"""Faults injected under load against a real nats-server; every test counts lost and doubled outputs.

Outputs are counted from the stream itself (what was stored), never from a core
subscription, which also sees publishes the stream deduplicated. CHAOS_SCALE
(`make chaos`) multiplies the intent counts.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tools import sample_intents as si
from tools.embedded_nats import EmbeddedNats

from .conftest import Topology, assert_exactly_once, consumer_state, publish_intents, read_outputs, run_async, scaled

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_supervisor_sigkill_under_load_then_restart(nats_server, topology, start_service):
    count = scaled(3000)
    # What the killed supervisor held comes back after ack_wait: keep it short here.
    env = {"SIMULATION_SEED": "sigkill", "SIMULATION_MIN_DELAY_MS": "50", "SIMULATION_MAX_DELAY_MS": "400",
           "ACK_WAIT_SEC": "5", "PUBLISH_TIMEOUT_SEC": "2"}
    first = start_service(**env)
    bodies = [si.encode(si.intent(f"sk-{n}")) for n in range(count)]
    run_async(publish_intents(nats_server.url, topology.intent_subject, bodies))
    time.sleep(0.3)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    # Its workers and HTTP server die with it.
    pids = [line["pid"] for line in first.log_lines() if line.get("message") in ("worker ready", "http server started")]
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "orphans outlived the supervisor"

    restarted_at = time.monotonic()
    second = start_service(**env)
    corr_ids = {f"sk-{n}" for n in range(count)}
    msgs = run_async(read_outputs(nats_server.url, topology, 0, timeout_s=120, corr_ids=corr_ids), timeout_s=180)
    figures = assert_exactly_once(msgs, topology, corr_ids)
    print(f"sigkill: {figures}, resumed and drained in {time.monotonic() - restarted_at:.1f} s")
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert second.stop() == 0


@pytest.mark.parametrize("outage_s", [5, 60])
def test_nats_outage_under_load_fail_stop_then_resume(tmp_path, start_service, outage_s):
    own = EmbeddedNats(tmp_path / "own-js")
    own.start()
    topology = Topology()
    count = scaled(3000)
    try:
        # Acks the server had not stored when it was killed come back after ack_wait: keep it short here.
        service = start_service(NATS_URL=own.url, SIMULATION_SEED="outage", SIMULATION_MIN_DELAY_MS="200",
                                SIMULATION_MAX_DELAY_MS="1500", ACK_WAIT_SEC="10", **topology.env())
        bodies = [si.encode(si.intent(f"out-{n}")) for n in range(count)]
        run_async(publish_intents(own.url, topology.intent_subject, bodies))
        time.sleep(0.3)
        own.kill()
        killed_at = time.monotonic()
        health = json.loads(service.wait_http("/healthz", 503, timeout_s=5))
        assert health["nats"] == "disconnected"
        max_pending = 0
        while time.monotonic() - killed_at < outage_s:
            assert service.process.poll() is None, "the service must stay up while NATS is gone"
            max_pending = max(max_pending, service.metric("exec_sim_pending_events"))
            time.sleep(0.5)
        assert max_pending <= 1000
        own.start()  # same port, same store
        resumed_at = time.monotonic()
        service.wait_http("/healthz", 200, timeout_s=30)
        resume_s = time.monotonic() - resumed_at
        corr_ids = {f"out-{n}" for n in range(count)}
        msgs = run_async(read_outputs(own.url, topology, 0, timeout_s=120, corr_ids=corr_ids), timeout_s=180)
        figures = assert_exactly_once(msgs, topology, corr_ids)
        print(f"outage {outage_s} s: {figures}, max pending {max_pending:.0f}, healthy again after {resume_s:.1f} s")
        # Redeliveries of inputs whose acks the killed server lost are settled too, without new events.
        deadline = time.monotonic() + 30
        while (info := run_async(consumer_state(own.url, topology))).num_ack_pending and time.monotonic() < deadline:
            time.sleep(0.5)
        assert info.num_ack_pending == 0 and info.num_pending == 0
        assert len(run_async(read_outputs(own.url, topology, expected=len(msgs)))) == len(msgs)
        assert "NATS reconnected" in service.log()
        assert service.stop() == 0
    finally:
        own.stop()


def test_idempotency_holds_across_a_restart(nats_server, topology, start_service):
    env = {"SIMULATION_SEED": "idem", "SIMULATION_PARTIAL_FILL_CHANCE": "0"}
    first = start_service(**env)
    body = si.encode(si.intent("idem-1"))
    run_async(publish_intents(nats_server.url, topology.intent_subject, [body]))
    assert len(run_async(read_outputs(nats_server.url, topology, expected=2))) == 2
    assert first.stop() == 0
    # A new process remembers nothing; the stream's duplicate window does.
    second = start_service(**env)
    run_async(publish_intents(nats_server.url, topology.intent_subject, [body]))
    second.metric("exec_sim_orders_received_total", {"status": "accepted"}, expect=1)
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2))
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == ["demo_agent:idem-1:1", "demo_agent:idem-1:2"]
    assert second.stop() == 0


def test_signed_intents_only_when_a_secret_is_set(nats_server, topology, start_service):
    secret = b"s3cret-key"
    service = start_service(API_KEY_HMAC_SECRET=secret.decode(), SIMULATION_PARTIAL_FILL_CHANCE="0")
    good, unsigned, forged = (si.encode(si.intent(c)) for c in ("hm-good", "hm-unsigned", "hm-forged"))
    run_async(publish_intents(
        nats_server.url, topology.intent_subject, [good, unsigned, forged],
        headers=[{"X-Signature": si.signature(secret, good)}, None, {"X-Signature": si.signature(b"other", forged)}],
    ))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2))
    assert {m.headers["corr_id"] for m in msgs} == {"hm-good"}
    assert service.metric("exec_sim_validation_errors_total", {"type": "bad_signature"}, expect=2) == 2
    rejected = {line["corr_id"] for line in service.log_lines() if line.get("rejection_type") == "bad_signature"}
    assert rejected == {"hm-unsigned", "hm-forged"}
    assert service.stop() == 0


def test_oversized_and_invalid_utf8_are_rejected(nats_server, topology, start_service):
    service = start_service(MAX_INTENT_BYTES="4096", SIMULATION_PARTIAL_FILL_CHANCE="0")
    oversized = si.encode(si.intent("big-1", reasoning="x" * 400, metadata={"blob": "y" * 5000}))
    bad_utf8 = b'{"corr_id": "utf-1", "strategy_id": "\xff\xfe"}'
    run_async(publish_intents(nats_server.url, topology.intent_subject,
                              [oversized, bad_utf8, si.encode(si.intent("fine-1"))]))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2))
    assert {m.headers["corr_id"] for m in msgs} == {"fine-1"}
    assert service.metric("exec_sim_validation_errors_total", {"type": "too_large"}, expect=1) == 1
    assert service.metric("exec_sim_validation_errors_total", {"type": "malformed_json"}, expect=1) == 1
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_redelivered == 0
    assert service.stop() == 0


def test_rate_limit_makes_a_flood_wait_in_the_stream(nats_server, topology, start_service):
    rate, count = 100, 400
    service = start_service(RATE_LIMIT_RPS=str(rate), BATCH_SIZE="50", SIMULATION_MAX_DELAY_MS="0",
                            SIMULATION_PARTIAL_FILL_CHANCE="0")
    started = time.monotonic()  # the clock runs from the first publish: the service takes intents as they come
    run_async(publish_intents(nats_server.url, topology.intent_subject,
                              [si.encode(si.intent(f"rl-{n}")) for n in range(count)]))
    time.sleep(1.5)
    info = run_async(consumer_state(nats_server.url, topology))
    # Deliveries, not stream sequences: the outputs share the stream and interleave with the flood.
    taken = info.delivered.consumer_seq
    elapsed = time.monotonic() - started
    # The bucket starts full (one batch), then refills at the rate; the rest waits in the stream.
    assert taken <= 50 + rate * (elapsed + 0.5), taken
    assert info.num_pending > 0
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2 * count), timeout_s=30)
    assert {m.headers["corr_id"] for m in msgs} == {f"rl-{n}" for n in range(count)}
    assert time.monotonic() - started >= (count - 50) / rate * 0.9
    assert service.stop() == 0


def test_a_worker_that_cannot_boot_stops_the_service(nats_server, topology, start_service, tmp_path):
    # A sitecustomize that makes every spawned child exit at start: the pool's workers never boot.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import sys\nif '--multiprocessing-fork' in sys.argv:\n    raise SystemExit(7)\n"
    )
    with pytest.raises(AssertionError, match="service exited with 3"):
        start_service(PYTHONPATH=str(hook))


def test_long_delays_cause_no_redelivery(nats_server, topology, start_service):
    # ACK_WAIT_SEC left to its default, which follows the longest possible execution.
    service = start_service(SIMULATION_MIN_DELAY_MS="2500", SIMULATION_MAX_DELAY_MS="4000",
                            SIMULATION_PARTIAL_FILL_CHANCE="1")
    corr_ids = {f"long-{n}" for n in range(50)}
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(si.intent(c)) for c in corr_ids]))
    msgs = run_async(read_outputs(nats_server.url, topology, 0, timeout_s=30, corr_ids=corr_ids), timeout_s=60)
    assert_exactly_once(msgs, topology, corr_ids)
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_redelivered == 0 and info.num_ack_pending == 0
    assert info.config.ack_wait > 2 * 4.0
    assert service.stop() == 0


def test_stream_and_consumer_are_recreated_after_an_empty_restart(tmp_path, start_service):
    import shutil

    import nats as nats_client

    own = EmbeddedNats(tmp_path / "own-js")
    own.start()
    topology = Topology()
    try:
        service = start_service(NATS_URL=own.url, SIMULATION_PARTIAL_FILL_CHANCE="0", **topology.env())
        own.kill()
        shutil.rmtree(own.store_dir)  # the server comes back with nothing: no stream, no consumer
        own.start()

        async def stream_exists() -> bool:
            nc = await nats_client.connect(own.url)
            try:
                await nc.jetstream().stream_info(topology.stream)
                return True
            except nats_client.js.errors.NotFoundError:
                return False
            finally:
                await nc.close()

        deadline = time.monotonic() + 30
        while not run_async(stream_exists()) and time.monotonic() < deadline:
            time.sleep(0.5)
        corr_ids = {f"re-{n}" for n in range(50)}
        run_async(publish_intents(own.url, topology.intent_subject, [si.encode(si.intent(c)) for c in corr_ids]))
        msgs = run_async(read_outputs(own.url, topology, 0, timeout_s=30, corr_ids=corr_ids), timeout_s=60)
        assert_exactly_once(msgs, topology, corr_ids)
        assert "stream or consumer missing; creating them again" in service.log()
        assert service.stop() == 0
    finally:
        own.stop()
