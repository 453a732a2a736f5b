"""The service end to end against a real nats-server: fills, rejections, duplicates, partials, shutdown."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from common.contracts import FILL, ORDER_UPDATE, RECONCILE, load_schema
from tools import sample_intents as si

from .conftest import (
    ServiceProcess,
    Topology,
    consumer_state,
    free_port,
    publish_intents,
    read_outputs,
    run_async,
    stored_messages,
)

pytestmark = pytest.mark.integration

FILL_VALIDATOR = Draft202012Validator(load_schema(FILL), format_checker=Draft202012Validator.FORMAT_CHECKER)
RECONCILE_VALIDATOR = Draft202012Validator(load_schema(RECONCILE), format_checker=Draft202012Validator.FORMAT_CHECKER)
# The at-core order_update contract is draft-07.
ORDER_UPDATE_VALIDATOR = Draft7Validator(load_schema(ORDER_UPDATE), format_checker=Draft7Validator.FORMAT_CHECKER)


def events_by_corr_id(msgs, topology: Topology) -> dict[str, list[tuple[str, dict]]]:
    """corr_id -> [(kind, body)] in stream order, checking every event against its schema and headers."""
    grouped: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for msg in msgs:
        body = orjson.loads(msg.data)
        corr_id = msg.headers["corr_id"]
        if msg.subject == topology.fill_subject:
            FILL_VALIDATOR.validate(body)
            assert body["corr_id"] == corr_id
            assert body["execution_venue"] == "simulation"
            grouped[corr_id].append(("fill", body))
        elif msg.subject == topology.reconcile_subject:
            RECONCILE_VALIDATOR.validate(body)
            assert body["metadata"]["corr_id"] == corr_id
            grouped[corr_id].append(("reconcile", body))
        else:
            assert msg.subject == topology.order_update_subject
            ORDER_UPDATE_VALIDATOR.validate(body)
            assert body["corr_id"] == corr_id
            grouped[corr_id].append(("order_update", body))
        agent_id = body["metadata"]["agent_id"] if msg.subject == topology.order_update_subject else body["agent_id"]
        assert msg.headers["Nats-Msg-Id"].startswith(f"{agent_id}:{corr_id}:")
    return grouped


def assert_well_formed(events: list[tuple[str, dict]]) -> None:
    """fill 1, reconcile 1, fill 2, reconcile 2 ...; each reconcile names the fill before it; an
    order that did not fill in full ends with its order update, whose status is the last fill's."""
    kinds = [kind for kind, _ in events]
    final = [body for kind, body in events if kind == "fill"][-1]
    fills = kinds[:-1] if kinds[-1] == "order_update" else kinds
    assert fills == ["fill", "reconcile"] * (len(fills) // 2), kinds
    if final["fill_status"] == "full":
        assert kinds[-1] == "reconcile", kinds
    else:
        assert kinds[-1] == "order_update" and events[-1][1]["status"] == final["fill_status"], kinds
    for (_, fill), (_, reconcile) in zip(events[:len(fills)][::2], events[:len(fills)][1::2], strict=True):
        assert reconcile["fills_processed"] == [fill["fill_id"]]
        assert reconcile["strategy_id"] == fill["strategy_id"]


def test_every_order_type_fills_with_valid_ordered_events(nats_server, topology, start_service):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    bodies = [si.intent(f"ot-{t}-{side}", t, side) for t in si.ORDER_TYPES for side in ("buy", "sell")]
    bodies.append(si.intent("ot-limit-away", "limit", "buy", fills=False))
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies]))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2 * len(bodies)))
    grouped = events_by_corr_id(msgs, topology)

    assert set(grouped) == {b["corr_id"] for b in bodies}
    for body in bodies:
        events = grouped[body["corr_id"]]
        assert_well_formed(events)
        fill = events[0][1]
        assert fill["strategy_id"] == body["strategy_id"] and fill["agent_id"] == body["agent_id"]
        assert fill["side"] == body["side"] and fill["instrument"] == body["instrument"]
        if body["corr_id"] == "ot-limit-away":
            assert fill["fill_status"] == "cancelled" and "marketable" in fill["reject_reason"]
            continue
        assert [e[1]["fill_status"] for e in events[::2]] == ["full"]
        assert fill["fill_quantity"] == body["quantity"]
        assert fill["commission"] > 0
        if body["order_type"] in ("limit", "stop_limit"):
            worse = fill["fill_price"] > body["price"] if body["side"] == "buy" else fill["fill_price"] < body["price"]
            assert not worse, (body, fill)
    assert service.metric("exec_sim_orders_received_total", {"status": "accepted"}, expect=len(bodies)) == len(bodies)
    assert service.metric("exec_sim_fills_generated_total", {"fill_type": "full"}, expect=len(bodies) - 1) == len(bodies) - 1
    assert service.metric("exec_sim_fills_generated_total", {"fill_type": "cancelled"}, expect=1) == 1
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert service.stop() == 0


def test_bad_inputs_get_no_events_are_counted_and_not_redelivered(nats_server, topology, start_service):
    service = start_service(
        ACK_WAIT_SEC="2", PUBLISH_TIMEOUT_SEC="1", SIMULATION_MAX_DELAY_MS="0", SIMULATION_PARTIAL_FILL_CHANCE="0"
    )
    samples = si.invalid_samples()
    good = si.intent("good-one")
    run_async(publish_intents(nats_server.url, topology.intent_subject, [p for _, p in samples] + [si.encode(good)]))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2))
    # Only the valid intent produced events.
    assert {m.headers["corr_id"] for m in msgs} == {"good-one"}
    assert len(msgs) == 2

    expected = Counter(kind for kind, _ in samples)
    for kind, count in expected.items():
        assert service.metric("exec_sim_validation_errors_total", {"type": kind}, expect=count) == count, kind
    assert service.metric("exec_sim_orders_received_total", {"status": "invalid"}, expect=len(samples)) == len(samples)
    # Longer than ack_wait: a rejected message that was not terminated would come back.
    time.sleep(3)
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_redelivered == 0 and info.num_pending == 0
    rejected = [line for line in service.log_lines() if line.get("message") == "intent rejected"]
    assert len(rejected) == len(samples)
    assert all(line["error_code"].startswith("EXEC-") for line in rejected)
    assert {line["corr_id"] for line in rejected if line["rejection_type"] == "stale"} == {"bad-stale"}
    assert service.stop() == 0


def test_duplicate_corr_id_is_filled_once(nats_server, topology, start_service):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    body = si.encode(si.intent("dup-1"))
    run_async(publish_intents(nats_server.url, topology.intent_subject, [body, body, body]))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2))
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == ["demo_agent:dup-1:1", "demo_agent:dup-1:2"]
    assert service.metric("exec_sim_duplicate_orders_total", expect=2) == 2
    assert service.metric("exec_sim_orders_received_total", {"status": "duplicate"}, expect=2) == 2
    assert service.metric("exec_sim_validation_errors_total", {"type": "duplicate"}, expect=2) == 2
    assert service.metric("exec_sim_events_deduplicated_total", {"kind": "fill"}) == 0
    assert service.stop() == 0


def test_a_corr_id_executed_before_a_restart_is_stored_once_and_counted_as_a_duplicate(
        nats_server, topology, start_service):
    # A new process has an empty corr_id window: the stream holds the order's first event already,
    # and says so; the event read back names the first intent, so the repeat is a duplicate.
    body = si.encode(si.intent("again-1"))
    first = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    run_async(publish_intents(nats_server.url, topology.intent_subject, [body]))
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"again-1"}))
    assert first.metric("exec_sim_fills_generated_total", {"fill_type": "full"}, expect=1) == 1
    assert first.stop() == 0
    second = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    run_async(publish_intents(nats_server.url, topology.intent_subject, [body]))  # the client sends it again
    assert second.metric("exec_sim_duplicate_orders_total", expect=1) == 1
    assert second.metric("exec_sim_events_deduplicated_total", {"kind": "fill"}) == 1
    assert second.metric("exec_sim_events_deduplicated_total", {"kind": "reconcile"}) == 0
    assert second.metric("exec_sim_fills_generated_total", {"fill_type": "full"}) == 0
    assert second.metric("exec_sim_reconciles_generated_total") == 0
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2))
    assert [m.headers["Nats-Msg-Id"] for m in msgs] == ["demo_agent:again-1:1", "demo_agent:again-1:2"]
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert second.stop() == 0


def test_partial_fill_share_matches_configured_chance(nats_server, topology, start_service):
    chance, count = 0.3, 500
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE=str(chance), SIMULATION_SEED="partials")
    # AAPL trades in lots of 1 (a EURUSD order of 1000 is one indivisible lot); 100 shares take no
    # more than the touch, even in the thin book outside NYSE hours, so a fill is split only by chance.
    bodies = [si.intent(f"p-{n}", "market", instrument="AAPL", quantity=100) for n in range(count)]
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies]))
    # At least a fill and a reconcile per intent; partials add more.
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2 * count), timeout_s=120)
    grouped = events_by_corr_id(msgs, topology)
    assert len(grouped) == count
    partial = 0
    for events in grouped.values():
        assert_well_formed(events)
        fills = [body for kind, body in events if kind == "fill"]
        statuses = [f["fill_status"] for f in fills]
        filled = sum(f["fill_quantity"] for f in fills if f["fill_status"] != "cancelled")
        if statuses[0] == "partial":
            partial += 1
            assert statuses in (["partial", "full"], ["partial", "cancelled"])
            assert sum(f["fill_quantity"] for f in fills) == 100
        else:
            assert statuses == ["full"]
        assert filled <= 100
    sigma = math.sqrt(count * chance * (1 - chance))
    assert abs(partial - count * chance) < 4 * sigma, partial
    assert service.metric("exec_sim_fills_generated_total", {"fill_type": "partial"}, expect=partial) == partial
    assert service.stop() == 0


def test_sigterm_under_load_drains_and_loses_nothing(nats_server, topology, start_service):
    count = 2000
    env = {"SIMULATION_MIN_DELAY_MS": "100", "SIMULATION_MAX_DELAY_MS": "600", "SIMULATION_SEED": "sigterm"}
    first = start_service(**env)
    bodies = [si.encode(si.intent(f"s-{n}")) for n in range(count)]
    run_async(publish_intents(nats_server.url, topology.intent_subject, bodies))
    time.sleep(0.3)
    assert first.stop(signal.SIGTERM) == 0
    log = first.log()
    assert "signal received: draining" in log and "at-exec-sim stopped" in log
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0, "SIGTERM left intents unacked"

    # Whatever the first instance did not take is done by the next one; nothing twice.
    second = start_service(**env)
    msgs = run_async(read_outputs(nats_server.url, topology, expected=2 * count), timeout_s=120)
    grouped = events_by_corr_id(msgs, topology)
    assert set(grouped) == {f"s-{n}" for n in range(count)}
    for events in grouped.values():
        assert_well_formed(events)
    msg_ids = [m.headers["Nats-Msg-Id"] for m in msgs]
    assert len(msg_ids) == len(set(msg_ids)), "an event was stored twice"
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert second.stop() == 0


def _live_worker_pids(service) -> list[int]:
    """Pool workers as the service announced them ("worker ready"), still running."""
    pids = [line["pid"] for line in service.log_lines() if line.get("message") == "worker ready"]
    return [pid for pid in pids if _running(pid)]


def _ready_workers(service, count: int, timeout_s: float) -> list[int]:
    """The live announced workers once `count` of them are (or what there is at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while len(pids := _live_worker_pids(service)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed worker not yet reaped still has its /proc entry)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killed_workers_are_replaced_and_their_work_redone(nats_server, topology, start_service):
    count, kills = 4000, 3
    service = start_service(SIMULATION_SEED="kill", SIMULATION_MIN_DELAY_MS="0", SIMULATION_MAX_DELAY_MS="20",
                            BATCH_SIZE="64")
    assert len(_live_worker_pids(service)) == 2
    bodies = [si.encode(si.intent(f"k-{n}")) for n in range(count)]
    killed: list[int] = []

    async def publish_and_kill() -> None:
        publisher = asyncio.create_task(publish_intents(nats_server.url, topology.intent_subject, bodies))
        for _ in range(kills):
            await asyncio.sleep(0.25)
            # Only a booted worker: one that dies while booting stops the service, by design.
            while len(live := [p for p in _live_worker_pids(service) if p not in killed]) < 2:
                await asyncio.sleep(0.05)
            os.kill(live[0], signal.SIGKILL)
            killed.append(live[0])
        await publisher

    run_async(publish_and_kill())
    corr_ids = {f"k-{n}" for n in range(count)}
    # Until each intent has its last fill and reconciles: a pause in the outputs (a boot on a
    # busy machine) is not the end of them, as a count of 2 events per intent would take it.
    msgs = run_async(read_outputs(nats_server.url, topology, 0, timeout_s=110, corr_ids=corr_ids), timeout_s=120)
    grouped = events_by_corr_id(msgs, topology)
    assert set(grouped) == corr_ids
    msg_ids = [m.headers["Nats-Msg-Id"] for m in msgs]
    assert len(msg_ids) == len(set(msg_ids)), "an event was stored twice"
    assert service.metric("exec_sim_worker_restarts_total", expect=kills) == kills
    # The last replacement may still be booting: the survivor alone can answer everything,
    # and a spawned worker's imports take seconds on a loaded machine.
    replacements = _ready_workers(service, 2, timeout_s=60)
    assert len(replacements) == 2 and not set(killed) & set(replacements)
    assert service.log().count("worker died; replacing it") == kills
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert service.stop() == 0


def stored_ms(url: str, topology: Topology, subject: str) -> dict[str, float]:
    """corr_id -> the stream's stored time (epoch ms) of the first message on `subject` with it."""
    stored: dict[str, float] = {}
    for msg in run_async(stored_messages(url, topology, subject)):
        stored.setdefault(orjson.loads(msg.data)["corr_id"], msg.metadata.timestamp.timestamp() * 1000)
    return stored


def test_fills_go_out_at_their_timestamp_counted_from_the_stored_time(nats_server, topology, start_service):
    """The simulated delay runs from the venue's receipt, the stream's stored time: a fill is never
    stored before it ends, and an intent that waited in the stream longer than its delay (the
    service was down) is answered as soon as it is picked up, not a whole delay later."""
    delays = dict(SIMULATION_MIN_DELAY_MS="3000", SIMULATION_MAX_DELAY_MS="4000", SIMULATION_PARTIAL_FILL_CHANCE="0")
    assert start_service(**delays).stop() == 0  # the stream and consumer exist; nothing consumes now
    waited = [si.intent(f"waited-{n}") for n in range(20)]
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in waited]))
    time.sleep(4.5)  # past any intent's delay
    start_service(**delays)
    ready_ms = time.time() * 1000
    live = [si.intent(f"live-{n}") for n in range(20)]
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in live]))
    corr_ids = {b["corr_id"] for b in waited + live}
    msgs = run_async(read_outputs(nats_server.url, topology, 0, corr_ids=corr_ids), timeout_s=60)
    fills = {body["corr_id"]: body for kind, body in
             (e for events in events_by_corr_id(msgs, topology).values() for e in events) if kind == "fill"}
    intents_at = stored_ms(nats_server.url, topology, topology.intent_subject)
    fills_at = stored_ms(nats_server.url, topology, topology.fill_subject)
    assert set(fills) == set(fills_at) == corr_ids
    for corr_id, fill in fills.items():
        # The event's timestamp is the intent's stored ms plus the delay: the fill is not stored before it.
        due_ms = int(intents_at[corr_id]) + fill["execution_latency_ms"]
        assert fills_at[corr_id] >= due_ms, (corr_id, fills_at[corr_id] - due_ms)
        if corr_id.startswith("live-"):
            assert fills_at[corr_id] - due_ms < 1000, (corr_id, fills_at[corr_id] - due_ms)
        else:
            # Counted from the pickup instead, each would wait another 3-4 s.
            assert fills_at[corr_id] - ready_ms < 1500, (corr_id, fills_at[corr_id] - ready_ms)


def test_no_nats_to_reach_at_start_is_one_critical_line_and_exit_1(topology, tmp_path):
    """With no NATS server at NATS_URL the service says so and exits 1 once NATS_CONNECT_TIMEOUT_SEC
    has passed, rather than retrying its first connect for ever."""
    env = {"NATS_URL": f"nats://127.0.0.1:{free_port()}", "NATS_CONNECT_TIMEOUT_SEC": "2",
           "PORT": str(free_port()), "HTTP_HOST": "127.0.0.1", "WORKERS": "1", **topology.env()}
    service = ServiceProcess(env, tmp_path / "svc")
    service.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(service.log_path, "ab") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "at-exec-sim"), "run"], env=service.env,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        code = process.wait(timeout=60)  # a service that retries for ever fails the test here
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert code == 1, service.log()
    lines = [orjson.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    critical = [line for line in lines if line["level"] == "CRITICAL"]
    assert [line["message"] for line in critical] == ["cannot reach NATS JetStream; stopping"]
    assert "NATS_CONNECT_TIMEOUT_SEC=2 s" in critical[0]["error"]
    # A connection that never was is not reported as lost.
    assert not any(line["message"].startswith("NATS disconnected") for line in lines)
