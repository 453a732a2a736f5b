"""worker.simulator: determinism and the contract of every event.

The same seed and intent give identical bytes on two instances and another seed other executions;
the draws depend on the seed and corr_id only. An execution's events come in order with linked ids,
commissions and reconcile values; every event validates against its at-core schema over random and
property-generated intents, with every realism model on.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import replace
from fractions import Fraction

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from common.messages import Execution
from tests.builders import (
    BOOK,
    FILL_V,
    INTENT_V,
    ORDER_UPDATE_V,
    RECONCILE_V,
    SEED,
    T0,
    accept,
    assert_valid,
    fills_of,
    make_intent,
    make_settings,
    make_sim,
    run,
)
from worker.market import Market
from worker.simulator import ExecutionSimulator

ID = re.compile(r"^[a-zA-Z0-9_-]+$")


# -- determinism -----------------------------------------------------------------------


def _mixed_intents(n=200):
    types = [
        dict(order_type="market"),
        dict(order_type="limit", price=1.086),
        dict(order_type="stop", stop_price=1.0849),
        dict(order_type="stop_limit", stop_price=1.0849, price=1.0855),
    ]
    for i in range(n):
        yield make_intent(corr_id=f"det{i}", side="sell" if i % 3 else "buy", quantity=[100, 0.37][i % 2], **types[i % 4])


def test_same_seed_same_intent_gives_identical_bytes_on_two_instances():
    cfg = make_settings(partial_fill_chance=0.5)
    a, b = ExecutionSimulator(cfg, SEED), ExecutionSimulator(cfg, SEED)
    for intent in _mixed_intents():
        ea, eb = a.simulate(accept(intent)), b.simulate(accept(intent))
        assert ea.events == eb.events
        assert (ea.final_status, ea.simulation_delay_ms) == (eb.final_status, eb.simulation_delay_ms)
        # Asked twice, the same instance answers the same (duplicate corr_id -> identical fill).
        assert a.simulate(accept(intent)).events == ea.events


def test_different_seed_gives_different_executions():
    cfg = make_settings(partial_fill_chance=0.5)
    a, b = ExecutionSimulator(cfg, SEED), ExecutionSimulator(cfg, b"another-seed")
    intents = list(_mixed_intents())
    differ = sum(a.simulate(accept(i)).events != b.simulate(accept(i)).events for i in intents)
    assert differ >= 0.95 * len(intents)
    delays_differ = sum(
        a.simulate(accept(i)).simulation_delay_ms != b.simulate(accept(i)).simulation_delay_ms for i in intents
    )
    assert delays_differ >= 0.95 * len(intents)


def test_draws_depend_on_seed_and_corr_id_only():
    a = make_sim()
    b = make_sim(min_delay_ms=1, max_delay_ms=5, slippage_bps=9)
    assert a.draws("abc") == b.draws("abc")
    assert a.draws("abc") != a.draws("abd")
    assert all(0.0 <= u < 1.0 for u in a.draws("abc")) and len(a.draws("abc")) == 8
    assert a.draws("abc") != ExecutionSimulator(make_settings(), b"x").draws("abc")


# -- the shape of an execution ---------------------------------------------------------


def test_events_order_ids_and_links():
    sim = make_sim(partial_fill_chance=1.0)
    for i in range(100):
        corr = f"ord{i}"
        ex, bodies = run(sim, corr_id=corr, quantity=50)
        assert isinstance(ex, Execution)
        assert (ex.stream_seq, ex.corr_id, ex.instrument, ex.order_type) == (1, corr, "EURUSD", "market")
        assert ex.simulation_s > 0
        updated = ex.events[-1].kind == "order_update"
        assert updated == (ex.final_status != "full")
        n = (len(ex.events) - updated) // 2
        assert [e.kind for e in ex.events] == ["fill", "reconcile"] * n + ["order_update"] * updated
        assert [e.msg_id for e in ex.events] == [f"agent_1:{corr}:{place}" for place in range(1, len(ex.events) + 1)]
        releases = [e.release_after_ms for e in ex.events]
        assert releases == sorted(releases)
        assert releases[0:2 * n:2] == releases[1:2 * n:2]
        if updated:  # with the fill that ended the order
            assert releases[-1] == releases[-2] and ex.events[-1].fill_type == ex.final_status
        for k in range(n):
            fill, recon = bodies[2 * k], bodies[2 * k + 1]
            assert ex.events[2 * k].fill_type == fill["fill_status"]
            assert ex.events[2 * k + 1].fill_type is None
            assert fill["fill_id"] == f"fill_{corr}_{k + 1}"
            assert fill["order_id"] == f"ord_{corr}"
            assert recon["reconcile_id"] == f"recon_{corr}_{k + 1}"
            assert recon["fills_processed"] == [fill["fill_id"]]
            assert recon["timestamp"] == recon["period_end"] == fill["timestamp"]
            assert recon["metadata"] == {
                "corr_id": corr, "order_id": fill["order_id"], "fill_index": k + 1, "fill_status": fill["fill_status"],
            }
            assert fill["metadata"]["fill_index"] == k + 1
            assert fill["execution_latency_ms"] == ex.events[2 * k].release_after_ms
        assert ex.final_status == fills_of(bodies)[-1]["fill_status"]


@pytest.mark.parametrize("side,sign", [("buy", 1), ("sell", -1)])
def test_commission_and_reconcile_values(side, sign):
    sim = make_sim(commission_bps=1.5, partial_fill_chance=0.5)
    for i in range(100):
        _, bodies = run(sim, corr_id=f"cm{i}", side=side, quantity=2_000, instrument="MSFT")
        for fill, recon in zip(bodies[0::2], bodies[1::2]):  # an order update is left over
            if fill["fill_status"] == "cancelled":
                assert fill["commission"] == 0 and recon["positions"] == []
                continue
            q, p, mid = fill["fill_quantity"], fill["fill_price"], fill["market_data"]["mid"]
            assert fill["commission"] == pytest.approx(q * p * 1.5e-4, rel=1e-9, abs=1e-8)
            (pos,) = recon["positions"]
            assert pos == {
                "instrument": "MSFT", "quantity": sign * q, "avg_price": p, "market_price": mid,
                "market_value": pytest.approx(sign * q * mid, abs=1e-8),
                "unrealized_pnl": pytest.approx(sign * q * (mid - p), abs=1e-8),
            }
            pnl = recon["pnl_summary"]
            assert pnl["total_fees"] == fill["commission"]
            assert pnl["total_pnl"] == pytest.approx(pnl["realized_pnl"] + pnl["unrealized_pnl"], abs=1e-8)
            assert pnl["unrealized_pnl"] == pos["unrealized_pnl"] <= 0
            assert pnl["trade_count"] == 1


def test_long_corr_id_gives_bounded_ids():
    corr = "Z" * 128
    sim = make_sim(partial_fill_chance=1.0)
    ex, bodies = run(sim, corr_id=corr, quantity=40)
    for body in bodies:
        for key in ("order_id", "fill_id", "reconcile_id"):
            if key in body:
                assert len(body[key]) <= 128 and ID.match(body[key])
    assert bodies[0]["corr_id"] == corr
    assert bodies[0]["fill_id"] != bodies[2]["fill_id"]
    assert ex.events[0].msg_id == f"agent_1:{corr}:1"


# -- every event against the contract -------------------------------------------------

_INSTRUMENTS = ["EURUSD", "USDJPY", "BTC/USD", "ETHUSD", "SOL/USD", "AAPL", "SPY", "ES_F", "CL_F", "NZDUSD",
                "XAU-EUR", "ABC", "Z9Z9Z9Z9Z9Z9Z9Z9Z9Z9"]
_ID_CHARS = string.ascii_letters + string.digits + "_-"


def _random_intent(rng: random.Random, i: int) -> tuple[dict, int]:
    instrument = rng.choice(_INSTRUMENTS)
    ts = T0 + rng.randrange(-10**9, 10**9)
    base = Market(SEED, BOOK).quote(instrument, ts).mid
    order_type = rng.choice(["market", "limit", "stop", "stop_limit"])
    length = rng.choice([1, 8, 36, 127, 128])
    corr_id = "".join(rng.choice(_ID_CHARS) for _ in range(length - len(str(i)))) + str(i) if length > 4 else f"r{i}"
    quantity = rng.choice([1, 2, 7, 100, 10_000, 1_000_000, 0.5, 0.001, 1.23456789, 0.00000001, 3.75, 2.0**60])
    intent = make_intent(corr_id=corr_id[:128], order_type=order_type, side=rng.choice(["buy", "sell"]),
                         quantity=quantity, instrument=instrument, ts_ms=ts)
    # Prices around the mid so every branch (marketable or not, triggered or not) occurs.
    if order_type in ("limit", "stop_limit"):
        intent["price"] = round(base * (1 + rng.uniform(-0.002, 0.002)), 6)
    if order_type in ("stop", "stop_limit"):
        intent["stop_price"] = round(base * (1 + rng.uniform(-0.002, 0.002)), 6)
    return intent, ts


@pytest.mark.parametrize("clock", ["wall", "virtual"])
def test_every_event_validates_against_the_contract(clock):
    rng = random.Random(20240115)
    # Everything on: sessions (weekends, holidays), limited liquidity (child fills), a minimum fee.
    sim = ExecutionSimulator(make_settings(partial_fill_chance=0.5, simulation_clock=clock, slippage_bps=25,
                                           market_sessions=True, liquidity_share=1.0, commission_min=1.0), SEED)
    statuses = set()
    kinds = {"fill": FILL_V, "reconcile": RECONCILE_V, "order_update": ORDER_UPDATE_V}
    for i in range(1500):
        intent, ts = _random_intent(rng, i)
        assert not list(INTENT_V.iter_errors(intent)), intent
        ex = sim.simulate(accept(intent, ts, ts + rng.randrange(0, 300_000), seq=i))
        fills = []
        for event in ex.events:
            body = orjson.loads(event.payload)
            assert_valid(kinds[event.kind], body)
            if event.kind == "fill":
                fills.append(body)
                statuses.add((intent["order_type"], body["fill_status"]))
                assert len(body.get("reject_reason", "")) <= 200
                assert (body["fill_status"] in ("cancelled", "rejected")) == ("reject_reason" in body)
            if event.kind == "order_update":
                statuses.add(("order_update", body["status"], body["metadata"]["reason_code"]))
        executed = sum(Fraction(f["fill_quantity"]) for f in fills if f["fill_status"] in ("full", "partial"))
        assert executed <= Fraction(intent["quantity"])
        assert sum(Fraction(f["fill_quantity"]) for f in fills) <= Fraction(intent["quantity"])
    # Every order type reached full, partial and cancelled (and rejected: a closed market).
    for order_type in ("market", "limit", "stop", "stop_limit"):
        for status in ("full", "partial", "cancelled", "rejected"):
            assert (order_type, status) in statuses, (order_type, status)
    for reason in ("market_closed", "not_marketable", "stop_not_triggered", "remainder_cancelled", "child_fill_limit"):
        assert any(s[0] == "order_update" and s[2] == reason for s in statuses), reason


@hsettings(max_examples=300, deadline=None)
@given(
    corr_id=st.from_regex(r"\A[a-zA-Z0-9_-]{1,128}\Z"),
    instrument=st.from_regex(r"\A[A-Z0-9]{2,9}([/_-]?[A-Z0-9]{1,9})?\Z").filter(lambda s: 3 <= len(s) <= 20),
    side=st.sampled_from(["buy", "sell"]),
    order_type=st.sampled_from(["market", "limit", "stop", "stop_limit"]),
    quantity=st.one_of(st.integers(1, 10**12), st.floats(1e-9, 1e9, allow_nan=False, allow_infinity=False)),
    price=st.floats(1e-6, 1e6),
    stop_price=st.floats(1e-6, 1e6),
    ts=st.integers(0, 4_102_444_800_000),
    chance=st.sampled_from([0.0, 0.5, 1.0]),
    delays=st.sampled_from([(0, 0), (100, 2000), (1, 3_600_000)]),
    realism=st.booleans(),
)
def test_contract_property(corr_id, instrument, side, order_type, quantity, price, stop_price, ts, chance, delays,
                           realism):
    sim = ExecutionSimulator(make_settings(
        partial_fill_chance=chance, min_delay_ms=delays[0], max_delay_ms=delays[1], market_sessions=realism,
        liquidity_share=1.0 if realism else 0.0, latency_model="lognormal" if realism else "uniform",
        slippage_model="sqrt_impact" if realism else "uniform", commission_min=0.5 if realism else 0.0,
    ), SEED)
    intent = make_intent(corr_id=corr_id, instrument=instrument, side=side, order_type=order_type,
                         quantity=quantity, ts_ms=ts)
    if order_type in ("limit", "stop_limit"):
        intent["price"] = price
    if order_type in ("stop", "stop_limit"):
        intent["stop_price"] = stop_price
    ex = sim.simulate(accept(intent, ts, ts, seq=7))
    kinds = [e.kind for e in ex.events]
    updated = kinds[-1] == "order_update"
    assert updated == (ex.final_status != "full")
    assert kinds == ["fill", "reconcile"] * ((len(kinds) - updated) // 2) + ["order_update"] * updated
    validators = {"fill": FILL_V, "reconcile": RECONCILE_V, "order_update": ORDER_UPDATE_V}
    total = Fraction(0)
    for event in ex.events:
        body = orjson.loads(event.payload)
        assert_valid(validators[event.kind], body)
        if event.kind == "fill":
            total += Fraction(body["fill_quantity"])
    assert total <= Fraction(quantity)


def test_settings_dataclass_replace_keeps_simulator_pure():
    # A Settings copy with the same values behaves the same: no hidden state in the instance.
    cfg = make_settings(partial_fill_chance=0.3)
    a = ExecutionSimulator(cfg, SEED)
    b = ExecutionSimulator(replace(cfg), SEED)
    for i in range(50):
        a.simulate(accept(make_intent(corr_id=f"warm{i}")))  # warm a's caches only
    intent = make_intent(corr_id="probe", order_type="limit", price=1.2)
    assert a.simulate(accept(intent)).events == b.simulate(accept(intent)).events
