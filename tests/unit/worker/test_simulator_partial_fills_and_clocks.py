"""worker.simulator: quantities and partial fills, delays and clocks.

Partial fills keep whole quantities whole, never exceed the order, and add up to it with what is
cancelled; the remainder fills later at the later market price; the partial and remainder shares
match the configured chances. Delays stay within their range and reach both ends; the virtual
clock stamps from the intent's time, the wall clock from receipt, and neither changes a price.
"""

from __future__ import annotations

import math
from fractions import Fraction

import orjson
import pytest

from tests.builders import (
    BOOK,
    FIXED_DELAY,
    RECEIVED,
    SEED,
    T0,
    accept,
    fills_of,
    make_intent,
    make_sim,
    run,
    update_of,
)
from worker.events import iso_ms
from worker.market import Market

# -- partial fills ---------------------------------------------------------------------


def _executed(bodies):
    return [b for b in fills_of(bodies) if b["fill_status"] in ("full", "partial")]


@pytest.mark.parametrize("quantity", [2, 3, 10, 100, 12_345, 10_000_000, 250.0])
def test_integral_partials_stay_integral_and_sum_to_order(quantity):
    sim = make_sim(partial_fill_chance=1.0)
    outcomes = set()
    for i in range(200):
        ex, bodies = run(sim, corr_id=f"int{i}", quantity=quantity)
        fills = fills_of(bodies)
        # The first child may take several levels of the book, one fill each; the rest is one more.
        first_child = [f for f in fills if f["execution_latency_ms"] == fills[0]["execution_latency_ms"]
                       and f["fill_status"] == "partial"]
        rest = fills[len(first_child):]
        assert len({f["execution_latency_ms"] for f in rest}) == 1 and rest
        second = fills[-1]
        assert second["fill_status"] in ("full", "cancelled")
        q1, q2 = sum(f["fill_quantity"] for f in first_child), sum(f["fill_quantity"] for f in rest)
        assert all(isinstance(f["fill_quantity"], int) for f in fills)
        assert 1 <= q1 <= quantity - 1
        assert q1 + q2 == quantity  # what fills plus what is cancelled is the order
        if quantity >= 100:
            assert int(0.1 * quantity) - 1 <= q1 <= math.ceil(0.9 * quantity)
        outcomes.add(second["fill_status"])
        assert ex.final_status == second["fill_status"]
    assert outcomes == {"full", "cancelled"}


@pytest.mark.parametrize("quantity", [0.3, 0.5, 1.5, 0.00001234, 123.456789123, 1e-7])
def test_fractional_partials_positive_and_never_exceed_order(quantity):
    sim = make_sim(partial_fill_chance=1.0)
    for i in range(200):
        _, bodies = run(sim, corr_id=f"frac{i}", quantity=quantity)
        first, second = fills_of(bodies)
        q1, q2 = first["fill_quantity"], second["fill_quantity"]
        assert 0 < q1 < quantity and q2 > 0
        assert round(q1, 8) == q1
        assert q1 + q2 <= quantity  # in float, as a consumer adds them
        assert Fraction(q1) + Fraction(q2) <= Fraction(quantity)  # and exactly
        assert quantity - (q1 + q2) < 1e-9
        assert 0.1 * quantity - 1e-8 <= q1 <= 0.9 * quantity + 1e-8


@pytest.mark.parametrize("quantity", [1, 1.0, 1e-9])
def test_unsplittable_quantities_fill_in_full(quantity):
    sim = make_sim(partial_fill_chance=1.0)
    for i in range(50):
        ex, bodies = run(sim, corr_id=f"one{i}", quantity=quantity)
        assert len(bodies) == 2 and update_of(bodies) is None
        assert bodies[0]["fill_status"] == "full" and bodies[0]["fill_quantity"] == quantity


def test_remainder_fill_is_later_priced_at_later_market_and_honours_limit():
    sim = make_sim(partial_fill_chance=1.0, min_delay_ms=100, max_delay_ms=2000)
    market = Market(SEED, BOOK)
    seen = 0
    for i in range(300):
        mid0 = market.quote("EURUSD", T0).mid
        limit = round(mid0 * 1.0005, 6)  # above any mid within seconds (a 1.5-sigma move takes a day)
        # 999: not a whole number of EURUSD lots (1000), so it splits in units.
        ex, bodies = run(sim, corr_id=f"rem{i}", order_type="limit", price=limit, quantity=999)
        first, second = fills_of(bodies)
        e = ex.events
        if second["fill_status"] == "cancelled":
            assert e[2].release_after_ms == e[0].release_after_ms
            assert second["reject_reason"] == f"remainder cancelled (IOC): {second['fill_quantity']} of 999 not filled"
            assert second["fill_price"] == first["market_data"]["mid"]
            continue
        seen += 1
        extra = e[2].release_after_ms - e[0].release_after_ms
        assert 100 <= extra <= 2000
        assert second["execution_latency_ms"] == e[2].release_after_ms
        assert second["market_data"]["mid"] == market.quote("EURUSD", T0 + e[2].release_after_ms).mid
        assert second["fill_price"] <= limit
        assert second["metadata"]["filled_quantity_total"] == 999
    assert seen > 100


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits - n * p) <= 4 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("chance", [0.1, 0.35])
def test_partial_share_matches_configured_chance(chance):
    sim = make_sim(partial_fill_chance=chance)
    n = 4000
    partials = 0
    for i in range(n):
        ex = sim.simulate(accept(make_intent(corr_id=f"share{i}", quantity=100)))
        partials += ex.events[0].fill_type == "partial"
    assert _binomial_ok(partials, n, chance), partials


def test_remainder_fill_share_is_one_half():
    sim = make_sim(partial_fill_chance=1.0)
    n = 3000
    filled = sum(
        sim.simulate(accept(make_intent(corr_id=f"half{i}", quantity=100))).final_status == "full" for i in range(n)
    )
    assert _binomial_ok(filled, n, 0.5), filled


def test_zero_chance_never_partial():
    sim = make_sim(partial_fill_chance=0.0)
    for i in range(500):
        ex = sim.simulate(accept(make_intent(corr_id=f"nz{i}", quantity=100)))
        assert len(ex.events) == 2 and ex.final_status == "full"


# -- delays and clocks -----------------------------------------------------------------


def test_delays_within_range_and_reach_both_ends():
    sim = make_sim(min_delay_ms=5, max_delay_ms=7, partial_fill_chance=0.5)
    seen = set()
    for i in range(300):
        ex = sim.simulate(accept(make_intent(corr_id=f"d{i}")))
        assert ex.simulation_delay_ms == ex.events[0].release_after_ms
        seen.add(ex.simulation_delay_ms)
        if len(ex.events) == 4 and ex.events[2].fill_type == "full":
            assert 5 <= ex.events[2].release_after_ms - ex.events[0].release_after_ms <= 7
    assert seen == {5, 6, 7}


def test_default_delay_range():
    sim = make_sim()
    delays = [sim.simulate(accept(make_intent(corr_id=f"dd{i}"))).simulation_delay_ms for i in range(1000)]
    assert min(delays) >= 100 and max(delays) <= 2000
    assert min(delays) < 150 and max(delays) > 1950


@pytest.mark.parametrize("delay", [0, 250])
def test_min_equals_max_delay(delay):
    sim = make_sim(min_delay_ms=delay, max_delay_ms=delay, partial_fill_chance=1.0)
    for i in range(100):
        ex = sim.simulate(accept(make_intent(corr_id=f"eq{i}", quantity=10)))
        assert ex.simulation_delay_ms == delay
        if ex.final_status == "full":
            assert ex.events[2].release_after_ms == 2 * delay


def test_virtual_clock_stamps_from_intent_time():
    sim = make_sim(simulation_clock="virtual", partial_fill_chance=1.0)
    for i in range(40):
        ex, bodies = run(sim, corr_id=f"v{i}", quantity=10)
        for event, body in zip(ex.events, bodies):
            assert body["timestamp"] == iso_ms(T0 + event.release_after_ms)
        assert bodies[1]["period_start"] == iso_ms(T0)


def test_both_clocks_price_alike_an_intent_stamped_at_its_receipt():
    wall = make_sim(simulation_clock="wall", partial_fill_chance=0.5)
    virtual = make_sim(simulation_clock="virtual", partial_fill_chance=0.5)
    for i in range(60):
        intent = make_intent(corr_id=f"w{i}", quantity=10)
        ew = wall.simulate(accept(intent))
        ev = virtual.simulate(accept(intent))
        assert [e.release_after_ms for e in ew.events] == [e.release_after_ms for e in ev.events]
        for a, b, event in zip(ew.events, ev.events, ew.events):
            bw, bv = orjson.loads(a.payload), orjson.loads(b.payload)
            assert bw["timestamp"] == iso_ms(RECEIVED + event.release_after_ms)
            assert bv["timestamp"] == iso_ms(T0 + event.release_after_ms)
            if a.kind == "fill":
                assert bw["metadata"]["market_time"] == bv["metadata"]["market_time"]
                for key in ("fill_price", "fill_quantity", "market_data", "slippage", "commission", "fill_status"):
                    assert bw[key] == bv[key]
                assert bw["metadata"]["clock"] == "wall" and bv["metadata"]["clock"] == "virtual"


def test_under_the_wall_clock_the_receipt_not_the_intents_own_timestamp_chooses_the_price():
    # An agent may stamp its intent up to REPLAY_WINDOW_SEC either way; were the stamp the market
    # instant, it could buy at a price it has already seen move, or read the path ahead of time.
    wall, virtual = (make_sim(simulation_clock=clock, min_delay_ms=FIXED_DELAY, max_delay_ms=FIXED_DELAY)
                     for clock in ("wall", "virtual"))
    intent = make_intent(corr_id="recv")
    early, late = (orjson.loads(wall.simulate(accept(intent, stamp, T0)).events[0].payload)
                   for stamp in (T0 - 240_000, T0 + 240_000))
    assert early["fill_price"] == late["fill_price"] and early["market_data"] == late["market_data"]
    assert early["metadata"]["market_time"] == late["metadata"]["market_time"] == early["timestamp"]
    moved = orjson.loads(wall.simulate(accept(intent, T0, T0 + 90_000)).events[0].payload)
    assert moved["metadata"]["market_time"] == iso_ms(T0 + 90_000 + FIXED_DELAY)
    assert moved["market_data"] != early["market_data"]
    # The virtual clock is the intent's own: a backtest's timestamps are its market time.
    backtest = orjson.loads(virtual.simulate(accept(intent, T0 - 240_000, T0)).events[0].payload)
    assert backtest["metadata"]["market_time"] == iso_ms(T0 - 240_000 + FIXED_DELAY)
