"""Strategy-testing controls in the worker: time in force and resting orders.

IOC fills what is there at arrival and cancels the rest; FOK never fills in part. DAY and GTC orders
rest until the price path first crosses them, expire at the close or their horizon, rest through
closed hours, and never fill after they expire. Intents go through the real validator and the real
simulator; every event is checked against its at-core schema.
"""

from __future__ import annotations

import pytest

from tests.builders import (
    BOOK,
    FIXED_DELAY,
    SEED,
    T0,
    WEEKEND,
    execute,
    executed_quantity,
    fills_of,
    mid_at,
    update_of,
)
from worker.events import iso_ms
from worker.market import Market
from worker.synthetic_market import SyntheticMarket

# -- time in force: IOC and FOK ----------------------------------------------------------------


THIN = {"liquidity_share": 0.001}  # a step's share far below the order: fills in several children


def test_without_time_in_force_thin_liquidity_fills_in_children():
    _, bodies = execute(THIN, quantity=5_000_000)
    assert len([f for f in fills_of(bodies) if f["fill_status"] == "partial"]) >= 2


def test_ioc_fills_what_is_there_at_arrival_and_cancels_the_rest():
    _, bodies = execute(THIN, quantity=5_000_000, metadata={"time_in_force": "IOC"})
    fills = fills_of(bodies)
    assert [f["fill_status"] for f in fills] == ["partial", "cancelled"]
    assert fills[1]["metadata"]["reason_code"] == "ioc_remainder_cancelled"
    assert fills[1]["execution_latency_ms"] == fills[0]["execution_latency_ms"]  # no later child fill


@pytest.mark.parametrize("order_type, extra", [
    ("market", {}), ("limit", {"price": 10.0}), ("stop", {"stop_price": 0.5}), ("stop_limit", {"price": 10.0, "stop_price": 0.5}),
])
def test_fok_never_partially_fills_any_order_type(order_type, extra):
    """Over sizes around what a step offers, with random partials always on: all or nothing."""
    outcomes = set()
    for k, quantity in enumerate((10, 1_000, 100_000, 3_000_000, 50_000_000)):
        _, bodies = execute({**THIN, "partial_fill_chance": 1.0}, corr_id=f"fok{k}", order_type=order_type,
                            quantity=quantity, metadata={"time_in_force": "FOK"}, **extra)
        statuses = [f["fill_status"] for f in fills_of(bodies)]
        assert statuses in (["full"], ["cancelled"]), statuses
        assert executed_quantity(bodies) in (0, quantity)
        if statuses == ["cancelled"]:
            assert fills_of(bodies)[0]["metadata"]["reason_code"] in ("fok_not_filled", "not_marketable",
                                                                      "stop_not_triggered")
        outcomes.add(statuses[0])
    assert outcomes == {"full", "cancelled"}  # both verdicts reached: the sizes straddle the liquidity


# -- time in force: DAY and GTC rest until the price path reaches them ------------------------


def path_mids(instrument: str, start_ms: int, steps: int, field: str = "mid") -> list[tuple[int, float]]:
    """(instant, mid) for each one-second step from start_ms: the step holding start_ms counts from it
    (the bid or the ask instead with `field`)."""
    market = Market(SEED, BOOK)
    reference = BOOK.reference_ms
    first_boundary = start_ms - (start_ms - reference) % 1000 + 1000
    instants = [start_ms] + [first_boundary + 1000 * k for k in range(steps - 1)]
    return [(t, getattr(market.quote(instrument, t), field)) for t in instants]


def touch_of(side: str) -> str:
    """The side of the quote an order of `side` takes (and a resting one waits on)."""
    return "ask" if side == "buy" else "bid"


def level_crossed_later(mids: list[tuple[int, float]], above: bool, quiet_steps: int) -> tuple[float, int]:
    """A level no step of the first `quiet_steps` reaches but a later one does, and that first instant."""
    early = [m for _, m in mids[:quiet_steps]]
    later = [m for _, m in mids[quiet_steps:]]
    if above:
        level = round((max(early) + max(later)) / 2, 2) if max(later) > max(early) + 0.02 else None
    else:
        level = round((min(early) + min(later)) / 2, 2) if min(later) < min(early) - 0.02 else None
    assert level is not None, "the path never goes beyond its first stretch: pick other steps"
    first = next(t for t, m in mids if (m >= level if above else m <= level))
    return level, first


ARRIVAL = T0 + FIXED_DELAY
RESTING_SETTINGS = {"market_sessions": False, "liquidity_share": 0.0}


@pytest.mark.parametrize("tif", ["DAY", "GTC"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_resting_limit_fills_at_its_limit_at_the_first_instant_the_touch_crosses_it_never_before(tif, side):
    """A buy limit rests until the ask comes down to it, a sell until the bid rises to it; it fills at
    its limit exactly (a maker), never better, never worse."""
    mids = path_mids("BTC/USD", ARRIVAL, 4000, touch_of(side))
    level, first = level_crossed_later(mids, above=side == "sell", quiet_steps=400)
    ex, bodies = execute(RESTING_SETTINGS, instrument="BTC/USD", side=side, order_type="limit", price=level,
                         quantity=0.5, metadata={"time_in_force": tif})
    (fill,) = fills_of(bodies)
    assert fill["fill_status"] == "full"
    assert fill["metadata"]["market_time"] == iso_ms(first)  # the crossing step, not a step earlier or later
    assert fill["execution_latency_ms"] == first - T0 and ex.events[0].release_after_ms == first - T0
    assert fill["fill_price"] == level


def test_a_marketable_day_limit_and_a_day_market_order_execute_at_arrival():
    mid = mid_at("BTC/USD")
    _, bodies = execute(RESTING_SETTINGS, instrument="BTC/USD", order_type="limit", price=mid * 1.01,
                        quantity=0.5, metadata={"time_in_force": "DAY"})
    assert [f["execution_latency_ms"] for f in fills_of(bodies)] == [FIXED_DELAY]
    _, bodies = execute(RESTING_SETTINGS, instrument="BTC/USD", quantity=0.5, metadata={"time_in_force": "GTC"})
    assert [(f["fill_status"], f["execution_latency_ms"]) for f in fills_of(bodies)] == [("full", FIXED_DELAY)]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_resting_stop_triggers_at_the_first_crossing_and_executes_as_market(side):
    mids = path_mids("ETH/USD", ARRIVAL, 4000, touch_of(side))  # triggered by the touch
    level, first = level_crossed_later(mids, above=side == "buy", quiet_steps=300)
    _, bodies = execute(RESTING_SETTINGS, instrument="ETH/USD", side=side, order_type="stop", stop_price=level,
                        quantity=2, metadata={"time_in_force": "GTC"})
    (fill,) = fills_of(bodies)
    assert fill["fill_status"] == "full" and fill["metadata"]["market_time"] == iso_ms(first)


def test_a_day_order_the_price_never_reaches_expires_at_the_close():
    # Tuesday 2024-01-16 15:00 UTC: NYSE open, closes 21:00 UTC.
    placed = 1_705_417_200_000
    far_below = round(mid_at("AAPL", placed + FIXED_DELAY) * 0.5, 2)
    ex, bodies = execute({"market_sessions": True, "liquidity_share": 0.0}, instrument="AAPL", order_type="limit",
                         price=far_below, quantity=10, ts_ms=placed - 1000, received_ms=placed,
                         metadata={"time_in_force": "DAY"})
    (fill,) = fills_of(bodies)
    close = 1_705_438_800_000
    assert fill["fill_status"] == "cancelled" and fill["metadata"]["reason_code"] == "expired"
    assert fill["metadata"]["market_time"] == iso_ms(close) and fill["execution_latency_ms"] == close - placed
    update = update_of(bodies)
    assert (update["status"], update["event_type"], update["remaining_quantity"]) == ("expired", "cancelled", 10)
    assert ex.events[-1].fill_type == "expired"


def test_a_gtc_order_placed_on_a_weekend_rests_through_closed_hours_and_fills_only_when_open():
    settings = {"market_sessions": True, "liquidity_share": 0.0, "gtc_horizon_days": 5}
    monday_open = 1_705_329_000_000  # 2024-01-15 is a holiday (MLK day): the open is Tuesday 14:30 UTC
    tuesday_open = monday_open + 86_400_000
    mids = path_mids("AAPL", tuesday_open, 3000, "ask")
    level, first = level_crossed_later(mids, above=False, quiet_steps=200)
    _, bodies = execute(settings, instrument="AAPL", order_type="limit", price=level, quantity=10,
                        ts_ms=WEEKEND, received_ms=WEEKEND + 1000, metadata={"time_in_force": "GTC"})
    (fill,) = fills_of(bodies)
    assert fill["fill_status"] == "full" and fill["metadata"]["market_time"] == iso_ms(first)
    # Without a time in force the same order is rejected: the market is closed.
    _, bodies = execute(settings, instrument="AAPL", order_type="limit", price=level, quantity=10,
                        ts_ms=WEEKEND, received_ms=WEEKEND + 1000)
    assert fills_of(bodies)[0]["metadata"]["reason_code"] == "market_closed"


def test_a_gtc_order_expires_after_its_horizon():
    far = round(mid_at("BTC/USD") * 3, 2)  # a sell limit three times the price: never within hours
    _, bodies = execute({**RESTING_SETTINGS, "gtc_horizon_days": 0.1}, instrument="BTC/USD", side="sell",
                        order_type="limit", price=far, quantity=1, metadata={"time_in_force": "GTC"})
    (fill,) = fills_of(bodies)
    assert fill["metadata"]["reason_code"] == "expired"
    assert fill["execution_latency_ms"] == FIXED_DELAY + 8_640_000
    assert update_of(bodies)["status"] == "expired"


# -- resting orders: what the review found --------------------------------------------------------

TUESDAY_1500 = 1_705_417_200_000  # 2024-01-16 15:00 UTC, NYSE open until 21:00 UTC
NYSE_CLOSE = 1_705_438_800_000


@pytest.mark.parametrize("settings", [
    # Child fills run into the close; a two-day duplicate window lets the rest wait for the next open.
    {"market_sessions": True, "liquidity_share": 0.001, "idempotency_ttl_s": 172_800.0},
    {"market_sessions": False, "liquidity_share": 0.001, "fault_halt_probability": 0.5, "fault_halt_window_s": 3},
])
@pytest.mark.parametrize("with_price", [False, True])
def test_a_triggered_resting_stop_resumes_as_a_market_order_after_a_close_or_a_halt(settings, with_price):
    placed = NYSE_CLOSE - 6_000
    stop = round(mid_at("AAPL", placed + FIXED_DELAY) * 0.99, 2)  # a buy stop below the mid: triggered
    extra = {"price": round(stop * 0.5, 2)} if with_price else {}  # a stray price must not make it a limit
    for k in range(6):
        ex, bodies = execute(settings, corr_id=f"stop{k}", instrument="AAPL", order_type="stop", stop_price=stop,
                             quantity=20_000, ts_ms=placed + k * 7_000, received_ms=placed + k * 7_000 + 1000,
                             metadata={"time_in_force": "GTC"}, **extra)
        fills = fills_of(bodies)
        statuses = [f["fill_status"] for f in fills]
        assert statuses[-1] in ("full", "cancelled") and "rejected" not in statuses
        assert executed_quantity(bodies) + (fills[-1]["fill_quantity"] if statuses[-1] == "cancelled" else 0) \
            == pytest.approx(20_000)
        if statuses[-1] == "cancelled":  # the child fill limit, never a limit price or a false expiry
            assert fills[-1]["metadata"]["reason_code"] == "child_fill_limit", fills[-1]


def test_a_resting_order_never_fills_after_it_expires_and_its_expiry_comes_last():
    """Orders that cross in the last step before a short horizon, with children beyond it."""
    settings = {"market_sessions": False, "liquidity_share": 0.1, "gtc_horizon_days": 0.001, "max_child_fills": 1000}
    market, checked = Market(SEED, BOOK), 0
    for k in range(3000):
        placed = T0 + k * 7_919
        arrival, expires = placed + FIXED_DELAY, placed + FIXED_DELAY + 86_400
        instants = [t for t, _ in path_mids("AAPL", arrival, 90) if t < expires]
        mids = [market.quote("AAPL", t).ask for t in instants]  # a buy limit waits for the ask
        if not mids[-1] < min(mids[:-1]) - 0.01:
            continue
        level = round((mids[-1] + min(mids[:-1])) / 2, 2)  # first reached in the very last step
        ex, bodies = execute(settings, corr_id=f"exp{k}", instrument="AAPL", order_type="limit", price=level,
                             quantity=5_000, ts_ms=placed, received_ms=placed + 1000, metadata={"time_in_force": "GTC"})
        fills = fills_of(bodies)
        executed = [f for f in fills if f["fill_status"] in ("full", "partial")]
        assert executed and all(placed + f["execution_latency_ms"] < expires for f in executed)
        assert fills[-1]["fill_status"] == "cancelled" and fills[-1]["metadata"]["reason_code"] == "expired"
        releases = [e.release_after_ms for e in ex.events]
        assert releases == sorted(releases)
        checked += 1
        if checked == 3:
            break
    assert checked == 3


def test_a_resting_orders_fills_span_less_than_the_streams_duplicate_window():
    """A redelivered order re-publishes every event; the stream drops repeats only within its window
    (IDEMPOTENCY_TTL_SEC, 3,600 s by default): a remainder rests on for less than that, then expires."""
    settings = {"market_sessions": True, "liquidity_share": 1.0, "gtc_horizon_days": 30}
    spans, capped = [], 0
    for k in range(60):
        placed = T0 + k * 3_600_000
        limit = round(mid_at("BTC/USD", placed) * 0.995, 2)
        ex, bodies = execute(settings, corr_id=f"span{k}", instrument="BTC/USD", order_type="limit", price=limit,
                             quantity=3, ts_ms=placed, received_ms=placed + 1000, metadata={"time_in_force": "GTC"})
        executed = [f for f in fills_of(bodies) if f["fill_status"] in ("full", "partial")]
        if executed:
            spans.append(ex.events[-1].release_after_ms - executed[0]["execution_latency_ms"])
            capped += fills_of(bodies)[-1]["metadata"].get("reason_code") == "expired"
    assert spans and max(spans) <= (3_600 - 60) * 1000
    assert capped  # some would have gone on filling for longer: the cap is what ended them


def test_halts_at_probability_one_do_not_make_a_resting_order_scan_each_window(monkeypatch):
    scans: list[tuple[int, int]] = []
    search = SyntheticMarket.first_crossing

    def counted(self, instrument, start_ms, end_ms, level, above, side="mid"):
        scans.append((start_ms, end_ms))
        return search(self, instrument, start_ms, end_ms, level, above, side)

    monkeypatch.setattr(SyntheticMarket, "first_crossing", counted)
    _, bodies = execute({"market_sessions": False, "fault_halt_probability": 1.0, "fault_halt_window_s": 1,
                         "gtc_horizon_days": 0.1}, instrument="AAPL", side="buy", order_type="limit", price=1e6,
                        quantity=1, metadata={"time_in_force": "GTC"})
    # Marketable at every instant, but every 1 s window is halted until it expires.
    assert fills_of(bodies)[0]["metadata"]["reason_code"] == "expired"
    # The halted windows are walked by hash to the expiry: at most one search, not one per 1 s window.
    assert len(scans) <= 1


def test_a_resting_order_beyond_the_calendars_range_is_rejected_as_market_closed():
    beyond = 2_145_916_800_000 + 86_400_000  # 2038-01-02: past the precomputed calendars
    _, bodies = execute({"market_sessions": True}, instrument="AAPL", order_type="limit", price=1.0, quantity=1,
                        ts_ms=beyond, received_ms=beyond + 1000, metadata={"time_in_force": "DAY"})
    assert fills_of(bodies)[0]["metadata"]["reason_code"] == "market_closed"
