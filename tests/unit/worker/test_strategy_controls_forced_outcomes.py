"""Strategy-testing controls in the worker: directives and forced outcomes.

A directive that cannot be honoured is a typed rejection, and other metadata is the strategy's own;
forced full, partial, reject and delay outcomes override the simulation (switched off, the key is
ignored) and a forced intent meets no venue fault. Intents go through the real validator
(worker.validation reads the directives) and the real simulator; every event is checked against
its at-core schema.
"""

from __future__ import annotations

import orjson
import pytest

from common.messages import RawIntent, Rejection
from tests.builders import (
    RECEIVED,
    T0,
    WEEKEND,
    execute,
    executed_quantity,
    fills_of,
    make_intent,
    make_settings,
    mid_at,
    update_of,
)
from worker.directives import FORCE_KEY, read_directives
from worker.events import iso_ms
from worker.rejections import INVALID_DIRECTIVE
from worker.validation import IntentValidator


def rejection(settings_kw: dict | None = None, **intent_kw) -> Rejection | None:
    settings = make_settings(**(settings_kw or {}))
    out = IntentValidator(settings).check(RawIntent(1, orjson.dumps(make_intent(**intent_kw)), None, RECEIVED))
    return out if isinstance(out, Rejection) else None


def forced(**force) -> dict:
    return {"metadata": {FORCE_KEY: force}}


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


def test_a_whole_float_delay_is_a_delay_and_a_delay_only_force_meets_no_halt():
    ex, bodies = execute({"fault_halt_probability": 1.0}, **forced(delay_ms=250.0))
    assert fills_of(bodies)[0]["execution_latency_ms"] == 250
    assert [f["fill_status"] for f in fills_of(bodies)] == ["full"] and ex.faults == ()
