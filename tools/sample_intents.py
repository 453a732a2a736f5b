"""Sample order intents for the load generator, the demo, the tests and the benches.

Runs wherever intents are made up (the loadgen and demo processes, the benches,
the tests). It owns the recipes and nothing else (it reads the shipped
instruments file once, at import).
Limit and stop prices are set well away from the shipped instruments file's
reference price (six standard deviations of how far the price can have walked
from it by the intent's time, at least a month's), so each intent's branch is
known in advance: marketable or not, triggered or not;
they are on the instrument's tick and quantities in whole lots, as the service
requires by default (SIMULATION_OFF_GRID).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from common.instruments import InstrumentBook, load_instruments
from worker.market import log_price_std, tick_decimals

INSTRUMENTS = ("EURUSD", "GBPUSD", "USDJPY", "BTC/USD", "ETH/USD", "AAPL", "SPY", "ES_F", "GLD")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
# Standard deviations of the log price's wander since the reference time (at least a month's):
# far enough that the branch never flips.
AWAY_SIGMAS = 6.0
_MIN_DAYS = 30.0
_DAY_MS = 86_400_000

_book = load_instruments()


def book() -> InstrumentBook:
    """The shipped instruments file, as read at import."""
    return _book


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def intent(
    corr_id: str,
    order_type: str = "market",
    side: str = "buy",
    instrument: str = "EURUSD",
    quantity: float = 1000,
    *,
    fills: bool = True,
    timestamp: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A schema-valid intent; `fills` picks a marketable limit / triggered stop (True) or the opposite.
    The default quantity is one lot of EURUSD and whole lots of every sample instrument."""
    body: dict[str, Any] = {
        "corr_id": corr_id,
        "strategy_id": "demo_strategy",
        "agent_id": "demo_agent",
        "timestamp": timestamp or now_iso(),
        "instrument": instrument,
        "side": side,
        "order_type": order_type,
        "quantity": quantity,
        "confidence": 0.8,
    }
    info = _book.get(instrument)
    at_ms = int(datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
    away = AWAY_SIGMAS * log_price_std(info, max(abs(at_ms - _book.reference_ms) / _DAY_MS, _MIN_DAYS))
    toward = 1 if side == "buy" else -1
    if order_type in ("limit", "stop_limit"):
        # A buy limit above the market is marketable; below it is not.
        body["price"] = on_tick(instrument, info.reference_price * math.exp(toward * away * (1 if fills else -1)))
    if order_type in ("stop", "stop_limit"):
        # A buy stop below the market has triggered; above it has not.
        body["stop_price"] = on_tick(instrument, info.reference_price * math.exp(-toward * away * (1 if fills else -1)))
    body.update(extra)
    return body


def on_tick(instrument: str, price: float) -> float:
    """`price` rounded to the instrument's tick grid (at least one tick), as a venue accepts it."""
    tick = _book.get(instrument).tick_size
    return round(max(round(price / tick), 1) * tick, tick_decimals(tick))


def in_lots(instrument: str, lots: int) -> int | float:
    """`lots` whole lots of the instrument (a venue rejects a quantity off its lot grid)."""
    size = lots * _book.get(instrument).lot_size
    return int(size) if float(size).is_integer() else round(size, 8)


def quantity_for(instrument: str, notional: float) -> int | float:
    """The order size worth about `notional` at the reference price, in whole lots (at least one)."""
    info = _book.get(instrument)
    lots = max(round(notional / info.reference_price / info.lot_size), 1)
    size = lots * info.lot_size
    return int(size) if float(size).is_integer() else round(size, 8)


def encode(body: dict[str, Any] | list[Any]) -> bytes:
    return orjson.dumps(body)


def signature(secret: bytes, payload: bytes) -> str:
    """The X-Signature header value for `payload`."""
    return "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, payload: bytes, key_id: str | None = None) -> dict[str, str]:
    """The headers that sign `payload`: X-Signature, and X-Key-Id naming a keyring's key when given."""
    headers = {"X-Signature": signature(secret, payload)}
    if key_id is not None:
        headers["X-Key-Id"] = key_id
    return headers


def mixed(count: int, seed: int = 7, prefix: str = "demo") -> Iterator[dict[str, Any]]:
    """`count` valid intents across every order type, side and sample instrument, worth 1,000 to
    1,000,000 in notional; ~10% do not fill."""
    rng = random.Random(seed)
    for n in range(count):
        instrument = rng.choice(INSTRUMENTS)
        yield intent(
            f"{prefix}-{n:06d}",
            order_type=ORDER_TYPES[n % len(ORDER_TYPES)],
            side=rng.choice(("buy", "sell")),
            instrument=instrument,
            quantity=quantity_for(instrument, rng.choice((1_000, 10_000, 100_000, 250_000, 1_000_000))),
            fills=rng.random() > 0.1,
        )


def invalid_samples(prefix: str = "bad") -> list[tuple[str, bytes]]:
    """(expected rejection type, payload) for each class of bad input."""
    good = intent(f"{prefix}-ok")
    no_price = intent(f"{prefix}-noprice", order_type="limit")
    del no_price["price"]
    return [
        ("malformed_json", b'{"corr_id": "x", '),
        ("not_object", b"[1, 2, 3]"),
        ("schema", encode({**good, "corr_id": f"{prefix}-qty", "quantity": -5})),
        ("schema", encode({**good, "corr_id": f"{prefix}-unknown", "colour": "blue"})),
        ("missing_price", encode(no_price)),
        ("stale", encode({**good, "corr_id": f"{prefix}-stale", "timestamp": "2020-01-01T00:00:00Z"})),
    ]
