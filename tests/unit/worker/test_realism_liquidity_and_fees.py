"""worker.simulator realism models: liquidity and child fills, fees, and determinism, checked exactly.

Child fills take each step's share of the liquidity in whole units and add up to the order; the
remainder is cancelled at once or at the child-fill limit; per-unit commissions and the per-order
minimum; every model on at once is byte-identical for a seed; and the edges a review found (awkward
fractional sizes, the longest execution, absurd and huge orders, stops and limits across child
fills). Pure code: no NATS.
"""

from __future__ import annotations

import random
from fractions import Fraction

import orjson
import pytest

from common.config import CHILD_FILL_INTERVAL_MS
from tests.builders import BOOK, accept, exact_sum, executed, make_intent, seeded_settings, seeded_sim
from tests.builders import REALISM_T0 as T0
from tests.builders import realism_run as run
from tests.builders import realism_sim as make_sim
from worker.events import EXECUTED_STATUSES
from worker.simulator import ExecutionSimulator

# -- liquidity and child fills --------------------------------------------------------------


def children(fills: list[dict]) -> list[list[dict]]:
    """The executing fills grouped by child fill (one instant each, one fill per level it took)."""
    groups: dict[int, list[dict]] = {}
    for f in executed(fills):
        groups.setdefault(f["execution_latency_ms"], []).append(f)
    return [groups[k] for k in sorted(groups)]


def first_reach(sim: ExecutionSimulator, symbol: str, at_ms: int, share: float) -> float:
    """What a first child fill of a buy may take: `share` of the visible book (20 levels)."""
    return share * sim.market.quote(symbol, at_ms).ask_size * 20**2


@pytest.mark.parametrize("symbol,quantity,share,unit", [
    ("AAPL", 20_000, 0.01, 1), ("AAPL", 20_000, 0.003, 1),
    ("BTC/USD", 2.5, 0.001, 1e-5), ("BTC/USD", 1.23456789, 0.0003, 1e-8),  # whole lots of 0.00001; else 1e-8 parts
    ("EURUSD", 50_000_000, 0.01, 1000), ("EURUSD", 12_345_678, 0.002, 1), ("EURUSD", 20_000_000.5, 0.005, 1e-8),
])
def test_child_fills_take_their_share_of_the_book_and_add_up_to_the_order(symbol, quantity, share, unit):
    sim = make_sim(liquidity_share=share, max_child_fills=1000)
    for i in range(10):
        ex, fills, _, update = run(sim, f"liq{i}", instrument=symbol, quantity=quantity)
        assert update is None and ex.final_status == "full"
        groups = children(fills)
        assert len(groups) >= 2 and [f["fill_status"] for f in fills] == ["partial"] * (len(fills) - 1) + ["full"]
        first = sum(f["fill_quantity"] for f in groups[0])
        reach = first_reach(sim, symbol, T0 + groups[0][0]["execution_latency_ms"], share)
        assert reach - unit * (1 + 1e-9) < first <= reach * (1 + 1e-12)  # all of it, in whole units
        for f in fills:
            units = f["fill_quantity"] / unit
            assert abs(units - round(units)) < max(1e-6, 1e-14 * units)  # whole units, up to the float's grain
            assert isinstance(f["fill_quantity"], int) == isinstance(unit, int)
        for a, b in zip(groups, groups[1:]):
            assert b[0]["execution_latency_ms"] - a[0]["execution_latency_ms"] == CHILD_FILL_INTERVAL_MS
        total = exact_sum(fills)
        assert total <= Fraction(quantity)
        assert Fraction(quantity) - total <= Fraction(1, 10**12) * max(quantity, 1)
        assert fills[-1]["metadata"]["filled_quantity_total"] == quantity


def test_liquidity_remainder_cancel_cancels_the_rest_at_once():
    sim = make_sim(liquidity_share=0.01, liquidity_remainder="cancel")
    for i in range(30):
        ex, fills, recons, update = run(sim, f"lc{i}", instrument="AAPL", quantity=20_000)
        (child,) = children(fills)
        cancel = fills[-1]
        taken = sum(f["fill_quantity"] for f in child)
        assert taken == int(first_reach(sim, "AAPL", T0 + child[0]["execution_latency_ms"], 0.01) + 1e-9)
        assert [f["fill_status"] for f in child] == ["partial"] * len(child)
        assert cancel["fill_status"] == "cancelled" and cancel["metadata"]["reason_code"] == "liquidity_exhausted"
        assert cancel["fill_quantity"] == 20_000 - taken
        assert cancel["execution_latency_ms"] == child[0]["execution_latency_ms"]
        assert ex.events[-1].release_after_ms == ex.events[0].release_after_ms
        assert update["status"] == "cancelled" and update["metadata"]["reason_code"] == "liquidity_exhausted"
        assert update["filled_quantity"] == taken and recons[-1]["positions"] == []


@pytest.mark.parametrize("limit", [1, 3])
def test_child_fill_limit_cancels_the_rest(limit):
    sim = make_sim(liquidity_share=0.01, max_child_fills=limit)
    for i in range(30):
        ex, fills, _, update = run(sim, f"cfl{i}", instrument="AAPL", quantity=100_000)
        done = executed(fills)
        assert len(children(fills)) == limit and len(fills) == len(done) + 1
        last = fills[-1]
        assert last["fill_status"] == "cancelled" and last["metadata"]["reason_code"] == "child_fill_limit"
        assert exact_sum(done) + Fraction(last["fill_quantity"]) == 100_000
        assert update["metadata"]["reason_code"] == "child_fill_limit" and update["metadata"]["fill_count"] == len(done)
        assert update["filled_quantity"] == exact_sum(done) and update["remaining_quantity"] == last["fill_quantity"]


@pytest.mark.parametrize("symbol,quantity,unit", [("AAPL", 100, 1), ("EURUSD", 10_000, 1000), ("BTC/USD", 0.5, 1e-5)])
def test_liquidity_below_one_unit_still_fills_one_unit(symbol, quantity, unit):
    # The documented minimum: one unit (a lot when the order is whole lots) per step, however thin.
    sim = make_sim(liquidity_share=1e-12, max_child_fills=5)
    _, fills, _, update = run(sim, "thin", instrument=symbol, quantity=quantity)
    assert [f["fill_quantity"] for f in executed(fills)] == [unit] * 5
    assert update["metadata"]["reason_code"] == "child_fill_limit"


# -- fees -----------------------------------------------------------------------------------


def test_per_unit_commission_is_quantity_times_rate_per_fill():
    sim = make_sim(liquidity_share=1.0, commission_model="per_unit", commission_per_unit=0.005, max_child_fills=100)
    seen = 0
    for i in range(30):
        _, fills, recons, _ = run(sim, f"pu{i}", instrument="AAPL", quantity=20_000, side="sell" if i % 2 else "buy")
        for fill, recon in zip(fills, recons):
            assert fill["commission"] == pytest.approx(fill["fill_quantity"] * 0.005, abs=1e-8)
            assert recon["pnl_summary"]["total_fees"] == fill["commission"]
            seen += 1
    assert seen > 100


@pytest.mark.parametrize("minimum", [4.0, 25.0])
@pytest.mark.parametrize("quantity,max_fills,share", [(5_000, 100, 1.0), (20_000, 3, 0.005)])
def test_commission_minimum_applies_per_order(minimum, quantity, max_fills, share):
    rate = 0.001
    sim = make_sim(liquidity_share=share, commission_model="per_unit", commission_per_unit=rate,
                   commission_min=minimum, max_child_fills=max_fills)
    for i in range(40):
        ex, fills, recons, update = run(sim, f"cmin{i}", instrument="AAPL", quantity=quantity)
        done = executed(fills)
        assert len(done) >= 2
        raw = float(exact_sum(done)) * rate
        paid = sum(f["commission"] for f in fills)
        assert paid == pytest.approx(max(minimum, raw), abs=1e-7)
        assert done[0]["commission"] == pytest.approx(max(minimum, done[0]["fill_quantity"] * rate), abs=1e-8)
        assert all(f["commission"] == 0 for f in fills if f["fill_status"] not in EXECUTED_STATUSES)
        for fill, recon in zip(fills, recons):
            assert recon["pnl_summary"]["total_fees"] == fill["commission"]
        if update is not None:
            assert update["commission"] == pytest.approx(paid, abs=1e-7)
        assert (update is not None) == (quantity == 20_000)


def test_order_with_nothing_filled_pays_no_minimum():
    sim = make_sim(commission_model="per_unit", commission_per_unit=0.01, commission_min=10.0, min_delay_ms=0,
                   max_delay_ms=0)
    mid = sim.market.quote("AAPL", T0).mid
    _, fills, recons, update = run(sim, "nf", instrument="AAPL", quantity=500, order_type="limit",
                                   price=round(mid * 0.9, 2))
    assert [f["fill_status"] for f in fills] == ["cancelled"]
    assert fills[0]["commission"] == 0 and recons[0]["pnl_summary"]["total_fees"] == 0
    assert update["commission"] == 0 and update["filled_quantity"] == 0


# -- determinism ----------------------------------------------------------------------------


def _everything_on(seed: str) -> ExecutionSimulator:
    return seeded_sim(seed, market_sessions=True, liquidity_share=1.0, partial_fill_chance=0.3,
                    slippage_model="sqrt_impact", latency_model="lognormal", commission_model="per_unit",
                    commission_per_unit=0.002, commission_min=1.0, max_child_fills=8)


def _mixed_intents(n=500):
    rng = random.Random(7)
    for i in range(n):
        symbol = rng.choice(["AAPL", "EURUSD", "BTC/USD", "SOL/USD", "ES_F"])
        ts = T0 + rng.randrange(-30 * 86_400_000, 30 * 86_400_000)  # weekends and closed hours too
        mid = BOOK.get(symbol).reference_price
        kind = rng.choice(["market", "limit", "stop", "stop_limit"])
        extra = {}
        if kind in ("limit", "stop_limit"):
            extra["price"] = round(mid * rng.uniform(0.9, 1.1), 2)
        if kind in ("stop", "stop_limit"):
            extra["stop_price"] = round(mid * rng.uniform(0.9, 1.1), 2)
        quantity = rng.choice([1, 100, 20_000, 2.5, 0.37, 5_000_000])
        yield ts, make_intent(f"mix{i}", instrument=symbol, side=rng.choice(["buy", "sell"]), quantity=quantity,
                              order_type=kind, ts_ms=T0, **extra)


def _execute_all(sim):
    return [sim.simulate(accept(it, ts, ts + 5000)).events for ts, it in _mixed_intents()]


def test_everything_on_is_byte_identical_for_a_seed_and_differs_across_seeds():
    a, b, c = _execute_all(_everything_on("s1")), _execute_all(_everything_on("s1")), _execute_all(_everything_on("s2"))
    assert a == b
    statuses = {e.fill_type for events in a for e in events if e.kind == "fill"}
    assert statuses == {"full", "partial", "cancelled", "rejected"}
    first_prices = [(orjson.loads(x[0].payload), orjson.loads(y[0].payload)) for x, y in zip(a, c)]
    executed_both = [(p, q) for p, q in first_prices
                     if p["fill_status"] in EXECUTED_STATUSES and q["fill_status"] in EXECUTED_STATUSES]
    assert len(executed_both) > 100
    differ = sum(p["fill_price"] != q["fill_price"] for p, q in executed_both)
    assert differ >= 0.95 * len(executed_both), (differ, len(executed_both))


# -- edges a review found (each one a defect before its fix) ---------------------------------


@pytest.mark.timeout(20)
@pytest.mark.parametrize("symbol,quantity", [("AAPL", 2245.0000023), ("BTC/USD", 0.17938001), ("BTC/USD", 2.5),
                                             ("EURUSD", 1234567.89012345), ("SOL/USD", 0.30000000000000004)])
def test_awkward_fractional_orders_finish_at_once_and_never_overfill(symbol, quantity):
    sim = make_sim(liquidity_share=0.05, partial_fill_chance=0.5, max_child_fills=50)
    for i in range(20):
        _, fills, _, _ = run(sim, f"awk{i}", instrument=symbol, quantity=quantity)
        assert exact_sum(fills) <= Fraction(quantity)
        assert all(f["fill_quantity"] > 0 for f in fills)


def _last_release(ex) -> int:
    return max(e.release_after_ms for e in ex.events)


@pytest.mark.parametrize("max_delay,max_fills", [(0, 1), (0, 10), (500, 2), (500, 10), (2000, 3)])
def test_longest_execution_bounds_every_release(max_delay, max_fills):
    """ack_wait is derived from Settings.longest_execution_ms: no event may be due later."""
    sim = make_sim(min_delay_ms=max_delay, max_delay_ms=max_delay, liquidity_share=0.001,
                   partial_fill_chance=0.5, max_child_fills=max_fills)
    bound = seeded_settings("realism", min_delay_ms=max_delay, max_delay_ms=max_delay, liquidity_share=0.001,
                                    max_child_fills=max_fills).longest_execution_ms
    worst = max(_last_release(run(sim, f"lx{i}", instrument="BTC/USD", quantity=5)[0]) for i in range(300))
    assert worst <= bound
    assert worst >= bound - max_delay - 1000  # the bound is not slack by more than one step


def test_absurd_orders_under_impact_stay_within_the_contract():
    from jsonschema import Draft202012Validator

    from common.contracts import FILL, RECONCILE, load_schema

    validators = {"fill": Draft202012Validator(load_schema(FILL)), "reconcile": Draft202012Validator(load_schema(RECONCILE))}
    sim = make_sim(slippage_model="sqrt_impact", liquidity_share=1.0)
    for quantity in (1e250, 1e200, 2.0**60, 2**53 + 1):
        ex = sim.simulate(accept(make_intent("abs", instrument="BTC/USD", quantity=quantity, ts_ms=T0), T0, T0))
        for event in ex.events:
            body = orjson.loads(event.payload)
            if event.kind in validators:
                assert not list(validators[event.kind].iter_errors(body)), (quantity, event.kind, body)


def test_huge_orders_still_meet_the_liquidity():
    sim = make_sim(liquidity_share=1.0)
    _, fills, _, update = run(sim, "huge", instrument="EURUSD", quantity=2.0**60)
    assert fills[0]["fill_status"] == "partial" and fills[0]["fill_quantity"] < 2.0**60 / 1000
    assert update is not None and update["metadata"]["reason_code"] == "child_fill_limit"


def test_a_triggered_stop_stays_triggered_through_its_child_fills():
    sim = make_sim(liquidity_share=1.0, max_child_fills=30)
    for i in range(200):
        mid = sim.market.quote("BTC/USD", T0).mid
        _, fills, _, update = run(sim, f"st{i}", order_type="stop", stop_price=round(mid * 0.9999, 2), quantity=3)
        if executed(fills):
            assert update is None or update["metadata"]["reason_code"] != "stop_not_triggered"


def test_average_fill_price_is_never_worse_than_the_limit():
    sim = make_sim(liquidity_share=0.2, partial_fill_chance=1.0)
    seen = 0
    for i in range(300):
        mid = sim.market.quote("AAPL", T0).mid
        side, sign = ("buy", 1) if i % 2 else ("sell", -1)
        limit = mid * (1 + sign * 0.00005)  # inside the slippage: the limit binds, unrounded
        _, fills, _, update = run(sim, f"avg{i}", instrument="AAPL", side=side, order_type="limit", price=limit,
                                  quantity=5000)
        if update is not None and update.get("average_fill_price") is not None:
            seen += 1
            assert sign * (update["average_fill_price"] - limit) <= 0
    assert seen > 50
