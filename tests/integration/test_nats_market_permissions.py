"""Only the feed moves the market: deploy/nats.conf's market data rights on a real nats-server.

Under MARKET_DATA=bus every fill is priced from the quotes the stream stores, so who may publish
them decides who chooses prices. Each test starts a nats-server with the shipped file on an empty
store (the stream is the one the service creates in bus mode). An agent's quote, signal or
watermark tick is refused; the `feed` user's quote and signal are stored and it may publish
nothing else; the service, as `exec-sim`, reads a burst through its ordered consumer (flow control
included), moves its watermark with its own ticks and prices an agent's intent from the feed's
quote; restarted long after a resting order arrived, it reads the order's market history through
a pull consumer of its own. Nothing the service does is refused.
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
from .test_nats_permissions import (
    AGENT_INBOX,
    DEFAULT_NAMES,
    PASSWORDS,
    ROOT,
    STREAM,
    Refusals,
    agent_round_trip,
    url_for,
)

pytestmark = pytest.mark.integration

FEED_INBOX = "_INBOX_feed"


@pytest.fixture
def fresh_secured_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """deploy/nats.conf on an empty store: the stream is the one the service makes in bus mode."""
    server = EmbeddedNats(tmp_path / "nats-fresh", config_file=ROOT / "deploy" / "nats.conf", env=PASSWORDS)
    server.start()
    yield server
    server.stop()


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


async def rest_an_order(url: str, corr_id: str, limit: float | None) -> None:
    """A GTC limit on EURUSD, or with no limit the agent's plain intent (tools.sample_intents)."""
    agent = await nats.connect(url, inbox_prefix=AGENT_INBOX)
    try:
        order = si.intent(corr_id) if limit is None else si.intent(
            corr_id, instrument="EURUSD", order_type="limit", price=limit, quantity=1000,
            metadata={"time_in_force": "GTC"})
        await agent.jetstream().publish("decisions.order_intent", si.encode(order), timeout=5)
    finally:
        await agent.close()


def test_after_a_restart_the_service_reads_an_orders_market_history_under_its_permissions(
    fresh_secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]
) -> None:
    """A resting order outlives its supervisor (SIGKILL) while the feed's quotes cross it; the next
    supervisor starts after the records it reads back from, so it reads the order's history through
    a pull consumer of its own, as `exec-sim`, and fills the order at its limit, nothing refused.
    An order the first filled, sent again, is recognised by the stored first event the next reads
    back (a message get, supervisor/claims.py): a duplicate, nothing more of it stored."""
    server = fresh_secured_nats
    feed_url = url_for(server, "feed", PASSWORDS["FEED_NATS_PASSWORD"])
    agent_url = url_for(server, "agent", PASSWORDS["AGENT_NATS_PASSWORD"])
    env = {"NATS_URL": url_for(server, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"]),
           "NATS_INBOX_PREFIX": "_INBOX_exec_sim", **DEFAULT_NAMES, **BUS, "ACK_WAIT_SEC": "5",
           "PUBLISH_TIMEOUT_SEC": "2", "MARKET_DATA_MAX_AGE_MS": "2000"}
    first = start_service(**env)
    run_async(feed_quotes(feed_url, [1.1010]))
    run_async(rest_an_order(agent_url, "history-1", 1.0990))
    repeated = run_async(agent_round_trip(agent_url, ["perm-repeat-1"]))["perm-repeat-1"]
    first.metric("exec_sim_intents_awaiting_market_data", expect=1)  # resting, watched
    refused_first = "NATS refused" in first.log()
    assert first.stop(signals.SIGKILL) == -signals.SIGKILL
    run_async(feed_quotes(feed_url, [1.1000, 1.0995, 1.0989, 1.0985]))
    time.sleep(12)  # past what the next reader reads back (10 s with a 2 s maximum age)
    second = start_service(**env)
    fills = run_async(read_fills(agent_url, "history-1"), timeout_s=60)
    history = [line["records"] for line in second.log_lines() if line.get("message") == "market history read"]
    # Priced now, with no fresh quote, the repeat would be a no_market_data rejection: other events
    # than the stored ones, so only the stored first event says it is a repeat.
    run_async(rest_an_order(agent_url, "perm-repeat-1", None))
    assert second.metric("exec_sim_duplicate_orders_total", expect=1) == 1
    stored_again = run_async(agent_round_trip(agent_url, ["perm-repeat-1"], publish=False))["perm-repeat-1"]
    assert [m.data for m in stored_again] == [m.data for m in repeated]
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


def test_the_load_generators_feed_runs_as_the_feed_user_until_stopped(
    fresh_secured_nats: EmbeddedNats, start_service: Callable[..., ServiceProcess]
) -> None:
    """`at-exec-sim loadgen --count 0 --feed-rate R` with no --duration, as deploy/nats.conf's
    `feed` user (the compose file's `feed` service): it asks nothing it may not, publishes until
    SIGTERM, then prints its summary and exits 0, and the service prices an agent's order from it."""
    server = fresh_secured_nats
    service = start_service(NATS_URL=url_for(server, "exec-sim", PASSWORDS["EXEC_SIM_NATS_PASSWORD"]),
                            NATS_INBOX_PREFIX="_INBOX_exec_sim", **DEFAULT_NAMES, **BUS)
    env = {**os.environ, **DEFAULT_NAMES, "NATS_URL": url_for(server, "feed", PASSWORDS["FEED_NATS_PASSWORD"]),
           "NATS_INBOX_PREFIX": FEED_INBOX}
    feed = subprocess.Popen(
        [str(Path(sys.executable).parent / "at-exec-sim"), "loadgen", "--count", "0", "--feed-rate", "200",
         "--feed-instruments", "EURUSD,BTC/USD", "--metrics-url", "off", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while service.metric("exec_sim_market_data_received_total", {"source": "quote"}) < 200:
            assert feed.poll() is None and time.monotonic() < deadline, feed.communicate(timeout=5)
            time.sleep(0.2)
        fills = run_async(agent_round_trip(url_for(server, "agent", PASSWORDS["AGENT_NATS_PASSWORD"]), ["fed-1"]))
        feed.send_signal(signals.SIGTERM)
        out, err = feed.communicate(timeout=30)
    finally:
        if feed.poll() is None:
            feed.kill()
    assert feed.returncode == 0, (out, err)
    assert "quotes published" in out and "may not ask" in out
    assert [orjson.loads(m.data)["fill_status"] for m in fills["fed-1"]] == ["full"]
    assert "NATS refused" not in service.log()
    assert service.stop() == 0
