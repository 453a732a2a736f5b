"""Priced like a venue: the audit's findings on prices and liquidity, each checked end to end.

Every fill of a market order is on the tick grid, at the touch or beyond it; a limit is marketable
only when it reaches the opposite touch and a stop triggers on it; the cost of an order grows with
its size as the square-root law says; a large order fills in a few child fills; sqrt_impact prices
the parent's cumulative quantity; a resting limit fills at its limit once the market trades through
it; and quoting both sides does not earn the spread for free. Only intents and quotes are used, so
each test runs against any version of the simulator. Fixed seeds: every verdict is fixed.
"""

from __future__ import annotations

import math
import statistics

import pytest

from tests.builders import BOOK, accept, by_kind, executed, make_intent, seeded_settings
from worker.directives import Directives
from worker.simulator import ExecutionSimulator

T0 = 1_795_014_000_000  # 2026-11-18T15:00:00Z, a Wednesday
HOUR_MS = 3_600_000
INSTRUMENTS = sorted(BOOK.listed) + ["ZZTOP"]


def venue(**kw) -> ExecutionSimulator:
    """The service's defaults (book prices, a child takes the visible book), sessions off, no delay."""
    settings = seeded_settings("venue", **{"liquidity_share": 1.0, "min_delay_ms": 0, "max_delay_ms": 0, **kw})
    return ExecutionSimulator(settings, settings.seed)


def run(sim: ExecutionSimulator, corr_id: str, ts_ms: int = T0, time_in_force: str | None = None, **kw):
    """(fills, order update or None) of one intent."""
    ex = sim.simulate(accept(make_intent(corr_id, ts_ms=ts_ms, **kw), ts_ms, ts_ms,
                             directives=Directives(time_in_force=time_in_force)))
    fills, _, update = by_kind(ex)
    return fills, update


def ticks_from(price: float, reference: float, tick: float) -> float:
    return (price - reference) / tick


def on_grid(price: float, tick: float) -> bool:
    return abs(price / tick - round(price / tick)) < 1e-6


def test_every_market_fill_on_every_instrument_is_on_the_grid_at_the_touch_or_beyond():
    sim = venue()
    checked = 0
    for symbol in INSTRUMENTS:
        info = BOOK.get(symbol)
        for k, lots in enumerate((1, 100, 10_000)):
            for side, sign in (("buy", 1), ("sell", -1)):
                fills, _ = run(sim, f"grid-{symbol}-{k}-{side}", ts_ms=T0 + k * 7_777_000, instrument=symbol,
                               side=side, quantity=round(lots * info.lot_size, 8))
                for fill in executed(fills):
                    data = fill["market_data"]
                    touch = data["ask"] if sign > 0 else data["bid"]
                    assert on_grid(fill["fill_price"], info.tick_size), (symbol, fill["fill_price"])
                    assert sign * (fill["fill_price"] - touch) >= -1e-9 * touch, (symbol, side, fill["fill_price"])
                    checked += 1
    assert checked > 6 * len(INSTRUMENTS)


def test_a_one_lot_es_market_buy_fills_at_the_ask():
    sim = venue()
    for i in range(50):
        fills, update = run(sim, f"es1-{i}", ts_ms=T0 + i * 600_000, instrument="ES_F", quantity=1)
        (fill,) = fills
        assert update is None and fill["fill_price"] == fill["market_data"]["ask"]


def test_a_buy_limit_between_the_mid_and_the_ask_is_not_marketable():
    sim = venue()
    tick = BOOK.get("SOL/USD").tick_size  # SOL/USD quotes a spread of dozens of ticks
    for i in range(20):
        at = T0 + i * 600_000
        quote = sim.market.quote("SOL/USD", at)
        limit = round(math.floor((quote.mid + quote.ask) / 2 / tick) * tick, 3)
        assert quote.mid <= limit < quote.ask
        fills, update = run(sim, f"between-{i}", ts_ms=at, instrument="SOL/USD", order_type="limit", price=limit,
                            quantity=1)
        assert [f["fill_status"] for f in fills] == ["cancelled"]
        assert update["metadata"]["reason_code"] == "not_marketable"


def test_a_buy_stop_triggers_when_the_ask_reaches_it():
    sim = venue()
    for i in range(20):
        at = T0 + i * 600_000
        quote = sim.market.quote("SOL/USD", at)
        assert quote.mid < quote.ask
        fills, update = run(sim, f"stop-{i}", ts_ms=at, instrument="SOL/USD", order_type="stop",
                            stop_price=quote.ask, quantity=1)
        assert update is None and [f["fill_status"] for f in fills] == ["full"]
        assert fills[0]["fill_price"] == quote.ask


def _average_cost_bps(sim: ExecutionSimulator, lots: int, n: int) -> float:
    costs = []
    for i in range(n):
        fills, update = run(sim, f"cost-{lots}-{i}", ts_ms=T0 + i * 600_000, instrument="ES_F", quantity=lots)
        done = executed(fills)
        assert update is None and sum(f["fill_quantity"] for f in done) == lots
        mid = done[0]["market_data"]["mid"]
        average = sum(f["fill_price"] * f["fill_quantity"] for f in done) / lots
        costs.append((average / mid - 1) * 1e4)
    return statistics.mean(costs)


def test_the_cost_of_a_large_es_order_grows_like_the_square_root_of_its_size():
    """100 against 500 ES contracts: the touch (200 contracts, scaled by the step's volume) absorbs most
    of a 100-lot order, so the cost grows faster than sqrt(5) = 2.24 there; accepted within a factor of 2
    of it. Beyond the touch (500 against 2,500) within 25% of sqrt(5)."""
    sim = venue()
    small, medium, large = (_average_cost_bps(sim, lots, 200) for lots in (100, 500, 2_500))
    assert math.sqrt(5) / 2 < medium / small < math.sqrt(5) * 2, (small, medium)
    assert math.sqrt(5) / 1.25 < large / medium < math.sqrt(5) * 1.25, (medium, large)


def test_a_ten_btc_order_fills_in_full_within_a_few_child_fills():
    sim = venue()
    for i in range(30):
        fills, update = run(sim, f"btc10-{i}", ts_ms=T0 + i * 3_600_000, instrument="BTC/USD", quantity=10)
        done = executed(fills)
        assert update is None and fills[-1]["fill_status"] == "full"
        assert len({f["execution_latency_ms"] for f in done}) <= 3


def test_sqrt_impact_prices_the_parent_orders_cumulative_quantity():
    y = 1.0
    sim = venue(slippage_model="sqrt_impact", impact_coefficient=y, liquidity_share=0.001)
    info = BOOK.get("ES_F")
    fills, _ = run(sim, "parent", instrument="ES_F", quantity=300)
    done = executed(fills)
    assert len(done) >= 3  # a child takes at most 0.001 of the visible book
    cumulative = 0
    for fill in done:
        cumulative += fill["fill_quantity"]
        data = fill["market_data"]
        impact = data["mid"] * y * info.daily_volatility * math.sqrt(cumulative / info.adv)
        want = data["ask"] + math.ceil(impact / info.tick_size - 1e-9) * info.tick_size
        assert fill["fill_price"] == pytest.approx(want, abs=1e-9), (fill["fill_quantity"], cumulative)


def test_a_resting_buy_limit_fills_at_its_limit_only_once_the_ask_has_reached_it():
    sim = venue()
    tick = BOOK.get("ES_F").tick_size
    filled = 0
    for i in range(12):
        at = T0 + i * 4 * HOUR_MS
        limit = round(sim.market.quote("ES_F", at).bid - 8 * tick, 2)
        fills, _ = run(sim, f"rest-{i}", ts_ms=at, instrument="ES_F", order_type="limit", price=limit, quantity=1,
                       time_in_force="DAY")
        if fills[0]["fill_status"] != "full":
            continue
        filled += 1
        fill = fills[0]
        assert fill["fill_price"] == limit  # exactly its limit: never better, never worse
        assert fill["market_data"]["ask"] <= limit
        for t in range(at, at + fill["execution_latency_ms"], 1000):  # every second before: the ask above it
            assert sim.market.quote("ES_F", t).ask > limit
    assert filled >= 3


def _quoting_pnl(sim: ExecutionSimulator, symbol: str, inside_ticks: int) -> tuple[float, float]:
    """(mean, standard error) of the P&L per round trip, in bps of the mid, of quoting both sides
    `inside_ticks` inside the touch (negative: behind it) for an hour, every two hours; each fill is
    marked at the mid of its instant (the mid is a martingale, so a later mark adds noise, not edge)."""
    tick = BOOK.get(symbol).tick_size
    decimals = max(0, -math.floor(math.log10(tick)) + 1)
    pnl = []
    for i in range(150):
        at = T0 + i * 2 * HOUR_MS
        quote = sim.market.quote(symbol, at)
        total = 0.0
        for side, sign, price in (("buy", 1, quote.bid + inside_ticks * tick), ("sell", -1, quote.ask - inside_ticks * tick)):
            fills, _ = run(sim, f"mm-{symbol}-{inside_ticks}-{i}-{side}", ts_ms=at, instrument=symbol, side=side,
                           order_type="limit", price=round(price, decimals), quantity=1, time_in_force="GTC")
            total += sum(sign * (f["market_data"]["mid"] - f["fill_price"]) * f["fill_quantity"] for f in executed(fills))
        pnl.append(total / quote.mid * 1e4)
    return statistics.mean(pnl), statistics.stdev(pnl) / math.sqrt(len(pnl))


@pytest.mark.parametrize("symbol, inside_ticks", [("ES_F", 0), ("ES_F", -1), ("SOL/USD", 0), ("SOL/USD", 10)])
def test_quoting_both_sides_does_not_earn_the_spread_for_free(symbol, inside_ticks):
    """At the touch, behind it or inside the spread, under the default queue model (a resting limit
    fills when traded through): the mean P&L per round trip is not above zero beyond two standard errors."""
    mean, error = _quoting_pnl(venue(gtc_horizon_days=1 / 24, commission_bps=0.0), symbol, inside_ticks)
    assert mean <= 2 * error, (mean, error)


def test_the_probabilistic_queue_model_is_optimistic_and_the_quoting_test_sees_it():
    """Behind the touch, a queue fill when the bid reaches the order earns the half spread against the mid:
    with SIMULATION_QUEUE_FILL_CHANCE=1 quoting a tick behind both touches makes money, which is why it
    is not the default (and what the test above would catch)."""
    sim = venue(gtc_horizon_days=1 / 24, commission_bps=0.0, queue_model="probabilistic", queue_fill_chance=1.0)
    mean, error = _quoting_pnl(sim, "ES_F", -1)
    assert mean > 3 * error, (mean, error)
