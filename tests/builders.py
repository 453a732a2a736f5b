"""Builders the worker's unit tests share: settings, intents, accepted intents, simulators, and
readers of the events they produce.

Runs in the test process only. One place for what every worker test needs, so no test module
imports another. Defaults: the order-type and quantity rules alone (no sessions, unlimited
liquidity, no random partials, no tick or lot grid: SIMULATION_OFF_GRID=accept); a test of a
model, a calendar or the grid turns it on by keyword. The realism models' tests share their own
instant and simulator (realism_sim, realism_run); the strategy controls' tests run intents
through the real validator (execute).
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import orjson
from jsonschema import Draft7Validator, Draft202012Validator

from common.config import Settings
from common.contracts import FILL, ORDER_INTENT, ORDER_UPDATE, RECONCILE, load_schema
from common.instruments import load_instruments
from common.messages import Execution, RawIntent, Rejection
from worker.directives import NONE, Directives
from worker.events import EXECUTED_STATUSES, iso_ms
from worker.intent import AcceptedIntent
from worker.market import Market
from worker.order import Order, order_from_accepted
from worker.simulator import ExecutionSimulator
from worker.time_in_force import time_in_force_policies
from worker.validation import IntentValidator

SEED = b"unit-test-seed"
BOOK = load_instruments()
T0 = 1_705_314_660_123  # 2024-01-15T10:31:00.123Z, a Monday
RECEIVED = T0  # stored by the stream at the instant the intent was stamped
FIXED_DELAY = 500
# Saturday 2024-01-13 15:00 UTC: NYSE closed.
WEEKEND = 1_705_158_000_000

FORMATS = Draft202012Validator.FORMAT_CHECKER
FILL_V = Draft202012Validator(load_schema(FILL), format_checker=FORMATS)
RECONCILE_V = Draft202012Validator(load_schema(RECONCILE), format_checker=FORMATS)
# The at-core order_update contract is draft-07.
ORDER_UPDATE_V = Draft7Validator(load_schema(ORDER_UPDATE), format_checker=Draft7Validator.FORMAT_CHECKER)
INTENT_V = Draft202012Validator(load_schema(ORDER_INTENT), format_checker=FORMATS)
VALIDATORS = {"fill": FILL_V, "reconcile": RECONCILE_V, "order_update": ORDER_UPDATE_V}

# -- settings and simulators ----------------------------------------------------------------


def make_settings(**kw: Any) -> Settings:
    """The order-type and quantity rules alone: no sessions, unlimited liquidity, no tick or lot grid
    (tests of those turn them on)."""
    base: dict[str, Any] = dict(partial_fill_chance=0.0, slippage_bps=2.0, commission_bps=0.5,
                                simulation_seed="unit-test-seed", market_sessions=False, liquidity_share=0.0,
                                off_grid="accept")
    base.update(kw)
    return Settings(**base)


def make_sim(**kw: Any) -> ExecutionSimulator:
    """A simulator over make_settings(**kw), seeded with SEED."""
    return ExecutionSimulator(make_settings(**kw), SEED)


def fixed_sim(**kw: Any) -> ExecutionSimulator:
    """Every delay is FIXED_DELAY, so the market time of a first fill is T0 + FIXED_DELAY."""
    return make_sim(min_delay_ms=FIXED_DELAY, max_delay_ms=FIXED_DELAY, **kw)


def seeded_settings(seed: str, **kw: Any) -> Settings:
    """Settings with SIMULATION_SEED `seed` and only what a test turns on: no sessions, unlimited
    liquidity, no random partials, no tick or lot grid, the virtual clock."""
    return Settings(**{"simulation_seed": seed, "market_sessions": False, "liquidity_share": 0.0,
                       "partial_fill_chance": 0.0, "simulation_clock": "virtual", "instruments": BOOK,
                       "off_grid": "accept", **kw})


def seeded_sim(seed: str, **kw: Any) -> ExecutionSimulator:
    """A simulator seeded as the service seeds it: from its settings' SIMULATION_SEED."""
    settings = seeded_settings(seed, **kw)
    return ExecutionSimulator(settings, settings.seed)


# -- intents ----------------------------------------------------------------------------------

# The at-core schema's own example intent (every field, a limit order).
EXAMPLE: dict[str, Any] = load_schema(ORDER_INTENT)["examples"][0]


def example_intent(**changes: Any) -> dict[str, Any]:
    """The schema's example with fields replaced; a value of ... removes the field."""
    body = copy.deepcopy(EXAMPLE)
    for name, value in changes.items():
        if value is ...:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def make_intent(corr_id: str = "c1", order_type: str = "market", side: str = "buy", quantity: float = 100,
                instrument: str = "EURUSD", ts_ms: int = T0, **kw: Any) -> dict[str, Any]:
    """A schema-valid decisions.order_intent body; keywords add or replace fields."""
    intent: dict[str, Any] = {
        "corr_id": corr_id, "strategy_id": "strat_1", "agent_id": "agent_1", "timestamp": iso_ms(ts_ms),
        "instrument": instrument, "side": side, "order_type": order_type, "quantity": quantity, "confidence": 0.7,
    }
    intent.update(kw)
    return intent


def accept(intent: dict[str, Any], ts_ms: int = T0, received_ms: int = RECEIVED, seq: int = 1,
           directives: Directives | None = None) -> AcceptedIntent:
    """The intent as validation accepts it (without running validation)."""
    return AcceptedIntent(seq, intent["corr_id"], intent, ts_ms, received_ms, directives or NONE)


def make_order(directives: Directives | None = None, **intent_kw: Any) -> Order:
    """The typed order of make_intent(**intent_kw) with these directives (default: none)."""
    return order_from_accepted(accept(make_intent(**intent_kw), directives=directives), time_in_force_policies(7.0))


def run(sim: ExecutionSimulator, received_ms: int = RECEIVED, **intent_kw: Any) -> tuple[Execution, list[dict[str, Any]]]:
    """Simulate make_intent(**intent_kw): the execution and its decoded event bodies."""
    ts = intent_kw.get("ts_ms", T0)
    ex = sim.simulate(accept(make_intent(**intent_kw), ts_ms=ts, received_ms=received_ms))
    return ex, bodies_of(ex)


def execute(settings_kw: dict | None = None, received_ms: int = RECEIVED,
            **intent_kw: Any) -> tuple[Execution, list[dict]]:
    """make_intent(**intent_kw) through the real validator (which reads the directives) and the real
    simulator, every delay FIXED_DELAY; every event is checked against its at-core schema."""
    settings = make_settings(min_delay_ms=FIXED_DELAY, max_delay_ms=FIXED_DELAY, **(settings_kw or {}))
    intent = make_intent(**intent_kw)
    accepted = IntentValidator(settings).check(RawIntent(1, orjson.dumps(intent), None, received_ms))
    assert not isinstance(accepted, Rejection), accepted
    ex = ExecutionSimulator(settings, SEED).simulate(accepted)
    bodies = [orjson.loads(e.payload) for e in ex.events]
    for event, body in zip(ex.events, bodies):
        assert_valid({"fill": FILL_V, "reconcile": RECONCILE_V, "order_update": ORDER_UPDATE_V}[event.kind], body)
    return ex, bodies


# -- the realism models -----------------------------------------------------------------------

REALISM_T0 = 1_795_014_000_000  # 2026-11-18T15:00:00Z, a Wednesday: every calendar is open


def realism_sim(**kw: Any) -> ExecutionSimulator:
    """A simulator with only what a test turns on: no sessions, unlimited liquidity, no partials."""
    return seeded_sim("realism", **kw)


def realism_run(sim: ExecutionSimulator, corr_id: str, ts_ms: int = REALISM_T0, received_ms: int | None = None,
                **kw: Any) -> tuple[Execution, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """(execution, fill bodies, reconcile bodies, order update body or None) of one intent."""
    intent = make_intent(corr_id, **{"instrument": "BTC/USD", "quantity": 1, **kw}, ts_ms=ts_ms)
    ex = sim.simulate(accept(intent, ts_ms, ts_ms if received_ms is None else received_ms))
    return (ex, *by_kind(ex))


# -- reading events ---------------------------------------------------------------------------


def bodies_of(ex: Execution) -> list[dict[str, Any]]:
    return [orjson.loads(e.payload) for e in ex.events]


def fills_of(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The executions.fill bodies (not the reconciles or the order update)."""
    return [b for b in bodies if "fill_id" in b and "reconcile_id" not in b]


def update_of(bodies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The executions.order_update body, None when the order filled in full."""
    updates = [b for b in bodies if "event_type" in b]
    assert len(updates) <= 1 and (not updates or bodies[-1] is updates[0])
    return updates[0] if updates else None


def by_kind(ex: Execution) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None]:
    """(fill bodies, reconcile bodies, order update body or None) of one execution."""
    decoded = [(e.kind, orjson.loads(e.payload)) for e in ex.events]
    updates = [b for k, b in decoded if k == "order_update"]
    assert len(updates) <= 1
    return ([b for k, b in decoded if k == "fill"], [b for k, b in decoded if k == "reconcile"],
            updates[0] if updates else None)


def executed(fills: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fills that executed (full or partial), not the cancelled or rejected rest."""
    return [f for f in fills if f["fill_status"] in EXECUTED_STATUSES]


def executed_quantity(bodies: list[dict[str, Any]]) -> float:
    """The quantity the fills among these event bodies executed (full or partial)."""
    return sum(f["fill_quantity"] for f in fills_of(bodies) if f["fill_status"] in ("full", "partial"))


def exact_sum(fills: list[dict[str, Any]]) -> Fraction:
    """The fills' quantities added up exactly."""
    return sum((Fraction(f["fill_quantity"]) for f in fills), Fraction(0))


def mid_at(instrument: str = "EURUSD", at_ms: int = T0 + FIXED_DELAY, seed: bytes = SEED) -> float:
    return Market(seed, BOOK).quote(instrument, at_ms).mid


def assert_valid(validator: Any, body: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [e.message for e in errors]
