"""Strategy-testing controls end to end: seeded venue faults marked with Exec-Sim-Fault and
counted, the duplicate fill, the delayed reconcile held behind the agent's next fill, the
keepalive of a long forced delay, forced outcomes and invalid directives."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import nats
import orjson
import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from common.contracts import FILL, ORDER_UPDATE, RECONCILE, load_schema
from tools import sample_intents as si
from worker.faults import FAULTS

from .conftest import (
    Topology,
    assert_exactly_once,
    consumer_state,
    publish_intents,
    read_outputs,
    run_async,
    stored_messages,
)
from .conftest import kind_of as event_kind

pytestmark = pytest.mark.integration

FAULT_HEADER = "Exec-Sim-Fault"
FILL_VALIDATOR = Draft202012Validator(load_schema(FILL), format_checker=Draft202012Validator.FORMAT_CHECKER)
RECONCILE_VALIDATOR = Draft202012Validator(load_schema(RECONCILE), format_checker=Draft202012Validator.FORMAT_CHECKER)
# The at-core order_update contract is draft-07.
ORDER_UPDATE_VALIDATOR = Draft7Validator(load_schema(ORDER_UPDATE), format_checker=Draft7Validator.FORMAT_CHECKER)

# Each fault alone at probability 1, with its timing kept short.
FAULT_ENV = {
    "venue_reject": {"FAULT_REJECT_PROBABILITY": "1"},
    "latency_spike": {"FAULT_LATENCY_SPIKE_PROBABILITY": "1", "FAULT_LATENCY_SPIKE_MS": "200"},
    "duplicate_fill": {"FAULT_DUPLICATE_FILL_PROBABILITY": "1"},
    "reconcile_delayed": {"FAULT_RECONCILE_DELAY_PROBABILITY": "1", "FAULT_RECONCILE_DELAY_MAX_MS": "300"},
    "instrument_halt": {"FAULT_HALT_PROBABILITY": "1"},
}


def kind_of(msg) -> str:
    """fill, fill_duplicate (the copy an injected duplicate_fill fault adds), reconcile or order_update."""
    kind = event_kind(msg)
    if kind == "fill" and "duplicate_fill" in msg.headers.get(FAULT_HEADER, "").split(",")[:1]:
        return "fill_duplicate"
    return kind


def validated(msg, topology: Topology) -> dict:
    """The event's body, checked against its at-core schema."""
    body = orjson.loads(msg.data)
    validator = {topology.fill_subject: FILL_VALIDATOR, topology.reconcile_subject: RECONCILE_VALIDATOR,
                 topology.order_update_subject: ORDER_UPDATE_VALIDATOR}[msg.subject]
    validator.validate(body)
    return body


def stored_at(msg) -> float:
    return msg.metadata.timestamp.timestamp()


def outputs(url: str, topology: Topology):
    return run_async(stored_messages(url, topology, topology.output_filter))


def answered(url: str, topology: Topology, bodies: list[dict]) -> list:
    """Publish the intents, wait until each is answered, and return every stored output."""
    run_async(publish_intents(url, topology.intent_subject, [si.encode(b) for b in bodies]))
    run_async(read_outputs(url, topology, 0, corr_ids={b["corr_id"] for b in bodies}))
    return outputs(url, topology)


async def publish_spaced(url: str, subject: str, payloads: list[bytes], gap_s: float) -> None:
    """Publish through JetStream one at a time, `gap_s` apart."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for n, payload in enumerate(payloads):
            if n:
                await asyncio.sleep(gap_s)
            await js.publish(subject, payload, timeout=10)
    finally:
        await nc.close()


def assert_all_settled(url: str, topology: Topology) -> None:
    info = run_async(consumer_state(url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0, info
    assert info.num_redelivered == 0, info


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_at_probability_one_is_marked_on_its_events_and_counted(
        nats_server, topology, start_service, fault):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0", **FAULT_ENV[fault])
    bodies = [si.intent(f"f-{fault}-{n}") for n in range(4)]
    corr_ids = {b["corr_id"] for b in bodies}
    msgs = answered(nats_server.url, topology, bodies)

    marked: dict[str, int] = defaultdict(int)
    for msg in msgs:
        body = validated(msg, topology)
        header = msg.headers.get(FAULT_HEADER)
        in_body = ",".join(body["metadata"].get("faults", [])) or None
        if kind_of(msg) == "fill_duplicate":  # the same bytes as the first fill, marked as the copy
            assert header == ",".join(["duplicate_fill", *([in_body] if in_body else [])]), (msg.headers, body)
        else:
            assert header == in_body, (msg.headers, body)
        if header is not None and fault in header.split(","):
            marked[msg.headers["corr_id"]] += 1
    assert set(marked) == corr_ids, marked  # every intent met the fault, on at least one event
    assert service.metric("exec_sim_faults_injected_total", {"fault": fault}, expect=len(bodies)) == len(bodies)
    for other in FAULTS:
        if other != fault:
            assert service.metric("exec_sim_faults_injected_total", {"fault": other}) == 0, other
    assert_all_settled(nats_server.url, topology)
    assert service.stop() == 0


def test_a_duplicated_fill_is_the_same_fill_twice_under_another_message_id(nats_server, topology, start_service):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0", FAULT_DUPLICATE_FILL_PROBABILITY="1")
    # One lot each: within the touch, one fill (then its duplicate).
    bodies = [si.intent(f"dup-fill-{n}", instrument=instrument, quantity=si.in_lots(instrument, 1))
              for n, instrument in enumerate(("EURUSD", "AAPL", "BTC/USD", "SPY", "GLD"))]
    corr_ids = {b["corr_id"] for b in bodies}
    msgs = answered(nats_server.url, topology, bodies)

    by_corr: dict[str, list] = defaultdict(list)
    for msg in msgs:
        validated(msg, topology)
        by_corr[msg.headers["corr_id"]].append(msg)
    assert set(by_corr) == corr_ids
    for corr_id, events in by_corr.items():
        assert [kind_of(m) for m in events] == ["fill", "fill_duplicate", "reconcile"], corr_id
        original, copy, reconcile = events
        assert copy.data == original.data  # same fill_id, same values: byte for byte
        assert orjson.loads(copy.data)["fill_id"] == orjson.loads(original.data)["fill_id"]
        assert copy.headers["Nats-Msg-Id"] != original.headers["Nats-Msg-Id"]
        assert copy.headers[FAULT_HEADER] == "duplicate_fill"
        assert FAULT_HEADER not in original.headers and FAULT_HEADER not in reconcile.headers
    ids = [m.headers["Nats-Msg-Id"] for m in msgs]
    assert len(ids) == len(set(ids)) == 3 * len(bodies)
    assert service.metric("exec_sim_faults_injected_total", {"fault": "duplicate_fill"}, expect=len(bodies)) == len(bodies)
    assert_all_settled(nats_server.url, topology)
    assert service.stop() == 0


@pytest.mark.parametrize("clock", ["wall", "virtual"])  # the maximum wait is real time under either
def test_a_delayed_reconcile_is_stored_after_the_agents_next_fill_or_the_maximum_wait(
        nats_server, topology, start_service, clock):
    max_wait_s = 1.5
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0", FAULT_RECONCILE_DELAY_PROBABILITY="1",
                            FAULT_RECONCILE_DELAY_MAX_MS=str(int(max_wait_s * 1000)), SIMULATION_CLOCK=clock)
    # Agent A's intents a little apart, agent B's in between: B's fills must not release A's holds.
    order = [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    bodies = [si.intent(f"held-{agent}{n}", agent_id=f"agent_{agent}") for agent, n in order]
    corr_ids = {b["corr_id"] for b in bodies}
    run_async(publish_spaced(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies], gap_s=0.3))
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids=corr_ids))
    msgs = outputs(nats_server.url, topology)
    assert_exactly_once(msgs, topology, corr_ids)

    position = {(m.headers["corr_id"], kind_of(m)): n for n, m in enumerate(msgs)}
    at = {(m.headers["corr_id"], kind_of(m)): stored_at(m) for m in msgs}
    for msg in msgs:
        validated(msg, topology)
        if kind_of(msg) == "reconcile":
            assert msg.headers[FAULT_HEADER] == "reconcile_delayed"
    for agent in ("a", "b"):
        mine = [f"held-{agent}{n}" for a, n in order if a == agent]
        for held, next_one in zip(mine, mine[1:]):
            # Released by the agent's next fill: stored after it, and well before the maximum wait.
            assert position[(held, "reconcile")] > position[(next_one, "fill")], (held, next_one)
            assert at[(held, "reconcile")] - at[(held, "fill")] < max_wait_s, held
        last = mine[-1]  # no later fill of the agent: released by the maximum wait
        waited = at[(last, "reconcile")] - at[(last, "fill")]
        assert max_wait_s - 0.1 <= waited < max_wait_s + 1.0, (last, waited)
    assert service.metric("exec_sim_faults_injected_total", {"fault": "reconcile_delayed"},
                          expect=len(bodies)) == len(bodies)
    assert_all_settled(nats_server.url, topology)
    assert service.stop() == 0


@pytest.mark.parametrize("consumer", ["created with it", "existing, made by an earlier instance"])
def test_a_forced_delay_longer_than_ack_wait_is_kept_alive_and_not_redelivered(
        nats_server, topology, start_service, consumer):
    ack_wait_s, delay_ms = 2, 6000
    # ACK_WAIT_SEC must exceed the longest random execution plus the publish timeout; a forced delay is not part of it.
    env = dict(ACK_WAIT_SEC=str(ack_wait_s), PUBLISH_TIMEOUT_SEC="0.5", SIMULATION_PARTIAL_FILL_CHANCE="0")
    if consumer.startswith("existing"):
        # The consumer keeps the 2 s it was made with; this instance's own setting (60 s) must not
        # be what its progress acks go by.
        assert start_service(**env).stop() == 0
        del env["ACK_WAIT_SEC"]
    service = start_service(**env)
    slow = si.intent("slow-1", metadata={"exec_sim_force": {"delay_ms": delay_ms}})
    quick = si.intent("quick-1")
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(slow), si.encode(quick)]))
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"slow-1", "quick-1"}, timeout_s=20))
    msgs = outputs(nats_server.url, topology)
    assert_exactly_once(msgs, topology, {"slow-1", "quick-1"})
    intents = run_async(stored_messages(nats_server.url, topology, topology.intent_subject))
    intent_at = {orjson.loads(m.data)["corr_id"]: stored_at(m) for m in intents}
    fill = next(m for m in msgs if m.headers["corr_id"] == "slow-1" and kind_of(m) == "fill")
    assert validated(fill, topology)["execution_latency_ms"] == delay_ms
    assert stored_at(fill) - intent_at["slow-1"] >= delay_ms / 1000 - 0.01
    info = run_async(consumer_state(nats_server.url, topology))
    # Delivered once each, never again: the progress acks kept the slow one's ack_wait from running out.
    assert info.delivered.consumer_seq == 2, info
    assert info.num_redelivered == 0 and info.num_ack_pending == 0 and info.num_pending == 0, info
    assert "redelivered intent already executed" not in service.log()
    assert service.stop() == 0


def test_forced_outcomes_and_invalid_directives_end_to_end_without_fault_marks(nats_server, topology, start_service):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    reason = "risk desk says no"
    bodies = {
        "forced-reject": si.intent("forced-reject", metadata={"exec_sim_force": {"outcome": "reject", "reason": reason}}),
        "forced-partial": si.intent("forced-partial", instrument="AAPL", quantity=1000,
                                    metadata={"exec_sim_force": {"outcome": "partial", "fill_ratio": 0.25}}),
        "forced-full": si.intent("forced-full", metadata={"exec_sim_force": {"outcome": "full"}}),
        "plain": si.intent("plain"),
    }
    forever = si.intent("bad-tif", metadata={"time_in_force": "FOREVER"})
    payloads = [si.encode(b) for b in bodies.values()] + [si.encode(forever)]
    run_async(publish_intents(nats_server.url, topology.intent_subject, payloads))
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids=set(bodies)))
    msgs = outputs(nats_server.url, topology)
    assert_exactly_once(msgs, topology, set(bodies))

    events: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for msg in msgs:
        assert FAULT_HEADER not in msg.headers  # no fault configured: no mark anywhere
        events[msg.headers["corr_id"]].append((kind_of(msg), validated(msg, topology)))
    assert "bad-tif" not in events

    rejected = events["forced-reject"]
    assert [k for k, _ in rejected] == ["fill", "reconcile", "order_update"]
    assert rejected[0][1]["fill_status"] == "rejected" and rejected[0][1]["reject_reason"] == reason
    assert rejected[2][1]["status"] == "rejected" and rejected[2][1]["reject_reason"] == reason

    partial = events["forced-partial"]
    assert [k for k, _ in partial] == ["fill", "reconcile", "fill", "reconcile", "order_update"]
    assert [b["fill_status"] for k, b in partial if k == "fill"] == ["partial", "cancelled"]
    assert partial[0][1]["fill_quantity"] == 250
    assert partial[4][1]["status"] == "cancelled" and partial[4][1]["filled_quantity"] == 250

    for name in ("forced-full", "plain"):
        assert [(k, b.get("fill_status")) for k, b in events[name]] == [("fill", "full"), ("reconcile", None)]

    assert service.metric("exec_sim_validation_errors_total", {"type": "invalid_directive"}, expect=1) == 1
    assert service.metric("exec_sim_orders_received_total", {"status": "invalid"}, expect=1) == 1
    assert service.metric("exec_sim_orders_received_total", {"status": "accepted"}, expect=len(bodies)) == len(bodies)
    # The fault counter's series exist at zero, one per fault.
    text = service.get("/metrics")[1].decode()
    for fault in FAULTS:
        assert f'exec_sim_faults_injected_total{{fault="{fault}"}} 0.0' in text, fault
    assert_all_settled(nats_server.url, topology)
    assert service.stop() == 0


def test_a_reconcile_held_at_shutdown_is_handed_back_and_finished_by_the_next_instance(
        nats_server, topology, start_service):
    # The default ack_wait (60 s): the hand-back's nak asks for a redelivery after the stopping
    # instance's pull requests have expired, so the next instance has it in seconds, not after ack_wait.
    env = dict(SIMULATION_PARTIAL_FILL_CHANCE="0", FAULT_RECONCILE_DELAY_PROBABILITY="1",
               FAULT_RECONCILE_DELAY_MAX_MS="2000", SHUTDOWN_TIMEOUT_SEC="0.5", PUBLISH_TIMEOUT_SEC="0.5")
    first = start_service(**env)
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(si.intent("held-at-stop"))]))
    assert [kind_of(m) for m in run_async(read_outputs(nats_server.url, topology, expected=1))] == ["fill"]
    assert first.stop() == 0  # the hold outlasts the shutdown deadline: handed back like any other intent
    log = first.log()
    assert "handing back unfinished intents" in log and "(held reconcile)" in log

    second = start_service(**env)
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"held-at-stop"}, timeout_s=20))
    msgs = outputs(nats_server.url, topology)
    assert_exactly_once(msgs, topology, {"held-at-stop"})
    assert second.metric("exec_sim_events_deduplicated_total", {"kind": "fill"}, expect=1) == 1
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0, info
    assert second.stop() == 0


def test_a_gtc_limit_rests_and_is_stored_when_the_price_path_first_reaches_it(nats_server, topology, start_service):
    """Under the wall clock: the fill's market time is the path's first crossing after the order's
    arrival (its stored time + delay), and the stream stores it no earlier than that wait."""
    from common.instruments import load_instruments
    from worker.events import iso_ms
    from worker.market import Market

    seed = "resting-e2e"
    env = dict(SIMULATION_SEED=seed, SIMULATION_MIN_DELAY_MS="100", SIMULATION_MAX_DELAY_MS="100",
               SIMULATION_PARTIAL_FILL_CHANCE="0", SIMULATION_LIQUIDITY_SHARE="0")
    service = start_service(**env)
    service.wait_http("/healthz")
    book = load_instruments()
    market = Market(seed.encode(), book)
    # The arrival is the intent's stored time + 100 ms, known only once it is stored: pick a step
    # at least LEAD_S ahead whose ask is a new low against every ask from a step before now on, so
    # the first crossing is that step for any arrival within the lead.
    lead_ms = 3000
    now_ms = int(time.time() * 1000)
    first = now_ms - (now_ms - book.reference_ms) % 1000 - 1000
    instants = [first + 1000 * k for k in range(120)]
    asks = [market.quote("BTC/USD", t).ask for t in instants]
    j = next((j for j in range(len(asks)) if instants[j] >= now_ms + lead_ms and asks[j] < min(asks[:j])), None)
    assert j is not None
    level = asks[j]  # a buy limit at the new low of the ask: every earlier ask is above it
    body = si.intent("rest-1", order_type="limit", side="buy", instrument="BTC/USD", quantity=0.25,
                     metadata={"time_in_force": "GTC"})
    body["price"] = level
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(body)]))
    intent_msg = run_async(stored_messages(nats_server.url, topology, topology.intent_subject))[-1]
    receipt_ms = int(intent_msg.metadata.timestamp.timestamp() * 1000)
    assert receipt_ms + 100 < instants[j], "published too slowly for the chosen step"
    msgs = run_async(read_outputs(nats_server.url, topology, 2, corr_ids={"rest-1"}, timeout_s=150), timeout_s=160)
    fill = next(m for m in msgs if m.subject == topology.fill_subject)
    body_out = validated(fill, topology)
    assert body_out["fill_status"] == "full" and body_out["fill_price"] == level  # a posted limit fills at it
    assert body_out["metadata"]["market_time"] == iso_ms(instants[j])  # the first crossing, not a step before
    assert body_out["timestamp"] == body_out["metadata"]["market_time"]
    waited = stored_at(fill) - stored_at(intent_msg)
    assert waited >= body_out["execution_latency_ms"] / 1000 - 0.002  # the stream's ms stamps round
    assert_exactly_once(outputs(nats_server.url, topology), topology, {"rest-1"})
    assert_all_settled(nats_server.url, topology)
    assert service.stop() == 0


def test_a_stop_hands_back_at_once_a_resting_order_that_cannot_fill_before_the_deadline(
        nats_server, topology, start_service):
    """SIGTERM waits SHUTDOWN_TIMEOUT_SEC for what can finish, not for a GTC order days from its fill."""
    service = start_service(SIMULATION_MARKET_SESSIONS="off", SHUTDOWN_TIMEOUT_SEC="120")
    far = si.intent("rest-far", order_type="limit", side="buy", instrument="BTC/USD", quantity=0.1,
                    metadata={"time_in_force": "GTC"})
    far["price"] = 1.0  # a buy limit at 1 on BTC: rests until it expires, a week on
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(far), si.encode(si.intent("quick-2"))]))
    run_async(read_outputs(nats_server.url, topology, 0, corr_ids={"quick-2"}, timeout_s=20))
    assert service.metric("exec_sim_intents_in_flight", expect=1) == 1  # simulated, resting
    started = time.monotonic()
    assert service.stop() == 0
    assert time.monotonic() - started < 60  # far below the 120 s it would have waited
    assert "handing back unfinished intents" in service.log()
    # Handed back, not lost: the stream holds it for the next instance.
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending + info.num_pending == 1, info
