"""Strategy-testing controls in the worker: forced outcomes, seeded venue faults, IOC and FOK.

Intents go through the real validator (worker.validation reads the directives) and the
real simulator; every event is checked against its at-core schema.
"""

from __future__ import annotations

import orjson
import pytest

from common.messages import Execution, RawIntent, Rejection
from tests.builders import (
    BOOK,
    FILL_V,
    FIXED_DELAY,
    ORDER_UPDATE_V,
    RECEIVED,
    RECONCILE_V,
    SEED,
    T0,
    assert_valid,
    fills_of,
    make_intent,
    make_settings,
    mid_at,
    update_of,
)
from worker.directives import FORCE_KEY, read_directives
from worker.events import iso_ms
from worker.faults import (
    DUPLICATE_FILL,
    INSTRUMENT_HALT,
    LATENCY_SPIKE,
    RECONCILE_DELAYED,
    VENUE_REJECT,
    VenueFaults,
)
from worker.market import Market
from worker.rejections import INVALID_DIRECTIVE
from worker.simulator import ExecutionSimulator
from worker.synthetic_market import SyntheticMarket
from worker.validation import IntentValidator

# Saturday 2024-01-13 15:00 UTC: NYSE closed.
WEEKEND = 1_705_158_000_000


def execute(settings_kw: dict | None = None, received_ms: int = RECEIVED, **intent_kw) -> tuple[Execution, list[dict]]:
    settings = make_settings(min_delay_ms=FIXED_DELAY, max_delay_ms=FIXED_DELAY, **(settings_kw or {}))
    intent = make_intent(**intent_kw)
    accepted = IntentValidator(settings).check(RawIntent(1, orjson.dumps(intent), None, received_ms))
    assert not isinstance(accepted, Rejection), accepted
    ex = ExecutionSimulator(settings, SEED).simulate(accepted)
    bodies = [orjson.loads(e.payload) for e in ex.events]
    for event, body in zip(ex.events, bodies):
        assert_valid({"fill": FILL_V, "reconcile": RECONCILE_V, "order_update": ORDER_UPDATE_V}[event.kind], body)
    return ex, bodies


def rejection(settings_kw: dict | None = None, **intent_kw) -> Rejection | None:
    settings = make_settings(**(settings_kw or {}))
    out = IntentValidator(settings).check(RawIntent(1, orjson.dumps(make_intent(**intent_kw)), None, RECEIVED))
    return out if isinstance(out, Rejection) else None


def forced(**force) -> dict:
    return {"metadata": {FORCE_KEY: force}}


def executed_quantity(bodies) -> float:
    return sum(f["fill_quantity"] for f in fills_of(bodies) if f["fill_status"] in ("full", "partial"))


# -- directives ----------------------------------------------------------------------------


@pytest.mark.parametrize("metadata, problem", [
    ({"time_in_force": "FOREVER"}, "time_in_force"),
    ({"time_in_force": 3}, "time_in_force"),
    ({FORCE_KEY: "full"}, "asks for something"),
    ({FORCE_KEY: {}}, "asks for something"),
    ({FORCE_KEY: {"outcome": None}}, "asks for something"),
    ({FORCE_KEY: {"delay_ms": None}}, "asks for something"),
    ({FORCE_KEY: {"outcome": "explode"}}, "outcome"),
    ({FORCE_KEY: {"outcome": "partial", "fill_ratio": 1}}, "fill_ratio"),
    ({FORCE_KEY: {"outcome": "partial", "fill_ratio": 0}}, "fill_ratio"),
    ({FORCE_KEY: {"outcome": "partial", "fill_ratio": True}}, "fill_ratio"),
    ({FORCE_KEY: {"outcome": "full", "fill_ratio": 0.5}}, "partial only"),
    ({FORCE_KEY: {"outcome": "full", "reason": "x"}}, "reject only"),
    ({FORCE_KEY: {"outcome": "reject", "reason": ""}}, "reason"),
    ({FORCE_KEY: {"outcome": "reject", "reason": "x" * 201}}, "reason"),
    ({FORCE_KEY: {"delay_ms": -1}}, "delay_ms"),
    ({FORCE_KEY: {"delay_ms": 1.5}}, "delay_ms"),
    ({FORCE_KEY: {"delay_ms": True}}, "delay_ms"),
    ({FORCE_KEY: {"delay_ms": 86_400_001}}, "delay_ms"),
    ({FORCE_KEY: {"outcome": "full", "price": 3}}, "unknown key"),
    ({"time_in_force": "FOK", FORCE_KEY: {"outcome": "partial"}}, "FOK"),
])
def test_a_directive_that_cannot_be_honoured_is_a_typed_rejection(metadata, problem):
    rejected = rejection(metadata=metadata)
    assert rejected is not None and rejected.error_type == INVALID_DIRECTIVE and rejected.corr_id == "c1"
    assert problem in rejected.detail


def test_directives_are_read_in_any_case_and_other_metadata_is_the_strategys_own():
    assert read_directives(make_intent(metadata={"time_in_force": "ioc", "note": 1}), True).time_in_force == "IOC"
    assert rejection(metadata={"signal": "x", "exec_sim": {"outcome": "nonsense"}}) is None


def test_forced_outcomes_switched_off_ignore_the_key_even_when_invalid():
    assert rejection({"forced_outcomes": False}, metadata={FORCE_KEY: {"outcome": "explode"}}) is None
    ex, bodies = execute({"forced_outcomes": False}, **forced(outcome="reject"))
    assert [f["fill_status"] for f in fills_of(bodies)] == ["full"]


# -- forced outcomes ------------------------------------------------------------------------


def test_forced_full_fills_everything_at_once_even_when_the_market_is_closed_and_liquidity_is_thin():
    settings = {"market_sessions": True, "liquidity_share": 0.0001, "partial_fill_chance": 1.0}
    ex, bodies = execute(settings, instrument="AAPL", quantity=50_000, ts_ms=WEEKEND, received_ms=WEEKEND + 1000,
                         **forced(outcome="full"))
    fills = fills_of(bodies)
    assert [f["fill_status"] for f in fills] == ["full"] and fills[0]["fill_quantity"] == 50_000
    assert update_of(bodies) is None and ex.faults == ()


def test_forced_full_on_a_limit_never_pays_more_than_the_limit():
    limit = round(mid_at("EURUSD") * 0.9, 5)  # far below the market: not marketable
    _, bodies = execute(order_type="limit", price=limit, **forced(outcome="full"))
    (fill,) = fills_of(bodies)
    assert fill["fill_status"] == "full" and fill["fill_price"] <= limit


@pytest.mark.parametrize("instrument, quantity, ratio, expected", [
    ("AAPL", 1000, 0.25, 250), ("AAPL", 1000, 0.999, 999), ("AAPL", 3, 0.1, 1), ("BTCUSD", 0.5, 0.5, 0.25),
    ("EURUSD", 10_000, 0.25, 2_000),  # whole lots of 1,000, rounded down
])
def test_forced_partial_fills_the_ratio_and_cancels_the_rest(instrument, quantity, ratio, expected):
    _, bodies = execute({"liquidity_share": 1.0}, instrument=instrument, quantity=quantity,
                        **forced(outcome="partial", fill_ratio=ratio))
    fills = fills_of(bodies)
    assert [f["fill_status"] for f in fills] == ["partial", "cancelled"]
    assert fills[0]["fill_quantity"] == expected
    assert fills[1]["metadata"]["reason_code"] == "forced_partial"
    assert fills[0]["fill_quantity"] + fills[1]["fill_quantity"] == pytest.approx(quantity)
    update = update_of(bodies)
    assert update["status"] == "cancelled" and update["filled_quantity"] == expected


def test_forced_partial_of_one_unit_cannot_split_and_is_cancelled_whole():
    _, bodies = execute(instrument="AAPL", quantity=1, **forced(outcome="partial"))
    assert [f["fill_status"] for f in fills_of(bodies)] == ["cancelled"]
    assert executed_quantity(bodies) == 0 and "one unit" in fills_of(bodies)[0]["reject_reason"]


def test_forced_reject_carries_the_scripted_reason():
    _, bodies = execute(**forced(outcome="reject", reason="insufficient margin"))
    (fill,) = fills_of(bodies)
    assert fill["fill_status"] == "rejected" and fill["reject_reason"] == "insufficient margin"
    assert fill["metadata"]["reason_code"] == "forced_reject"
    update = update_of(bodies)
    assert update["status"] == "rejected" and update["reject_reason"] == "insufficient margin"


def test_forced_delay_sets_the_arrival_and_the_rest_is_simulated():
    ex, bodies = execute(**forced(delay_ms=12_345))
    (fill,) = fills_of(bodies)
    assert fill["execution_latency_ms"] == 12_345 and ex.events[0].release_after_ms == 12_345
    assert fill["fill_status"] == "full" and fill["metadata"]["market_time"] == iso_ms(T0 + 12_345)


def test_a_forced_intent_meets_no_fault():
    every_fault = {"fault_reject_probability": 1.0, "fault_latency_spike_probability": 1.0,
                   "fault_duplicate_fill_probability": 1.0, "fault_reconcile_delay_probability": 1.0,
                   "fault_halt_probability": 1.0}
    ex, bodies = execute(every_fault, **forced(outcome="full"))
    assert ex.faults == () and all(not e.faults for e in ex.events)
    assert [f["fill_status"] for f in fills_of(bodies)] == ["full"]


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


# -- venue faults --------------------------------------------------------------------------


@pytest.mark.parametrize("setting, fault", [
    ("fault_reject_probability", VENUE_REJECT), ("fault_latency_spike_probability", LATENCY_SPIKE),
    ("fault_duplicate_fill_probability", DUPLICATE_FILL), ("fault_reconcile_delay_probability", RECONCILE_DELAYED),
    ("fault_halt_probability", INSTRUMENT_HALT),
])
def test_every_fault_at_probability_one_strikes_is_marked_and_at_zero_never(setting, fault):
    for k in range(20):
        ex, bodies = execute({setting: 1.0}, corr_id=f"f{k}")
        assert ex.faults == (fault,)
        marked = [e for e in ex.events if e.faults]
        assert marked and all(fault in e.faults for e in marked)
        clean, _ = execute({setting: 0.0}, corr_id=f"f{k}")
        assert clean.faults == () and all(not e.faults for e in clean.events)


def test_a_venue_reject_and_a_halt_are_rejections_with_their_reason_codes():
    _, bodies = execute({"fault_reject_probability": 1.0})
    assert [f["fill_status"] for f in fills_of(bodies)] == ["rejected"]
    assert fills_of(bodies)[0]["metadata"] == fills_of(bodies)[0]["metadata"] | {
        "reason_code": "venue_reject", "faults": ["venue_reject"]}
    assert update_of(bodies)["metadata"]["faults"] == ["venue_reject"]
    _, bodies = execute({"fault_halt_probability": 1.0})
    assert fills_of(bodies)[0]["metadata"]["reason_code"] == "instrument_halted"
    assert "halted" in update_of(bodies)["reject_reason"]


def test_a_latency_spike_adds_its_milliseconds_to_the_arrival():
    ex, bodies = execute({"fault_latency_spike_probability": 1.0, "fault_latency_spike_ms": 7_000})
    assert fills_of(bodies)[0]["execution_latency_ms"] == FIXED_DELAY + 7_000
    assert ex.events[0].release_after_ms == FIXED_DELAY + 7_000
    assert fills_of(bodies)[0]["metadata"]["faults"] == ["latency_spike"]


def test_a_duplicated_fill_is_the_same_bytes_under_another_message_id():
    ex, _ = execute({"fault_duplicate_fill_probability": 1.0})
    kinds = [(e.kind, e.msg_id) for e in ex.events]
    assert kinds == [("fill", "c1:fill:1"), ("fill", "c1:fill_duplicate:1"), ("reconcile", "c1:reconcile:1")]
    original, duplicate = ex.events[0], ex.events[1]
    assert duplicate.payload == original.payload and duplicate.faults == (DUPLICATE_FILL,) and original.faults == ()
    assert duplicate.release_after_ms == original.release_after_ms


def test_a_delayed_reconcile_is_marked_for_the_supervisor_to_hold():
    ex, bodies = execute({"fault_reconcile_delay_probability": 1.0})
    reconcile = ex.events[1]
    assert reconcile.kind == "reconcile" and reconcile.faults == (RECONCILE_DELAYED,)
    assert bodies[1]["metadata"]["faults"] == [RECONCILE_DELAYED]
    assert ex.events[0].faults == () and ex.agent_id == "agent_1"


def test_fault_rates_are_near_the_configured_probabilities():
    settings = make_settings(fault_reject_probability=0.1, fault_latency_spike_probability=0.2,
                             fault_duplicate_fill_probability=0.05, fault_reconcile_delay_probability=0.3)
    faults = VenueFaults(settings, SEED)
    n = 20_000
    plans = [faults.plan(f"rate-{k}") for k in range(n)]
    for share, expected in ((sum(p.reject for p in plans) / n, 0.1), (sum(bool(p.latency_spike_ms) for p in plans) / n, 0.2),
                            (sum(p.duplicate_fill for p in plans) / n, 0.05), (sum(p.reconcile_delayed for p in plans) / n, 0.3)):
        # 5 standard errors: a real bias fails, chance does not.
        assert abs(share - expected) < 5 * (expected * (1 - expected) / n) ** 0.5, (share, expected)
    # Independent of each other: both a reject and a spike about 0.1 * 0.2 of the time.
    both = sum(p.reject and bool(p.latency_spike_ms) for p in plans) / n
    assert abs(both - 0.02) < 5 * (0.02 * 0.98 / n) ** 0.5


def test_halts_are_whole_windows_shared_by_every_order_on_the_instrument():
    settings = make_settings(fault_halt_probability=0.3, fault_halt_window_s=60)
    faults = VenueFaults(settings, SEED)
    windows = [faults.halt_window("AAPL", T0 + k * 60_000) for k in range(2000)]
    share = sum(w is not None for w in windows) / len(windows)
    assert abs(share - 0.3) < 5 * (0.3 * 0.7 / len(windows)) ** 0.5
    for k, window in enumerate(windows):
        if window is not None:
            start, end = window
            assert start <= T0 + k * 60_000 < end and end - start == 60_000
            assert faults.halt_window("AAPL", start) == window == faults.halt_window("AAPL", end - 1)
    # Another worker with the same seed sees the same halts; another instrument its own.
    again = VenueFaults(settings, SEED)
    assert [again.halt_window("AAPL", T0 + k * 60_000) for k in range(2000)] == windows
    assert [faults.halt_window("MSFT", T0 + k * 60_000) for k in range(2000)] != windows


def test_the_same_seed_gives_the_same_faults_and_events():
    every = {"fault_reject_probability": 0.3, "fault_latency_spike_probability": 0.3,
             "fault_duplicate_fill_probability": 0.3, "fault_reconcile_delay_probability": 0.3,
             "fault_halt_probability": 0.2}
    for k in range(30):
        first, _ = execute(every, corr_id=f"same{k}")
        second, _ = execute(every, corr_id=f"same{k}")
        assert first.events == second.events and first.faults == second.faults


# -- time in force: DAY and GTC rest until the price path reaches them ------------------------


def path_mids(instrument: str, start_ms: int, steps: int) -> list[tuple[int, float]]:
    """(instant, mid) for each one-second step from start_ms: the step holding start_ms counts from it."""
    market = Market(SEED, BOOK)
    reference = BOOK.reference_ms
    first_boundary = start_ms - (start_ms - reference) % 1000 + 1000
    instants = [start_ms] + [first_boundary + 1000 * k for k in range(steps - 1)]
    return [(t, market.quote(instrument, t).mid) for t in instants]


def level_crossed_later(mids: list[tuple[int, float]], above: bool, quiet_steps: int) -> tuple[float, int]:
    """A level no step of the first `quiet_steps` reaches but a later one does, and that first instant."""
    early = [m for _, m in mids[:quiet_steps]]
    later = [m for _, m in mids[quiet_steps:]]
    if above:
        level = (max(early) + max(later)) / 2 if max(later) > max(early) else None
    else:
        level = (min(early) + min(later)) / 2 if min(later) < min(early) else None
    assert level is not None, "the path never goes beyond its first stretch: pick other steps"
    first = next(t for t, m in mids if (m >= level if above else m <= level))
    return level, first


ARRIVAL = T0 + FIXED_DELAY
RESTING_SETTINGS = {"market_sessions": False, "liquidity_share": 0.0}


@pytest.mark.parametrize("tif", ["DAY", "GTC"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_resting_limit_fills_at_the_first_instant_the_path_crosses_it_never_before(tif, side):
    mids = path_mids("BTC/USD", ARRIVAL, 4000)
    level, first = level_crossed_later(mids, above=side == "sell", quiet_steps=400)
    ex, bodies = execute(RESTING_SETTINGS, instrument="BTC/USD", side=side, order_type="limit", price=level,
                         quantity=0.5, metadata={"time_in_force": tif})
    (fill,) = fills_of(bodies)
    assert fill["fill_status"] == "full"
    assert fill["metadata"]["market_time"] == iso_ms(first)  # the crossing step, not a step earlier or later
    assert fill["execution_latency_ms"] == first - T0 and ex.events[0].release_after_ms == first - T0
    assert (fill["fill_price"] <= level) if side == "buy" else (fill["fill_price"] >= level)


def test_a_marketable_day_limit_and_a_day_market_order_execute_at_arrival():
    mid = mid_at("BTC/USD")
    _, bodies = execute(RESTING_SETTINGS, instrument="BTC/USD", order_type="limit", price=mid * 1.01,
                        quantity=0.5, metadata={"time_in_force": "DAY"})
    assert [f["execution_latency_ms"] for f in fills_of(bodies)] == [FIXED_DELAY]
    _, bodies = execute(RESTING_SETTINGS, instrument="BTC/USD", quantity=0.5, metadata={"time_in_force": "GTC"})
    assert [(f["fill_status"], f["execution_latency_ms"]) for f in fills_of(bodies)] == [("full", FIXED_DELAY)]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_resting_stop_triggers_at_the_first_crossing_and_executes_as_market(side):
    mids = path_mids("ETH/USD", ARRIVAL, 4000)
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
                         price=far_below, quantity=10, ts_ms=placed, received_ms=placed + 1000,
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
    mids = path_mids("AAPL", tuesday_open, 3000)
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


def test_a_whole_float_delay_is_a_delay_and_a_delay_only_force_meets_no_halt():
    ex, bodies = execute({"fault_halt_probability": 1.0}, **forced(delay_ms=250.0))
    assert fills_of(bodies)[0]["execution_latency_ms"] == 250
    assert [f["fill_status"] for f in fills_of(bodies)] == ["full"] and ex.faults == ()


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
    settings = {"market_sessions": False, "liquidity_share": 0.1, "gtc_horizon_days": 0.001}
    market, checked = Market(SEED, BOOK), 0
    for k in range(400):
        placed = T0 + k * 7_919
        arrival, expires = placed + FIXED_DELAY, placed + FIXED_DELAY + 86_400
        instants = [t for t, _ in path_mids("AAPL", arrival, 90) if t < expires]
        mids = [market.quote("AAPL", t).mid for t in instants]
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

    def counted(self, instrument, start_ms, end_ms, level, above):
        scans.append((start_ms, end_ms))
        return search(self, instrument, start_ms, end_ms, level, above)

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
