"""One agent must not harm another: long orders cannot take the room short ones need.

An attacker fills what it can with long orders (a forced delay of an hour, or GTC buy limits
far below the market); another agent's market orders still fill at once, each agent holds at
most its share of the long-order room, the refused orders are typed (EXEC-017) and counted,
and /healthz and exec_sim_room_exhausted say when the long-order room is full.
"""

from __future__ import annotations

import orjson
import pytest

from common.error_codes import DUPLICATE_CORR_ID, LONG_ORDER_REFUSED
from tools import sample_intents as si

from .conftest import assert_exactly_once, consumer_state, publish_intents, read_outputs, run_async

pytestmark = pytest.mark.integration

ROOM = dict(MAX_IN_FLIGHT="300", BATCH_SIZE="100", MAX_LONG_ORDERS="300", MAX_LONG_ORDERS_PER_AGENT="250")
VICTIM_BOUND_S = 10.0


def long_order(kind: str, corr_id: str, agent_id: str) -> bytes:
    if kind == "forced delay":
        body = si.intent(corr_id, agent_id=agent_id, metadata={"exec_sim_force": {"delay_ms": 3_600_000}})
    else:  # a GTC buy limit that rests: far below the market
        body = si.intent(corr_id, order_type="limit", side="buy", instrument="BTC/USD", quantity=0.25,
                         agent_id=agent_id, metadata={"time_in_force": "GTC"})
        body["price"] = 0.01
    return si.encode(body)


@pytest.mark.parametrize("kind", ["forced delay", "resting GTC"])
def test_long_orders_cannot_starve_another_agents_market_orders(nats_server, topology, start_service, kind):
    env = dict(ROOM, SIMULATION_FORCED_OUTCOMES="on" if kind == "forced delay" else "off")
    service = start_service(**env)
    url, subject = nats_server.url, topology.intent_subject
    # 400 from one agent: it holds its share (250), the rest is refused.
    run_async(publish_intents(url, subject, [long_order(kind, f"m1-{i}", "mallory-1") for i in range(400)]))
    assert service.metric("exec_sim_long_orders_refused_total", {"reason": "agent_share"}, expect=150) == 150
    assert service.metric("exec_sim_long_orders", expect=250) == 250
    assert service.get("/healthz")[0] == 200  # one agent at its share leaves room for the others
    # 100 from a second one: the room fills (300), the rest is refused for room.
    run_async(publish_intents(url, subject, [long_order(kind, f"m2-{i}", "mallory-2") for i in range(100)]))
    assert service.metric("exec_sim_long_orders_refused_total", {"reason": "room"}, expect=50) == 50
    assert service.metric("exec_sim_long_orders", expect=300) == 300
    assert service.metric("exec_sim_room_exhausted", {"room": "long_orders"}, expect=1) == 1
    body = orjson.loads(service.wait_http("/healthz", status=503))
    assert body["status"] == "degraded" and body["room_exhausted"] == ["long_orders"], body
    assert body["nats"] == "connected" and body["long_orders"] == 300, body

    victims = [si.intent(f"alice-{i}", agent_id="alice") for i in range(20)]
    run_async(publish_intents(url, subject, [si.encode(v) for v in victims]))
    corr_ids = {v["corr_id"] for v in victims}
    msgs = run_async(read_outputs(url, topology, 0, corr_ids=corr_ids, timeout_s=VICTIM_BOUND_S))
    answered = {m.headers["corr_id"] for m in msgs}
    assert answered == corr_ids, f"{len(corr_ids - answered)} of 20 market orders unanswered in {VICTIM_BOUND_S:g} s"
    assert_exactly_once(msgs, topology, corr_ids)  # and nothing for the long orders: none is due

    refusals = [line for line in service.log_lines() if line.get("error_code") == LONG_ORDER_REFUSED]
    assert len(refusals) == 200 and all(line["corr_id"].startswith("m") for line in refusals)
    assert service.metric("exec_sim_orders_received_total", {"status": "refused"}) == 200
    assert service.metric("exec_sim_validation_errors_total", {"type": "long_order_room"}) == 200
    info = run_async(consumer_state(url, topology))
    assert info.num_ack_pending == 300 and info.num_redelivered == 0, info  # held, none refused twice
    assert service.stop() == 0



FLOOD = 400
# The flood's simulated delay: short of LONG_ORDER_AFTER_SEC (10 s), so the flood holds the executing
# room, and long enough that its first MAX_IN_FLIGHT held the fetch for as long before.
FLOOD_DELAY_MS = 8_000
QUIET_BOUND_S = 5.0


def test_a_flood_beyond_max_in_flight_does_not_hold_back_intents_published_after_it(
        nats_server, topology, start_service):
    service = start_service(MAX_IN_FLIGHT="100", BATCH_SIZE="50", SIMULATION_FORCED_OUTCOMES="on")
    url, subject = nats_server.url, topology.intent_subject
    flood = [si.encode(si.intent(f"flood-{i}", agent_id="mallory",
                                 metadata={"exec_sim_force": {"delay_ms": FLOOD_DELAY_MS}})) for i in range(FLOOD)]
    quiet = [si.intent(f"alice-{i}", agent_id="alice") for i in range(20)]
    run_async(publish_intents(url, subject, flood + [si.encode(q) for q in quiet]))
    corr_ids = {q["corr_id"] for q in quiet}
    msgs = run_async(read_outputs(url, topology, 0, corr_ids=corr_ids, timeout_s=QUIET_BOUND_S))
    quiet_msgs = [m for m in msgs if m.headers["corr_id"] in corr_ids]
    unanswered = corr_ids - {m.headers["corr_id"] for m in quiet_msgs}
    assert not unanswered, f"{len(unanswered)} of 20 intents behind the flood unanswered in {QUIET_BOUND_S:g} s"
    assert_exactly_once(quiet_msgs, topology, corr_ids)
    # The flood's intents wait out their delay beyond their agent's share (25 of 100), not refused.
    assert len(msgs) == len(quiet_msgs), "a flood intent answered before its simulated delay"
    assert service.metric("exec_sim_intents_over_share") > 0
    flood_ids = {f"flood-{i}" for i in range(FLOOD)}
    flood_msgs = run_async(read_outputs(url, topology, 0, corr_ids=flood_ids, timeout_s=30))
    assert_exactly_once([m for m in flood_msgs if m.headers["corr_id"] in flood_ids], topology, flood_ids)
    assert service.metric("exec_sim_intents_in_flight", expect=0) == 0
    assert service.metric("exec_sim_intents_over_share", expect=0) == 0
    assert service.stop() == 0


def test_a_repeated_long_order_is_a_duplicate_even_when_its_agent_is_at_its_share(
        nats_server, topology, start_service):
    service = start_service(MAX_LONG_ORDERS_PER_AGENT="2", SIMULATION_FORCED_OUTCOMES="on")
    url, subject = nats_server.url, topology.intent_subject
    run_async(publish_intents(url, subject, [long_order("forced delay", f"held-{i}", "mallory") for i in range(2)]))
    assert service.metric("exec_sim_long_orders", expect=2) == 2
    run_async(publish_intents(url, subject, [long_order("forced delay", "held-0", "mallory")]))
    assert service.metric("exec_sim_duplicate_orders_total", expect=1) == 1
    codes = [line.get("error_code") for line in service.log_lines() if line.get("corr_id") == "held-0"
             and line.get("message") == "intent rejected"]
    assert codes == [DUPLICATE_CORR_ID], codes  # not EXEC-017: sending it again later would not help
    assert service.metric("exec_sim_long_orders_refused_total", {"reason": "agent_share"}) == 0
    assert service.stop() == 0
