"""The JSON Schemas this service validates against, loaded from schemas/.

Used by the workers (hot-path validator) and by the tests (reference validator).
The at-core schemas are the project's own copy of ../shared/contracts/at-core;
market_quote (the L1 quote feed, one subject per instrument) is this service's
extension beside them (docs/market-data.md), with the rule that names its subjects.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from common.instruments import normalize

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

ORDER_INTENT = "decisions.order_intent"
FILL = "executions.fill"
RECONCILE = "executions.reconcile"
ORDER_UPDATE = "executions.order_update"
MARKET_QUOTE = "market_quote"
# at-core's normalized signal: a price per instrument, read as a mid under MARKET_DATA=bus.
SIGNAL = "signals.normalized"

# Quotes of one instrument are published on MARKET_QUOTE_PREFIX.<its subject token>.
MARKET_QUOTE_PREFIX = "market.quote"
# MARKET_DATA=bus: the service's watermark ticks, empty messages on MARKET_TICK_PREFIX.<instance>.
MARKET_TICK_PREFIX = "market.tick"

EXECUTION_VENUE = "simulation"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema `name` (e.g. "executions.fill")."""
    with open(SCHEMA_DIR / f"{name}.schema.json", "rb") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


def quote_subject(instrument: str, prefix: str = MARKET_QUOTE_PREFIX) -> str:
    """The subject an instrument's quotes are published on: the prefix and the instrument as the
    instruments file matches it (upper case, "/", "_" and "-" removed), so every spelling of one
    instrument (BTC/USD, BTC-USD, btcusd) shares one subject and its last message is one book."""
    token = normalize(instrument)
    if not token or not token.isascii() or not token.isalnum():
        raise ValueError(f"{instrument!r} gives no subject token (letters and digits, after removing / _ -)")
    return f"{prefix}.{token}"
