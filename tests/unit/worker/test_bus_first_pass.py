"""A MARKET_DATA=bus intent's first pass in the worker (worker.process, ExecutionSimulator.arrival_ms).

The first pass does not simulate: it asks for the market up to the order's arrival. That instant
must be the one simulate's first look asks about over a slice that knows nothing, whatever
moves it (the latency model, a forced delay, an injected latency spike) and whatever ends the
order at its arrival (off the lot and refused), or every intent would take a pass more than it needs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.config import load_settings
from common.error_codes import QUANTITY_INVALID
from common.instruments import normalize
from common.messages import AwaitingMarket, RawIntent, Rejection
from tools import sample_intents as si
from worker.events import iso_ms
from worker.intent import AcceptedIntent
from worker.market_slice import slice_bytes, slice_market
from worker.process import IntentProcessor
from worker.recorded_market import MarketNotKnown
from worker.simulator import ExecutionSimulator
from worker.validation import IntentValidator

T0 = 1_768_219_200_000  # Monday 2026-01-12 12:00 UTC
NOTHING_KNOWN = -(2**62)


def _raws(count: int) -> list[RawIntent]:
    raws = []
    for n, body in enumerate(si.mixed(count, prefix="first")):
        at = T0 + 7_919 * n
        body["timestamp"] = iso_ms(at)
        if n % 5 == 1:
            body["quantity"] = round(body["quantity"] * 1.37, 3)  # off the lot: rounded, or refused
        if n % 4 == 0:
            body["metadata"] = {**(body.get("metadata") or {}), "exec_sim_force": {"delay_ms": 1_000 + n}}
        raws.append(RawIntent(n + 1, si.encode(body), None, at + n % 3))
    return raws


@pytest.mark.parametrize("off_grid", ["round", "reject"])
def test_a_first_pass_asks_for_the_instant_of_the_orders_first_look(off_grid: str) -> None:
    settings = load_settings({"SIMULATION_SEED": "first-pass", "MARKET_DATA": "bus", "SIMULATION_OFF_GRID": off_grid,
                              "SIMULATION_FORCED_OUTCOMES": "on", "FAULT_LATENCY_SPIKE_PROBABILITY": "0.3",
                              "FAULT_LATENCY_SPIKE_MS": "5000"})
    processor, validator = IntentProcessor(settings, settings.seed), IntentValidator(settings)
    simulator = ExecutionSimulator(settings, settings.seed)
    nothing = slice_bytes(NOTHING_KNOWN, [])
    delays = set()
    for raw in _raws(80):
        first = processor.process(raw)
        accepted = validator.check(raw)
        assert isinstance(first, AwaitingMarket) and isinstance(accepted, AcceptedIntent)
        key = normalize(accepted.intent["instrument"])
        view = slice_market(nothing, key, simulator.synthetic_view, settings.market_data_max_age_ms, False)
        with pytest.raises(MarketNotKnown) as asked:
            simulator.simulate(accepted, view)
        sent_back = replace(raw, accepted=True)  # a later pass checks again only the signature
        assert (first.need_ms, first.watch, first.instrument, first.raw) == (asked.value.need_ms, None, key, sent_back)
        delays.add(first.need_ms - raw.received_at_ms)
    assert len(delays) > 20  # the latency model's draws, forced delays and spikes all came


def test_an_intent_with_a_slice_is_checked_whole_unless_a_pass_accepted_it() -> None:
    settings = load_settings({"SIMULATION_SEED": "first-pass", "MARKET_DATA": "bus"})
    processor = IntentProcessor(settings, settings.seed)
    body = si.encode(si.intent("bad", instrument="EURUSD", quantity=0, timestamp=iso_ms(T0)))
    raw = RawIntent(1, body, None, T0, market=slice_bytes(T0, []))
    rejected = processor.process(raw)
    assert isinstance(rejected, Rejection) and rejected.error_code == QUANTITY_INVALID
