"""A corr_id is its agent's own: another agent's intent under the same corr_id is filled, on one
instance and after a restart, each under its own message ids; an agent's own repeat is still refused
(by the corr_id window while the process runs; after a restart by its first event, which the stream
holds already for the first message, however differently the repeat executed).
Against a real nats-server, the service as `at-exec-sim run`."""

from __future__ import annotations

import math
from collections import defaultdict

import orjson
import pytest

from tools import sample_intents as si

from .conftest import ServiceProcess, Topology, publish_intents, run_async, stored_messages

pytestmark = pytest.mark.integration


def stored_after_every_fill(service: ServiceProcess, url: str, topology: Topology, orders: int) -> list:
    """The stream's outputs once `orders` orders have their last fill (full) and every fill its reconcile."""
    assert service.metric("exec_sim_fills_generated_total", {"fill_type": "full"}, expect=orders) == orders
    fills = service.metric("exec_sim_fills_generated_total", {"fill_type": "partial"}) + orders
    assert service.metric("exec_sim_reconciles_generated_total", expect=fills) == fills
    return run_async(stored_messages(url, topology, topology.output_filter))


def ids_by_agent(msgs, topology: Topology) -> dict[str, list[str]]:
    """agent_id (from the fill's or reconcile's body) -> the Nats-Msg-Ids of its events, in stream order."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for msg in msgs:
        grouped[orjson.loads(msg.data)["agent_id"]].append(msg.headers["Nats-Msg-Id"])
    return grouped


def assert_one_order_per_agent(msgs, topology: Topology, corr_id: str) -> None:
    """A sold 5 BTC/USD (however many fills the book made of it), B bought one lot of EURUSD (one fill);
    each under its own message ids."""
    by_agent = ids_by_agent(msgs, topology)
    assert by_agent["agent_b"] == [f"agent_b:{corr_id}:1", f"agent_b:{corr_id}:2"]
    assert by_agent["agent_a"] == [f"agent_a:{corr_id}:{n}" for n in range(1, len(by_agent["agent_a"]) + 1)]
    fills = [orjson.loads(m.data) for m in msgs if m.subject == topology.fill_subject]
    assert {(f["agent_id"], f["instrument"], f["side"]) for f in fills} == {
        ("agent_a", "BTC/USD", "sell"), ("agent_b", "EURUSD", "buy")}
    assert math.isclose(sum(f["fill_quantity"] for f in fills if f["agent_id"] == "agent_a"), 5)
    assert [f["fill_quantity"] for f in fills if f["agent_id"] == "agent_b"] == [1000]


def test_a_corr_id_is_an_agents_own_another_agent_may_use_it(nats_server, topology, start_service):
    service = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0")
    a_sells = si.encode(si.intent("x", "market", "sell", "BTC/USD", 5, agent_id="agent_a"))
    b_buys = si.encode(si.intent("x", "market", "buy", "EURUSD", 1000, agent_id="agent_b"))
    run_async(publish_intents(nats_server.url, topology.intent_subject, [a_sells, b_buys, a_sells]))
    # Judged: both agents' intents accepted, A's repeat (and only it) a duplicate.
    assert service.metric("exec_sim_orders_received_total", {"status": "accepted"}, expect=2) == 2
    assert service.metric("exec_sim_duplicate_orders_total", expect=1) == 1
    assert_one_order_per_agent(stored_after_every_fill(service, nats_server.url, topology, 2), topology, "x")
    duplicates = [line for line in service.log_lines() if line.get("rejection_type") == "duplicate"]
    assert len(duplicates) == 1 and "agent_a" in duplicates[0]["detail"]
    assert service.metric("exec_sim_events_deduplicated_total", {"kind": "fill"}) == 0
    assert service.stop() == 0


@pytest.mark.parametrize("first_slippage, repeat_slippage", [("book", "book"), ("sqrt_impact", "book")])
def test_an_agents_repeat_after_a_restart_stores_nothing_and_another_agents_corr_id_is_filled(
        nats_server, topology, start_service, first_slippage, repeat_slippage):
    # A new process has an empty corr_id window: the stream holds what was executed. A's repeat is
    # priced at its own arrival, so it can execute to other fills than the first time: the book
    # walked at another moment (book, book), or, forced here, under another slippage model that
    # makes several fills of what was one (sqrt_impact, then book). Either way nothing of it is stored.
    a_sells = si.encode(si.intent("y", "market", "sell", "BTC/USD", 5, agent_id="agent_a"))
    b_buys = si.encode(si.intent("y", "market", "buy", "EURUSD", 1000, agent_id="agent_b"))
    first = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0", SIMULATION_SLIPPAGE_MODEL=first_slippage)
    run_async(publish_intents(nats_server.url, topology.intent_subject, [a_sells]))
    a_stored = stored_after_every_fill(first, nats_server.url, topology, 1)
    assert first.stop() == 0
    second = start_service(SIMULATION_PARTIAL_FILL_CHANCE="0", SIMULATION_SLIPPAGE_MODEL=repeat_slippage)
    run_async(publish_intents(nats_server.url, topology.intent_subject, [b_buys, a_sells]))
    assert second.metric("exec_sim_duplicate_orders_total", expect=1) == 1
    msgs = stored_after_every_fill(second, nats_server.url, topology, 1)
    # A's repeat published its first event only, which the stream dropped.
    assert second.metric("exec_sim_events_deduplicated_total", {"kind": "fill"}) == 1
    assert second.metric("exec_sim_events_deduplicated_total", {"kind": "reconcile"}) == 0
    assert [m.data for m in msgs if orjson.loads(m.data)["agent_id"] == "agent_a"] == [m.data for m in a_stored]
    assert len(msgs) == len(a_stored) + 2
    assert_one_order_per_agent(msgs, topology, "y")
    duplicates = [line for line in second.log_lines() if line.get("rejection_type") == "duplicate"]
    assert len(duplicates) == 1 and "agent_a" in duplicates[0]["detail"]
    assert second.stop() == 0
