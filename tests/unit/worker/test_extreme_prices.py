"""Limit and stop prices at the ends of the float range are executed or rejected as orders, never
crash the simulation (an internal-error rejection is a bug), and every event still meets its schema."""

from __future__ import annotations

import time

import orjson
import pytest

from common.config import load_settings
from common.messages import Execution, RawIntent
from tests.builders import VALIDATORS, assert_valid
from tools import sample_intents as si
from worker.process import IntentProcessor
from worker.rejections import INTERNAL

PRICES = (1e308, 1e300, 1e20, 1e-300, 5e-324)


@pytest.mark.parametrize("liquidity", ["0.05", "0"])  # the share of the book, and unlimited
@pytest.mark.parametrize("order_type", ["limit", "stop_limit"])
def test_extreme_limit_prices_are_orders_not_internal_errors(liquidity: str, order_type: str) -> None:
    settings = load_settings({"SIMULATION_SEED": "extreme", "SIMULATION_LIQUIDITY_SHARE": liquidity})
    processor = IntentProcessor(settings, settings.seed)
    now = int(time.time() * 1000)
    for price in PRICES:
        for side in ("buy", "sell"):
            intent = si.intent(f"x-{side}", order_type=order_type, side=side)
            intent["price"] = price
            if order_type == "stop_limit":
                intent["stop_price"] = price
            outcome = processor.process(RawIntent(1, orjson.dumps(intent), None, now))
            assert getattr(outcome, "error_type", None) != INTERNAL, (price, side, outcome)
            if isinstance(outcome, Execution):
                for event in outcome.events:
                    assert_valid(VALIDATORS[event.kind], orjson.loads(event.payload))
