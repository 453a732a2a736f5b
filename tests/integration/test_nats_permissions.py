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
JetStream API answers).

Market data (MARKET_DATA=bus) comes from the `feed` user alone: an agent's quote, signal or
watermark tick is refused, the feed's quote is stored, and the service, as its own user, reads
it through its ordered consumer (flow control included) and prices an agent's intent from it;
restarted long after a resting order arrived, it reads the order's market history through a pull
consumer of its own, under the same permissions.
"""

from __future__ import annotations

import asyncio
import os
import signal as signals
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tools import sample_intents as si
from tools.embedded_nats import EmbeddedNats
from worker.events import iso_ms

from .conftest import ServiceProcess, run_async

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "at-exec-sim")
PASSWORDS = {"EXEC_SIM_NATS_PASSWORD": "sim-test-pw", "AGENT_NATS_PASSWORD": "agent-test-pw",
             "AGENT_B_NATS_PASSWORD": "agent-b-test-pw", "FEED_NATS_PASSWORD": "feed-test-pw"}
# Each agent user's own reply subjects, as the file grants them, and the feed's.
AGENT_INBOX, AGENT_B_INBOX, FEED_INBOX = "_INBOX_agent", "_INBOX_agent_b", "_INBOX_feed"
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


@pytest.fixture
def fresh_secured_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """deploy/nats.conf on an empty store: the stream is the one the service makes in bus mode."""
    server = EmbeddedNats(tmp_path / "nats-fresh", config_file=ROOT / "deploy" / "nats.conf", env=PASSWORDS)
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
                                                headers={"Nats-Msg-Id": f"demo_agent:{corr_id}:fill:1", "corr_id": corr_id})
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


async def agent_round_trip(url: str, corr_ids: list[str], acks: list[Any] | None = None) -> dict[str, list[Any]]:
    """Publish the intents as the agent (their PubAcks into `acks`) and read their stored fills
    through a consumer of its own."""
    nc = await nats.connect(url, inbox_prefix=AGENT_INBOX)
    try:
        js = nc.jetstream()
        for corr_id in corr_ids:
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
        assert fills[corr_id][0].headers["Nats-Msg-Id"] == f"demo_agent:{corr_id}:fill:1"
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


# The service in bus mode with a fixed delay and whole fills; the signal subject on, as the feed may publish it.
BUS = {"MARKET_DATA": "bus", "MARKET_SIGNAL_SUBJECT": "signals.normalized", "SIMULATION_MIN_DELAY_MS": "200",
       "SIMULATION_MAX_DELAY_MS": "200", "SIMULATION_PARTIAL_FILL_CHANCE": "0", "MARKET_WATERMARK_TICK_MS": "40"}
# Enough quotes at once that the market reader's deliveries need flow control (about 1.5 MB did).
BURST = 20_000


def l1_quote(instrument: str, bid: float, ask: float) -> bytes:
    return orjson.dumps({"instrument": instrument, "bid": bid, "ask": ask, "bid_size": 5_000_000,
                         "ask_size": 5_000_000, "timestamp": iso_ms(int(datetime.now().timestamp() * 1000)),
                         "source": "permissions-test"})


def signal(instrument: str, price: float) -> bytes:
    now = iso_ms(int(datetime.now().timestamp() * 1000))
    return orjson.dumps({"corr_id": "sig-perm-1", "source": "test", "instrument": instrument, "price": price,
                         "side": None, "strength": None, "timestamp": now, "normalized_at": now})


async def refused_publish(nc: Any, refusals: Refusals, subject: str, body: bytes) -> None:
    """A JetStream publish the server refuses: no PubAck, and a permissions violation naming it."""
    with pytest.raises(nats.errors.TimeoutError):
        await nc.jetstream().publish(subject, body, timeout=1)
    await refusals.wait_for(f'publish to "{subject.lower()}"')


def test_only_the_feed_moves_the_market_the_service_prices_from(
    fresh_secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]
) -> None:
    server = fresh_secured_nats
    agent_url = url_for(server, "agent", PASSWORDS["AGENT_NATS_PASSWORD"])
    service = start_service(NATS_URL=url_for(server, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"]),
                            NATS_INBOX_PREFIX="_INBOX_exec_sim", **DEFAULT_NAMES, **BUS)

    async def scenario() -> dict[str, list[Any]]:
        agent_refusals, feed_refusals = Refusals(), Refusals()
        feed = await nats.connect(url_for(server, "feed", PASSWORDS["FEED_NATS_PASSWORD"]), inbox_prefix=FEED_INBOX,
                                  error_cb=feed_refusals.error_cb)
        agent = await nats.connect(agent_url, inbox_prefix=AGENT_INBOX, error_cb=agent_refusals.error_cb)
        try:
            for _ in range(BURST):  # another instrument's quotes, plain core publishes, as a fast feed sends them
                await feed.publish("market.quote.GBPUSD", l1_quote("GBPUSD", 1.2700, 1.2701))
            acks = [await feed.jetstream().publish("market.quote.EURUSD", l1_quote("EURUSD", 1.1000, 1.1002), timeout=5),
                    await feed.jetstream().publish("signals.normalized", signal("BTC/USD", 95_000.0), timeout=5)]
            assert [a.stream for a in acks] == [STREAM, STREAM]  # stored
            # The feed writes market data and nothing else.
            await refused_publish(feed, feed_refusals, "decisions.order_intent", si.encode(si.intent("from-feed-1")))
            await refused_publish(feed, feed_refusals, "executions.fill", b"{}")
            # An agent may not move the market its orders are priced from: a quote far below, a
            # signal, a watermark tick.
            await refused_publish(agent, agent_refusals, "market.quote.EURUSD", l1_quote("EURUSD", 0.5, 0.5001))
            await refused_publish(agent, agent_refusals, "signals.normalized", signal("EURUSD", 0.5))
            await refused_publish(agent, agent_refusals, "market.tick.forged", b"")
        finally:
            await feed.close()
            await agent.close()
        # Then a quiet bus: the fill needs the service's own watermark ticks.
        return await agent_round_trip(agent_url, ["priced-by-feed-1"])

    fills = run_async(scenario(), timeout_s=90)
    fill = orjson.loads(fills["priced-by-feed-1"][-1].data)
    assert (fill["fill_status"], fill["fill_price"], fill["market_data"]["ask"]) == ("full", 1.1002, 1.1002)
    assert service.metric("exec_sim_market_data_received_total", {"source": "quote"}, expect=BURST + 1) == BURST + 1
    assert service.metric("exec_sim_market_data_received_total", {"source": "signal"}) == 1
    assert "NATS refused" not in service.log()
    assert service.stop() == 0
    # The quiet bus after the intent: the service's own ticks moved the watermark (counted by the
    # time it has stopped: the counts reach the metric files a few times a second).
    assert service.metric("exec_sim_market_data_received_total", {"source": "tick"}) >= 1


async def feed_quotes(url: str, asks: list[float]) -> None:
    """EURUSD quotes with these asks, published by the feed user through JetStream (stored), 50 ms apart."""
    feed = await nats.connect(url, inbox_prefix=FEED_INBOX)
    try:
        for ask in asks:
            await feed.jetstream().publish("market.quote.EURUSD", l1_quote("EURUSD", round(ask - 0.0002, 5), ask),
                                           timeout=5)
            await asyncio.sleep(0.05)
    finally:
        await feed.close()


async def rest_an_order(url: str, corr_id: str, limit: float) -> None:
    agent = await nats.connect(url, inbox_prefix=AGENT_INBOX)
    try:
        order = si.intent(corr_id, instrument="EURUSD", order_type="limit", price=limit, quantity=1000,
                          metadata={"time_in_force": "GTC"})
        await agent.jetstream().publish("decisions.order_intent", si.encode(order), timeout=5)
    finally:
        await agent.close()


def test_after_a_restart_the_service_reads_an_orders_market_history_under_its_permissions(
    fresh_secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]
) -> None:
    """A resting order outlives its supervisor (SIGKILL) while the feed's quotes cross it; the next
    supervisor starts after the records it reads back from, so it reads the order's history through
    a pull consumer of its own, as `exec-sim`, and fills the order at its limit, nothing refused."""
    server = fresh_secured_nats
    feed_url = url_for(server, "feed", PASSWORDS["FEED_NATS_PASSWORD"])
    agent_url = url_for(server, "agent", PASSWORDS["AGENT_NATS_PASSWORD"])
    env = {"NATS_URL": url_for(server, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"]),
           "NATS_INBOX_PREFIX": "_INBOX_exec_sim", **DEFAULT_NAMES, **BUS, "ACK_WAIT_SEC": "5",
           "PUBLISH_TIMEOUT_SEC": "2", "MARKET_DATA_MAX_AGE_MS": "2000"}
    first = start_service(**env)
    run_async(feed_quotes(feed_url, [1.1010]))
    run_async(rest_an_order(agent_url, "history-1", 1.0990))
    first.metric("exec_sim_intents_awaiting_market_data", expect=1)  # resting, watched
    refused_first = "NATS refused" in first.log()
    assert first.stop(signals.SIGKILL) == -signals.SIGKILL
    run_async(feed_quotes(feed_url, [1.1000, 1.0995, 1.0989, 1.0985]))
    time.sleep(12)  # past what the next reader reads back (10 s with a 2 s maximum age)
    second = start_service(**env)
    fills = run_async(read_fills(agent_url, "history-1"), timeout_s=60)
    history = [line["records"] for line in second.log_lines() if line.get("message") == "market history read"]
    assert second.stop() == 0
    assert history == [5]  # the order's quote and the four that followed, read back from the stream
    assert [(f["fill_status"], f["fill_price"]) for f in fills] == [("full", 1.0990)]
    assert not refused_first and "NATS refused" not in second.log()


async def read_fills(url: str, corr_id: str) -> list[dict[str, Any]]:
    """The stored fills of `corr_id` once its last one is there, read as the agent."""
    nc = await nats.connect(url, inbox_prefix=AGENT_INBOX)
    try:
        sub = await nc.jetstream().pull_subscribe("executions.fill", stream=STREAM, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30))
        fills: list[dict[str, Any]] = []
        while not any(f["fill_status"] != "partial" for f in fills):
            try:
                msgs = await sub.fetch(100, timeout=5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            fills += [body for m in msgs if (body := orjson.loads(m.data))["corr_id"] == corr_id]
        return fills
    finally:
        await nc.close()
