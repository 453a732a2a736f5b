"""Scale-out: several instances on one durable consumer, and a three-node NATS cluster, under faults.

Every test counts the outputs from the stream itself (stored events): each
intent answered, no event stored twice. The small counts run in CI; CHAOS_SCALE
(`make chaos`, `make chaos-cluster`) multiplies them.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from common.config import load_settings
from supervisor.jetstream import TopologyKeeper
from tools import sample_intents as si
from tools.embedded_cluster import EmbeddedNatsCluster

from .conftest import (
    SCALE,
    ServiceProcess,
    Topology,
    assert_exactly_once,
    consumer_state,
    publish_intents,
    read_outputs,
    run_async,
    scaled,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

# Redeliveries within the test: ACK_WAIT_SEC above the longest execution (a partial's two delays,
# 2 × 800 ms, no child fills) plus PUBLISH_TIMEOUT_SEC.
FAST_REDELIVERY = {"SIMULATION_MIN_DELAY_MS": "200", "SIMULATION_MAX_DELAY_MS": "800",
                   "SIMULATION_LIQUIDITY_SHARE": "0", "ACK_WAIT_SEC": "5", "PUBLISH_TIMEOUT_SEC": "2"}


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[EmbeddedNatsCluster]:
    cluster = EmbeddedNatsCluster(tmp_path / "cluster")
    cluster.start()
    yield cluster
    cluster.stop()


def executed(service: ServiceProcess) -> list[str]:
    """corr_ids this instance executed (its own log)."""
    return [line["corr_id"] for line in service.log_lines() if line.get("message") == "intent executed"]


def rejected_as_duplicates(service: ServiceProcess) -> list[str]:
    return [line["corr_id"] for line in service.log_lines() if line.get("rejection_type") == "duplicate"]


def stored_after(msgs: list[Any], wall_time: float) -> float:
    """Seconds from `wall_time` to the last event the stream stored (its own timestamps, not the reader's)."""
    return max(m.metadata.timestamp.timestamp() for m in msgs) - wall_time


def wait_settled(urls: Any, topology: Topology, timeout_s: float = 30.0) -> Any:
    """The consumer's state once nothing is pending or unacked (or at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = run_async(consumer_state(urls, topology))
        if (info.num_pending == 0 and info.num_ack_pending == 0) or time.monotonic() > deadline:
            return info
        time.sleep(0.5)


def test_instances_starting_together_share_one_stream_and_consumer(nats_server, topology):
    env = {"NATS_URL": nats_server.url, **topology.env()}
    settings = load_settings(env)
    # A later instance configured otherwise binds to what exists and changes nothing.
    other = load_settings({**env, "ACK_WAIT_SEC": str(settings.ack_wait_s + 60), "NATS_MAX_ACK_PENDING": "50000"})

    async def start_three() -> tuple[Any, Any, Any]:
        connections = [await nats.connect(nats_server.url) for _ in range(3)]
        try:
            await asyncio.gather(*(TopologyKeeper(nc.jetstream(), settings).establish() for nc in connections[:2]))
            js = connections[0].jetstream()
            before = await js.consumer_info(topology.stream, settings.nats_durable)
            await TopologyKeeper(connections[2].jetstream(), other).establish()
            after = await js.consumer_info(topology.stream, settings.nats_durable)
            return before, after, await js.consumers_info(topology.stream)
        finally:
            for nc in connections:
                await nc.close()

    before, after, consumers = run_async(start_three())
    assert [c.name for c in consumers] == [settings.nats_durable]
    assert before.config.ack_wait == settings.ack_wait_s and before.config.max_ack_pending == -1
    # Neither recreated (same creation time) nor reconfigured.
    assert after.created == before.created
    assert (after.config.ack_wait, after.config.max_ack_pending) == (settings.ack_wait_s, -1)


def test_two_instances_share_one_durable(nats_server, topology, start_service):
    count = scaled(600)
    env = {"SIMULATION_SEED": "share", "WORKERS": "1", "BATCH_SIZE": "32"}
    first, second = start_service(**env), start_service(**env)
    corr_ids = {f"sh-{n}" for n in range(count)}
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(si.intent(c)) for c in corr_ids]))
    msgs = run_async(read_outputs(nats_server.url, topology, 0, timeout_s=60, corr_ids=corr_ids), timeout_s=90)
    figures = assert_exactly_once(msgs, topology, corr_ids)
    assert first.stop() == 0 and second.stop() == 0
    by_first, by_second = executed(first), executed(second)
    print(f"shared: {figures}, executed {len(by_first)} + {len(by_second)}")
    # Both did work, and each intent was executed by one of them only.
    assert by_first and by_second
    assert sorted(by_first + by_second) == sorted(corr_ids)


def test_an_instance_killed_mid_run_leaves_nothing_unfilled_or_doubled(nats_server, topology, start_service):
    count = scaled(3000)
    env = {"SIMULATION_SEED": "scale-kill", "WORKERS": "1", **FAST_REDELIVERY}
    doomed, survivor = start_service(**env), start_service(**env)
    corr_ids = {f"sk2-{n}" for n in range(count)}
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(si.intent(c)) for c in corr_ids]))
    deadline = time.monotonic() + 10
    while doomed.metric("exec_sim_intents_in_flight") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert doomed.metric("exec_sim_intents_in_flight") > 0, "the instance to kill holds no intents"
    assert doomed.stop(signal.SIGKILL) == -signal.SIGKILL
    killed_at = time.time()

    msgs = run_async(read_outputs(nats_server.url, topology, 0, timeout_s=120, corr_ids=corr_ids), timeout_s=180)
    figures = assert_exactly_once(msgs, topology, corr_ids)
    drained_s = stored_after(msgs, killed_at)
    info = wait_settled(nats_server.url, topology)
    assert info.num_pending == 0 and info.num_ack_pending == 0
    # What the killed instance held was delivered again (to the survivor): more deliveries than intents.
    assert info.delivered.consumer_seq > count
    assert survivor.process.poll() is None
    print(f"instance killed: {figures}, {info.delivered.consumer_seq - count} redeliveries, "
          f"last event stored {drained_s:.1f} s after the kill")
    assert survivor.stop() == 0


def test_a_corr_id_published_twice_is_filled_once_across_instances(nats_server, topology, start_service):
    pairs = scaled(100)
    # Small pulls interleave the deliveries, so many copies reach the other instance.
    env = {"SIMULATION_SEED": "dup-across", "WORKERS": "1", "BATCH_SIZE": "4"}
    first, second = start_service(**env), start_service(**env)
    corr_ids = [f"dx-{n}" for n in range(pairs)]
    bodies = [si.encode(si.intent(c)) for c in corr_ids]
    run_async(publish_intents(nats_server.url, topology.intent_subject, bodies))
    run_async(read_outputs(nats_server.url, topology, 0, timeout_s=60, corr_ids=set(corr_ids)), timeout_s=90)
    run_async(publish_intents(nats_server.url, topology.intent_subject, bodies))  # the same intents again
    info = wait_settled(nats_server.url, topology)
    assert info.num_pending == 0 and info.num_ack_pending == 0
    assert first.stop() == 0 and second.stop() == 0

    msgs = run_async(read_outputs(nats_server.url, topology, 0, timeout_s=30, corr_ids=set(corr_ids)), timeout_s=60)
    figures = assert_exactly_once(msgs, topology, set(corr_ids))
    by_first, by_second = executed(first), executed(second)
    duplicates = rejected_as_duplicates(first) + rejected_as_duplicates(second)
    # A copy that reached the instance that had not filled its corr_id was recognised by its first
    # event, which the stream already held for the original (supervisor/claims.py).
    crossed = [line["corr_id"] for service in (first, second) for line in service.log_lines()
               if line.get("rejection_type") == "duplicate" and "stored_seq" in line]
    print(f"duplicates: {figures}, {len(crossed)} copies recognised by their stored first event on the other "
          f"instance, {len(duplicates) - len(crossed)} rejected by the one that had filled them")
    # The path under test happened: a copy reached the instance that had not filled its corr_id ...
    assert crossed
    # ... every original was executed once, by one instance, and no copy was executed: each was a
    # duplicate, by the window of the instance that remembered it or by its stored first event.
    assert sorted(by_first + by_second) == sorted(corr_ids)
    assert sorted(duplicates) == sorted(corr_ids)
    # A copy on the other instance published its first event only, which the stream dropped.
    dropped = {kind: sum(service.metric("exec_sim_events_deduplicated_total", {"kind": kind})
                         for service in (first, second)) for kind in ("fill", "reconcile", "order_update")}
    assert dropped == {"fill": len(crossed), "reconcile": 0, "order_update": 0}


def test_cluster_node_killed_under_load_and_restarted(nats_cluster, topology, start_service):
    count = scaled(2000)
    urls = nats_cluster.urls
    env = {**topology.env(), "NATS_URL": ",".join(urls), "NATS_STREAM_REPLICAS": "3", "SIMULATION_SEED": "cluster",
           "WORKERS": "1", "SERVICE_NAME": f"exec-sim-{topology.stream.lower()}",
           # Taken over about eight seconds, so the fault falls in the middle of the load.
           "RATE_LIMIT_RPS": str(count // 8), **FAST_REDELIVERY}
    # The backlog first, in the replicated stream the service's own topology code makes.
    run_async(_establish(urls, load_settings(env)))
    corr_ids = {f"cl-{n}" for n in range(count)}
    run_async(publish_intents(urls, topology.intent_subject, [si.encode(si.intent(c)) for c in corr_ids]),
              timeout_s=60 * SCALE)
    service = start_service(**env)
    stream = run_async(_stream_info(urls, topology))
    assert stream.config.num_replicas == 3 and len(stream.cluster.replicas) == 2

    deadline = time.monotonic() + 30
    while run_async(consumer_state(urls, topology)).delivered.consumer_seq < count // 4:
        assert time.monotonic() < deadline, "the service did not take a quarter of the backlog in 30 s"
        time.sleep(0.2)
    # One node takes everything down with it: the service's connection, the stream's leader and
    # the consumer's (moved there first).
    victim = nats_cluster.node_serving(env["SERVICE_NAME"])
    run_async(_lead_from(urls, topology, nats_cluster.names[victim]))
    nats_cluster.kill(victim)
    killed_at = time.time()
    while time.time() - killed_at < 3:
        assert service.process.poll() is None, "the service must stay up while a node is gone"
        time.sleep(0.2)
    nats_cluster.restart(victim)

    msgs = run_async(read_outputs(urls, topology, 0, timeout_s=120, corr_ids=corr_ids), timeout_s=180)
    figures = assert_exactly_once(msgs, topology, corr_ids)
    drained_s = stored_after(msgs, killed_at)
    info = wait_settled(urls, topology)
    assert info.num_pending == 0 and info.num_ack_pending == 0
    assert service.process.poll() is None
    assert "NATS reconnected" in service.log()
    # While no consumer leader answered, pull requests were spaced out, not spun (one warning per outage).
    puller_warnings = [line for line in service.log_lines()
                       if line.get("logger") == "at_exec_sim.puller" and line.get("level") == "WARNING"]
    assert len(puller_warnings) <= 3, puller_warnings[:5]
    leaders = run_async(_stream_info(urls, topology)).cluster.leader, info.cluster.leader
    no_intake_s = [line["after_s"] for line in service.log_lines()
                   if line.get("message") == "consumer answering pull requests again"]
    print(f"cluster: n{victim} (service connection, stream and consumer leader) killed for 3 s, leaders now "
          f"{leaders}; {figures}, no consumer leader for {no_intake_s} s, "
          f"last event stored {drained_s:.1f} s after the kill")
    assert service.stop() == 0


async def _establish(urls: list[str], settings: Any) -> None:
    nc = await nats.connect(urls)
    try:
        await TopologyKeeper(nc.jetstream(), settings).establish()
    finally:
        await nc.close()


async def _stream_info(urls: list[str], topology: Topology) -> Any:
    nc = await nats.connect(urls)
    try:
        return await nc.jetstream().stream_info(topology.stream)
    finally:
        await nc.close()


async def _lead_from(urls: list[str], topology: Topology, server: str, timeout_s: float = 20.0) -> None:
    """Move the stream's and the consumer's leaders to `server` (stepdowns with a preferred placement)."""
    nc = await nats.connect(urls)
    try:
        js = nc.jetstream()
        durable = load_settings({}).nats_durable
        asks = {"stream": f"$JS.API.STREAM.LEADER.STEPDOWN.{topology.stream}",
                "consumer": f"$JS.API.CONSUMER.LEADER.STEPDOWN.{topology.stream}.{durable}"}
        placement = orjson.dumps({"placement": {"preferred": server}})
        deadline = time.monotonic() + timeout_s
        while True:
            leaders = {"stream": (await js.stream_info(topology.stream)).cluster.leader,
                       "consumer": (await js.consumer_info(topology.stream, durable)).cluster.leader}
            if all(leader == server for leader in leaders.values()):
                return
            assert time.monotonic() < deadline, f"leaders {leaders} did not move to {server}"
            for kind, leader in leaders.items():
                if leader is not None and leader != server:
                    await nc.request(asks[kind], placement, timeout=5)
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
