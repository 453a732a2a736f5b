"""MARKET_DATA=bus through a real nats-server: fills priced from the quote in force at their arrival.

A stepped quote feed (our L1 contract, a new price every STEP_S) runs beside intents
with a fixed delay. Every fill must carry the price of the last quote the stream
stored at or before the fill's arrival (the stored times read back from the stream:
no later quote, never the synthetic path), a resting limit must fill at the first
quote that crosses it, bad quotes are counted by type and skipped, an instrument
without quotes gets no_market_data, and `at-exec-sim replay` of the stream gives the
same bytes. A second test prices from at-core signals.normalized alone.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from typing import Any

import nats
import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from common.contracts import quote_subject
from common.instruments import normalize
from supervisor.inflight import delivery_of_reply
from tests.builders import VALIDATORS, assert_valid
from tools import sample_intents as si
from worker.events import iso_ms

from .conftest import assert_replay_gives, kind_of, read_outputs, run_async
from .conftest import publish_intents as publish_intents_plain

pytestmark = pytest.mark.integration

DELAY = 300
STEP_S = 0.08
BASE = {"EURUSD": 1.1000, "BTCUSD": 95_000.0}
TICKS = {"EURUSD": 0.0001, "BTCUSD": 5.0}


def bus_env(root: str, **more: str) -> dict[str, str]:
    return {"MARKET_DATA": "bus", "MARKET_QUOTE_SUBJECTS": f"{root}.market.quote.>", "SIMULATION_SEED": "bus-feed",
            "SIMULATION_MIN_DELAY_MS": str(DELAY), "SIMULATION_MAX_DELAY_MS": str(DELAY),
            "SIMULATION_PARTIAL_FILL_CHANCE": "0", "MARKET_WATERMARK_TICK_MS": "40", **more}


def quote(instrument: str, step: int, ts_ms: int) -> dict[str, Any]:
    mid = BASE[normalize(instrument)] + TICKS[normalize(instrument)] * (step % 7 - 3) * 3
    half = TICKS[normalize(instrument)]
    return {"instrument": instrument, "bid": round(mid - half, 5), "ask": round(mid + half, 5),
            "bid_size": 5_000_000 if instrument == "EURUSD" else 50, "ask_size": 5_000_000 if instrument == "EURUSD" else 50,
            "timestamp": iso_ms(ts_ms), "source": "test-feed"}


def ms_of(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


async def feed_and_intents(url: str, root: str, intent_subject: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The feed, intents between its steps, and the bad quotes; returns the intents and their stored times."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    bodies, stored = [], {}
    prefix = f"{root}.market.quote"
    try:
        for step in range(40):
            now = int(datetime.now().timestamp() * 1000)
            for instrument in ("EURUSD", "BTC/USD"):
                await js.publish(quote_subject(instrument, prefix), orjson.dumps(quote(instrument, step, now)))
            if step == 2:  # a resting buy limit the feed crosses at its lowest step (step % 7 == 0)
                low_ask = round(BASE["EURUSD"] - 9 * TICKS["EURUSD"] + TICKS["EURUSD"], 5)
                bodies.append(si.intent("bus-rest", instrument="EURUSD", order_type="limit", price=low_ask,
                                        quantity=1000, timestamp=iso_ms(now), metadata={"time_in_force": "GTC"}))
            if step % 3 == 1 and step < 34:
                for instrument, quantity in (("EURUSD", 1000), ("BTC/USD", 0.5)):
                    side = "buy" if step % 2 else "sell"
                    bodies.append(si.intent(f"bus-{step}-{normalize(instrument)}", side=side, instrument=instrument,
                                            quantity=quantity, timestamp=iso_ms(now)))
            if step == 10:
                bodies.append(si.intent("bus-gbp", instrument="GBPUSD", timestamp=iso_ms(now)))  # no quotes at all
                bad = quote("EURUSD", 0, now)
                await js.publish(quote_subject("EURUSD", prefix), orjson.dumps({**bad, "bid": bad["ask"] + 0.01}))
                await js.publish(quote_subject("EURUSD", prefix), b"{not json")
                await js.publish(quote_subject("BTC/USD", prefix), orjson.dumps(bad))  # EURUSD on BTCUSD's subject
            for body in bodies:
                if body["corr_id"] not in stored:
                    ack = await js.publish(intent_subject, si.encode(body))
                    stored[body["corr_id"]] = ack.seq
            await asyncio.sleep(STEP_S)
        return bodies, stored
    finally:
        await nc.close()


async def stored_quotes(url: str, stream: str, prefix: str) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Each instrument's good quotes with the times the stream stored them, in stream order."""
    nc = await nats.connect(url)
    try:
        sub = await nc.jetstream().pull_subscribe(f"{prefix}.>", stream=stream, config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30))
        out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        while True:
            try:
                msgs = await sub.fetch(500, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                return out
            for msg in msgs:
                try:
                    q = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    continue
                if q["bid"] <= q["ask"] and normalize(q["instrument"]) == msg.subject.rsplit(".", 1)[1]:
                    out.setdefault(normalize(q["instrument"]), []).append((delivery_of_reply(msg.reply)[2], q))
    finally:
        await nc.close()


async def stored_time_of(url: str, stream: str, seq: int) -> int:
    nc = await nats.connect(url)
    try:
        msg = await nc.jetstream().get_msg(stream, seq)
        assert msg.time is not None
        return int(msg.time.timestamp() * 1000)
    finally:
        await nc.close()




def test_fills_are_priced_from_the_quote_in_force_at_arrival_and_replay_byte_for_byte(
        nats_server, topology, start_service, tmp_path):
    root = topology.intent_subject.split(".")[0]
    service = start_service(**bus_env(root))
    bodies, seqs = run_async(feed_and_intents(nats_server.url, root, topology.intent_subject))
    stored = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={b["corr_id"] for b in bodies},
                                    timeout_s=60))
    quotes = run_async(stored_quotes(nats_server.url, topology.stream, f"{root}.market.quote"))
    assert service.metric("exec_sim_market_data_rejected_total", {"type": "crossed"}) == 1
    assert service.metric("exec_sim_market_data_rejected_total", {"type": "schema"}) == 1
    assert service.metric("exec_sim_market_data_rejected_total", {"type": "subject_mismatch"}) == 1
    assert service.metric("exec_sim_market_data_received_total", {"source": "quote"}) == 80
    assert service.stop() == 0

    by_corr = {b["corr_id"]: b for b in bodies}
    fills = {}
    for msg in stored:
        kind = kind_of(msg)
        event = orjson.loads(msg.data)
        assert_valid(VALIDATORS[kind], event)
        if kind == "fill":
            fills[msg.headers["corr_id"]] = event
    assert fills.keys() == by_corr.keys()
    assert fills["bus-gbp"]["metadata"]["reason_code"] == "no_market_data"
    for corr_id, fill in fills.items():
        intent = by_corr[corr_id]
        if corr_id in ("bus-gbp", "bus-rest"):
            continue
        receipt = run_async(stored_time_of(nats_server.url, topology.stream, seqs[corr_id]))
        arrival = receipt + DELAY
        assert ms_of(fill["timestamp"]) == arrival
        known = [q for at, q in quotes[normalize(intent["instrument"])] if at <= arrival]
        assert known, corr_id
        expected = known[-1]["ask"] if intent["side"] == "buy" else known[-1]["bid"]
        assert (fill["fill_status"], fill["fill_price"]) == ("full", expected), corr_id
        assert fill["market_data"]["ask"] == known[-1]["ask"] and fill["market_data"]["bid"] == known[-1]["bid"]

    rest = fills["bus-rest"]
    rest_arrival = run_async(stored_time_of(nats_server.url, topology.stream, seqs["bus-rest"])) + DELAY
    crossing = next(at for at, q in quotes["EURUSD"] if at > rest_arrival and q["ask"] <= by_corr["bus-rest"]["price"])
    assert (rest["fill_status"], rest["fill_price"], ms_of(rest["timestamp"])) == (
        "full", by_corr["bus-rest"]["price"], crossing)

    assert_replay_gives(service.env, stored, tmp_path)


async def publish_signals(url: str, subject: str, intent_subject: str) -> list[dict[str, Any]]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        now = int(datetime.now().timestamp() * 1000)
        signal = {"corr_id": "sig-1", "source": "test", "instrument": "BTC/USD", "price": 95_000.0, "side": None,
                  "strength": None, "timestamp": iso_ms(now), "normalized_at": iso_ms(now)}
        await js.publish(subject, orjson.dumps(signal))
        await js.publish(subject, b'{"instrument": "BTC/USD"}')  # not a normalized signal: counted, skipped
        bodies = [si.intent("sig-buy", instrument="BTC/USD", quantity=0.5, timestamp=iso_ms(now))]
        await js.publish(intent_subject, si.encode(bodies[0]))
        return bodies
    finally:
        await nc.close()


def test_signals_normalized_alone_price_fills_at_their_price_with_the_instruments_spread(
        nats_server, topology, start_service):
    root = topology.intent_subject.split(".")[0]
    service = start_service(**bus_env(root, MARKET_SIGNAL_SUBJECT=f"{root}.signals.normalized"))
    bodies = run_async(publish_signals(nats_server.url, f"{root}.signals.normalized", topology.intent_subject))
    stored = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={"sig-buy"}, timeout_s=30))
    assert service.metric("exec_sim_market_data_received_total", {"source": "signal"}) == 1
    assert service.metric("exec_sim_market_data_rejected_total", {"type": "schema"}) == 1
    assert service.stop() == 0
    [fill] = [orjson.loads(m.data) for m in stored if m.headers["Nats-Msg-Id"].endswith(":1")]
    assert fill["corr_id"] == bodies[0]["corr_id"] and fill["fill_status"] == "full"
    # BTC/USD's spread in the instruments file around 95,000, on its tick grid: above the mid, close to it.
    assert 95_000 < fill["fill_price"] < 95_000 * 1.001
    assert fill["market_data"]["bid"] < 95_000 < fill["market_data"]["ask"]


async def publish_quotes(url: str, prefix: str, asks: list[float]) -> list[int]:
    """EURUSD quotes with these asks (a 2-pip spread), one every 50 ms; their stored times."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        stored = []
        for ask in asks:
            now = int(datetime.now().timestamp() * 1000)
            body = {"instrument": "EURUSD", "bid": round(ask - 0.0002, 5), "ask": ask, "bid_size": 5e6,
                    "ask_size": 5e6, "timestamp": iso_ms(now)}
            ack = await js.publish(quote_subject("EURUSD", prefix), orjson.dumps(body))
            stored.append(await stored_time_of(url, ack.stream, ack.seq))
            await asyncio.sleep(0.05)
        return stored
    finally:
        await nc.close()


# down 0 s: the new reader reads back far enough; down 12 s with a 2 s maximum age (it reads 10 s
# back): the order's history is read from the stream for it.
@pytest.mark.parametrize("down_s, max_age_ms", [(0, "60000"), (12, "2000")])
def test_a_resting_limit_fills_at_the_first_crossing_quote_across_a_supervisor_sigkill(
        nats_server, topology, start_service, down_s, max_age_ms):
    root = topology.intent_subject.split(".")[0]
    prefix = f"{root}.market.quote"
    env = bus_env(root, ACK_WAIT_SEC="5", PUBLISH_TIMEOUT_SEC="2", MARKET_DATA_MAX_AGE_MS=max_age_ms)
    first = start_service(**env)
    run_async(publish_quotes(nats_server.url, prefix, [1.1010]))
    order = si.intent("bus-gtc", instrument="EURUSD", order_type="limit", price=1.0990, quantity=1000,
                      timestamp=iso_ms(int(datetime.now().timestamp() * 1000)), metadata={"time_in_force": "GTC"})
    run_async(publish_intents_plain(nats_server.url, topology.intent_subject, [si.encode(order)]))
    first.metric("exec_sim_intents_awaiting_market_data", expect=1)  # resting, watched
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    # While no supervisor runs: the market comes down through the limit (1.0995 does not reach it).
    stored = run_async(publish_quotes(nats_server.url, prefix, [1.1000, 1.0995, 1.0989, 1.0985]))
    time.sleep(down_s)
    second = start_service(**env)
    msgs = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={"bus-gtc"}, timeout_s=60))
    history_read = [line["records"] for line in second.log_lines() if line.get("message") == "market history read"]
    assert second.stop() == 0
    assert history_read == ([5] if down_s else [])  # the order's quote and the four that followed
    fills = [orjson.loads(m.data) for m in msgs if kind_of(m) == "fill"]
    assert len(fills) == 1, fills  # once, at the first quote whose ask reached the limit
    assert (fills[0]["fill_status"], fills[0]["fill_price"], ms_of(fills[0]["timestamp"])) == (
        "full", 1.0990, stored[2])


def test_a_quote_older_than_the_maximum_age_is_no_market_and_a_fresh_one_prices_again(
        nats_server, topology, start_service):
    root = topology.intent_subject.split(".")[0]
    prefix = f"{root}.market.quote"
    service = start_service(**bus_env(root, MARKET_DATA_MAX_AGE_MS="400"))
    run_async(publish_quotes(nats_server.url, prefix, [1.1010]))
    time.sleep(1.0)  # the quote is stale by the time the order arrives (receipt + 300 ms)
    stale = si.intent("bus-stale", instrument="EURUSD", quantity=1000,
                      timestamp=iso_ms(int(datetime.now().timestamp() * 1000)))
    run_async(publish_intents_plain(nats_server.url, topology.intent_subject, [si.encode(stale)]))
    run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={"bus-stale"}, timeout_s=30))
    [fresh_ms] = run_async(publish_quotes(nats_server.url, prefix, [1.1020]))
    fresh = si.intent("bus-fresh", instrument="EURUSD", quantity=1000,
                      timestamp=iso_ms(int(datetime.now().timestamp() * 1000)))
    run_async(publish_intents_plain(nats_server.url, topology.intent_subject, [si.encode(fresh)]))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={"bus-stale", "bus-fresh"},
                                  timeout_s=30))
    # The stale alert's evidence: one fx order refused for want of data, none of another class.
    assert service.metric("exec_sim_market_data_missing_total", {"asset_class": "fx"}, expect=1) == 1
    assert service.metric("exec_sim_market_data_missing_total", {"asset_class": "crypto"}) == 0
    assert service.stop() == 0
    # Each order's first event is its first fill.
    fills = {m.headers["corr_id"]: orjson.loads(m.data) for m in msgs if m.headers["Nats-Msg-Id"].endswith(":1")}
    assert (fills["bus-stale"]["fill_status"], fills["bus-stale"]["metadata"]["reason_code"]) == (
        "rejected", "no_market_data")
    assert (fills["bus-fresh"]["fill_status"], fills["bus-fresh"]["fill_price"]) == ("full", 1.1020)
    assert ms_of(fills["bus-fresh"]["timestamp"]) - fresh_ms < 400 + DELAY * 4  # priced from the fresh quote


def test_two_instances_on_one_consumer_price_as_one_replay_of_the_stream(nats_server, topology, start_service,
                                                                          tmp_path):
    root = topology.intent_subject.split(".")[0]
    first, second = start_service(**bus_env(root)), start_service(**bus_env(root))
    bodies, _ = run_async(feed_and_intents(nats_server.url, root, topology.intent_subject))
    stored = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids={b["corr_id"] for b in bodies},
                                    timeout_s=60))
    executed = [[line["corr_id"] for line in s.log_lines() if line.get("message") == "intent executed"]
                for s in (first, second)]
    assert first.stop() == 0 and second.stop() == 0
    assert all(executed) and not set(executed[0]) & set(executed[1])  # both worked, none twice
    ids = [m.headers["Nats-Msg-Id"] for m in stored]
    assert len(ids) == len(set(ids))
    assert_replay_gives(first.env, stored, tmp_path)
