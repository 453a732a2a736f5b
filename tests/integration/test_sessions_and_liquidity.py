"""The service end to end with the realism on: market sessions, order updates and child fills,
as an agent sees them on the stream."""

from __future__ import annotations

from fractions import Fraction

import orjson
import pytest

from tools import sample_intents as si

from .conftest import consumer_state, publish_intents, read_outputs, run_async
from .test_service import assert_well_formed, events_by_corr_id

pytestmark = pytest.mark.integration

HOLIDAY = "2026-12-25T15:00:00.000Z"  # Christmas: NYSE closed, crypto trading
SATURDAY = "2026-11-28T12:00:00.000Z"  # FX closed, crypto trading
WEDNESDAY = "2026-11-25T15:00:00.000Z"  # everything open


def test_closed_markets_reject_with_an_order_update_and_open_ones_fill(nats_server, topology, start_service):
    service = start_service(SIMULATION_CLOCK="virtual", SIMULATION_MARKET_SESSIONS="on", SIMULATION_SEED="sessions",
                            SIMULATION_PARTIAL_FILL_CHANCE="0")
    cases = {
        "xmas-aapl": ("AAPL", HOLIDAY, "rejected"),
        "xmas-btc": ("BTC/USD", HOLIDAY, "full"),
        "sat-eur": ("EURUSD", SATURDAY, "rejected"),
        "sat-eth": ("ETH/USD", SATURDAY, "full"),
        "wed-aapl": ("AAPL", WEDNESDAY, "full"),
    }
    bodies = [si.intent(cid, "market", instrument=inst, quantity=si.quantity_for(inst, 10_000), timestamp=ts)
              for cid, (inst, ts, _) in cases.items()]
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies]))
    msgs = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids=set(cases)))
    grouped = events_by_corr_id(msgs, topology)  # every event checked against its at-core schema
    for corr_id, (instrument, _, outcome) in cases.items():
        events = grouped[corr_id]
        assert_well_formed(events)
        fills = [body for kind, body in events if kind == "fill"]
        assert [f["fill_status"] for f in fills] == [outcome], corr_id
        if outcome == "rejected":
            update = events[-1][1]
            assert update["status"] == update["event_type"] == "rejected"
            assert update["metadata"]["reason_code"] == "market_closed"
            assert update["reject_reason"].startswith("market_closed: ")
            assert update["symbol"] == instrument and update["filled_quantity"] == 0
            assert fills[0]["metadata"]["reason_code"] == "market_closed"
    assert service.metric("exec_sim_order_updates_generated_total", {"status": "rejected"}, expect=2) == 2
    assert service.metric("exec_sim_fills_generated_total", {"fill_type": "rejected"}, expect=2) == 2
    assert service.metric("exec_sim_fills_generated_total", {"fill_type": "full"}, expect=3) == 3
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert service.stop() == 0


def test_a_large_order_fills_in_child_fills_within_the_liquidity(nats_server, topology, start_service):
    # A child fill may take 0.5 % of the visible book (the touch and 20 levels, about 400 touches).
    service = start_service(SIMULATION_CLOCK="virtual", SIMULATION_LIQUIDITY_SHARE="0.005", SIMULATION_SEED="liquidity",
                            SIMULATION_PARTIAL_FILL_CHANCE="0", SIMULATION_MAX_CHILD_FILLS="40")
    quantity = 2.5  # BTC: several times what one child may take
    bodies = [si.intent(f"big-{n}", "market", instrument="BTC/USD", quantity=quantity, timestamp=WEDNESDAY)
              for n in range(3)]
    run_async(publish_intents(nats_server.url, topology.intent_subject, [si.encode(b) for b in bodies]))
    corr_ids = {b["corr_id"] for b in bodies}
    msgs = run_async(read_outputs(nats_server.url, topology, expected=0, corr_ids=corr_ids), timeout_s=60)
    grouped = events_by_corr_id(msgs, topology)
    for corr_id in corr_ids:
        events = grouped[corr_id]
        assert_well_formed(events)
        fills = [body for kind, body in events if kind == "fill"]
        assert [f["fill_status"] for f in fills] == ["partial"] * (len(fills) - 1) + ["full"]
        assert sum(Fraction(f["fill_quantity"]) for f in fills) <= Fraction(quantity)
        assert sum(f["fill_quantity"] for f in fills) == pytest.approx(quantity, abs=1e-8)
        # Child fills one second apart (each may report several fills, one per level, at one instant).
        children = sorted({f["execution_latency_ms"] for f in fills})
        assert len(children) >= 3, "a quantity beyond one child's reach must be split"
        assert [b - a for a, b in zip(children, children[1:])] == [1000] * (len(children) - 1)
        for f in fills:  # on the tick grid, at the ask or beyond it
            assert f["fill_price"] >= f["market_data"]["ask"] - 1e-9
            assert abs(round(f["fill_price"] / 0.01) * 0.01 - f["fill_price"]) < 1e-6
        assert [orjson.loads(m.data)["fill_id"] for m in msgs
                if m.subject == topology.fill_subject and m.headers["corr_id"] == corr_id] == [
            f"fill_{corr_id}_{k}" for k in range(1, len(fills) + 1)]
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert service.stop() == 0
