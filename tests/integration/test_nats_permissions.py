"""Only the simulator may write fills: deploy/nats.conf on a real nats-server.

The server runs with the shipped configuration file (its passwords from the
environment, as in deploy/docker-compose.yml); the service connects as its user,
`exec-sim`; the test's clients are the `agent` and `agent-b` users, each with its
own inbox prefix. A fill forged under the real fill's message id, published
before the service fills the intent, would make the stream drop the real fill as
a repeat: the server must refuse it, and refuse the agent the service's durable
consumer, while the agent still publishes intents and reads their fills. The
same forgery against a server without the file is stored: that is what the file
prevents. One agent may not subscribe to another's replies (its PubAcks and
JetStream API answers). The market data rights are tested in test_nats_market_permissions.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tools import sample_intents as si
from tools.embedded_nats import EmbeddedNats

from .conftest import ServiceProcess, run_async

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "at-exec-sim")
PASSWORDS = {"EXEC_SIM_NATS_PASSWORD": "sim-test-pw", "AGENT_NATS_PASSWORD": "agent-test-pw",
             "AGENT_B_NATS_PASSWORD": "agent-b-test-pw", "FEED_NATS_PASSWORD": "feed-test-pw"}
# Each agent user's own reply subjects, as the file grants them.
AGENT_INBOX, AGENT_B_INBOX = "_INBOX_agent", "_INBOX_agent_b"
STREAM, DURABLE = "trading-events", "exec-sim-consumer"
# The shipped subjects and names: the file grants these and no others.
DEFAULT_NAMES = {"NATS_STREAM": STREAM, "NATS_DURABLE": DURABLE, "NATS_SUBJECT_ORDER_INTENT": "decisions.order_intent",
                 "NATS_SUBJECT_FILL": "executions.fill", "NATS_SUBJECT_RECONCILE": "executions.reconcile",
                 "NATS_SUBJECT_ORDER_UPDATE": "executions.order_update"}


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats-secured"), config_file=ROOT / "deploy" / "nats.conf",
                          env=PASSWORDS)
    server.start()
    yield server
    server.stop()


def url_for(server: EmbeddedNats, user: str, password: str) -> str:
    return f"nats://{user}:{password}@127.0.0.1:{server.port}"


class Refusals:
    """The permission violations the server sends one client, awaited as they come."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = asyncio.Event()

    async def error_cb(self, exc: Exception) -> None:
        self.seen.append(str(exc))
        self._changed.set()

    async def wait_for(self, *words: str, timeout_s: float = 5.0) -> str:
        async def found() -> str:
            while True:
                for text in self.seen:
                    if "permissions violation" in text and all(w in text for w in words):
                        return text
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(found(), timeout_s)


async def forge_fill(url: str, corr_id: str, refusals: Refusals | None) -> Any:
    """Publish a fill under the id the service's first fill of `corr_id` will carry; the PubAck or the error."""
    nc = await nats.connect(url, inbox_prefix=AGENT_INBOX, error_cb=refusals.error_cb if refusals else None)
    try:
        forged = orjson.dumps({"corr_id": corr_id, "fill_status": "full", "fill_price": 0.01, "forged": True})
        try:
            return await nc.jetstream().publish("executions.fill", forged, timeout=2,
                                                headers={"Nats-Msg-Id": f"demo_agent:{corr_id}:1", "corr_id": corr_id})
        except Exception as exc:  # noqa: BLE001 - what the agent sees is the point
            return exc
    finally:
        await nc.close()


def test_open_server_stores_a_forged_fill(nats_server: EmbeddedNats) -> None:
    """Without deploy/nats.conf, anyone's fill under the real fill's id is stored (the threat)."""
    async def scenario() -> Any:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            await js.add_stream(name="OPEN-FORGERY", subjects=["executions.>"])
            return await forge_fill(nats_server.url, "open-1", None)
        finally:
            await js.delete_stream("OPEN-FORGERY")  # the session's server is shared
            await nc.close()
    ack = run_async(scenario())
    assert not isinstance(ack, Exception) and ack.seq >= 1


async def agent_cannot_touch_the_service_consumer(nc: Any, refusals: Refusals) -> None:
    js = nc.jetstream()
    for subject in (f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{DURABLE}", f"$JS.API.CONSUMER.DELETE.{STREAM}.{DURABLE}",
                    f"$JS.API.CONSUMER.INFO.{STREAM}.{DURABLE}"):
        with pytest.raises(nats.errors.TimeoutError):  # refused: the request never reaches JetStream
            await nc.request(subject, b'{"batch": 1}', timeout=1)
        await refusals.wait_for(subject.lower())
    # Re-creating it with another filter would update the service's consumer to read the outputs.
    with pytest.raises(nats.errors.TimeoutError):
        await js.add_consumer(STREAM, ConsumerConfig(name=DURABLE, durable_name=DURABLE,
                                                     filter_subject="executions.>"), timeout=1)
    await refusals.wait_for(f"consumer.create.{STREAM}.{DURABLE}".lower())


async def agent_round_trip(url: str, corr_ids: list[str], acks: list[Any] | None = None,
                           publish: bool = True) -> dict[str, list[Any]]:
    """Publish the intents as the agent (their PubAcks into `acks`; none with publish=False) and
    read their stored fills through a consumer of its own."""
    nc = await nats.connect(url, inbox_prefix=AGENT_INBOX)
    try:
        js = nc.jetstream()
        for corr_id in corr_ids if publish else ():
            ack = await js.publish("decisions.order_intent", si.encode(si.intent(corr_id)), timeout=5)
            if acks is not None:
                acks.append(ack)
        sub = await js.pull_subscribe("executions.fill", stream=STREAM, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30))
        fills: dict[str, list[Any]] = {}
        while not all(any(orjson.loads(m.data)["fill_status"] != "partial" for m in fills.get(c, []))
                      for c in corr_ids):
            for msg in await sub.fetch(100, timeout=20):
                fills.setdefault(msg.headers["corr_id"], []).append(msg)
        return fills
    finally:
        await nc.close()


async def settled_consumer(url: str, timeout_s: float = 30.0) -> Any:
    """The service's consumer, as the service's user sees it, once every intent is acked."""
    nc = await nats.connect(url, inbox_prefix="_INBOX_exec_sim")
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            info = await nc.jetstream().consumer_info(STREAM, DURABLE)
            if info.num_ack_pending == 0 and info.num_pending == 0 or asyncio.get_running_loop().time() > deadline:
                return info
            await asyncio.sleep(0.1)
    finally:
        await nc.close()


def test_only_the_simulator_writes_fills(
    secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]
) -> None:
    agent_url = url_for(secured_nats, "agent", PASSWORDS["AGENT_NATS_PASSWORD"])
    service_url = url_for(secured_nats, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"])
    service = start_service(NATS_URL=service_url, NATS_INBOX_PREFIX="_INBOX_exec_sim", **DEFAULT_NAMES)

    async def scenario() -> dict[str, list[Any]]:
        refusals = Refusals()
        # The forgery comes first, under the id of the fill the service is about to publish.
        outcome = await forge_fill(agent_url, "victim-1", refusals)
        assert isinstance(outcome, nats.errors.TimeoutError), outcome
        await refusals.wait_for('publish to "executions.fill"')
        nc = await nats.connect(agent_url, inbox_prefix=AGENT_INBOX, error_cb=refusals.error_cb)
        try:
            await agent_cannot_touch_the_service_consumer(nc, refusals)
        finally:
            await nc.close()
        # The service's consumer survived all that: it still fills.
        return await agent_round_trip(agent_url, ["victim-1", "after-attempts-1"])

    fills = run_async(scenario(), timeout_s=90)
    for corr_id in ("victim-1", "after-attempts-1"):
        bodies = [orjson.loads(m.data) for m in fills[corr_id]]
        assert bodies and not any(b.get("forged") for b in bodies), bodies
        assert fills[corr_id][0].headers["Nats-Msg-Id"] == f"demo_agent:{corr_id}:1"
    # Everything the service does is within its permissions: its acks went through, nothing refused.
    info = run_async(settled_consumer(service_url))
    assert (info.num_ack_pending, info.num_pending, info.num_redelivered) == (0, 0, 0)
    assert "NATS refused" not in service.log()


def test_a_refused_operation_is_logged_as_an_error(
    secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]
) -> None:
    """Without NATS_INBOX_PREFIX the service's replies are not its user's to receive: the start
    fails (exit 1), and the log says which subscription the server refused."""
    with pytest.raises(AssertionError, match="service exited with 1") as failure:
        start_service(NATS_URL=url_for(secured_nats, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"]),
                      NATS_CONNECT_TIMEOUT_SEC="3", **DEFAULT_NAMES)
    refused = [line for line in str(failure.value).splitlines() if "NATS refused an operation" in line]
    assert refused and '"level":"ERROR"' in refused[0] and "subscription to" in refused[0], str(failure.value)[-3000:]


def test_an_agent_cannot_read_another_agents_replies(
    secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]
) -> None:
    """agent-b subscribes to agent's inbox, to every inbox and to everything: each subscription is
    refused, and none of agent's PubAcks or JetStream API answers reaches agent-b, while agent,
    with its own inbox prefix, publishes intents, gets their PubAcks and reads their fills."""
    start_service(NATS_URL=url_for(secured_nats, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"]),
                  NATS_INBOX_PREFIX="_INBOX_exec_sim", **DEFAULT_NAMES)

    async def scenario() -> tuple[dict[str, list[Any]], list[Any], list[Any]]:
        refusals, overheard, acks = Refusals(), [], []

        async def overhear(msg: Any) -> None:
            overheard.append(msg)

        spy = await nats.connect(url_for(secured_nats, "agent-b", PASSWORDS["AGENT_B_NATS_PASSWORD"]),
                                 inbox_prefix=AGENT_B_INBOX, error_cb=refusals.error_cb, allow_reconnect=False)
        try:
            for subject in (f"{AGENT_INBOX}.>", "_INBOX.>", ">"):
                await spy.subscribe(subject, cb=overhear)
                await refusals.wait_for(f'subscription to "{subject.lower()}"')
            fills = await agent_round_trip(url_for(secured_nats, "agent", PASSWORDS["AGENT_NATS_PASSWORD"]),
                                           ["own-inbox-1", "own-inbox-2"], acks)
            await spy.flush(timeout=5)  # anything the server had routed to agent-b has arrived
        finally:
            await spy.close()
        return fills, acks, overheard

    fills, acks, overheard = run_async(scenario(), timeout_s=90)
    assert [ack.stream for ack in acks] == [STREAM, STREAM]
    for corr_id in ("own-inbox-1", "own-inbox-2"):
        assert orjson.loads(fills[corr_id][-1].data)["fill_status"] != "partial"
    assert overheard == []


def test_loadgen_runs_as_an_agent(secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]) -> None:
    """`at-exec-sim loadgen` needs no more than an agent's rights: it logs in as `agent` with the
    agent's inbox prefix, sends its intents and reads every answer back from the stream."""
    service = start_service(NATS_URL=url_for(secured_nats, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"]),
                            NATS_INBOX_PREFIX="_INBOX_exec_sim", **DEFAULT_NAMES)
    agent = {**DEFAULT_NAMES, "NATS_URL": url_for(secured_nats, "agent", PASSWORDS["AGENT_NATS_PASSWORD"]),
             "NATS_INBOX_PREFIX": AGENT_INBOX}
    result = subprocess.run([CLI, "loadgen", "--count", "30", "--rate", "0", "--run-id", "as-agent", "--quiet",
                             "--drain-timeout", "20"], env={**os.environ, **agent}, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NATS refused" not in service.log()
