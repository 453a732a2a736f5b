"""What the load generator sends and when: a seeded stream of intents with scheduled send times.

Pure (no I/O): runs in the loadgen process before and while sending. Open loop:
intent i is due at i / rate seconds from the start whether or not earlier ones
were answered, and its latency is measured from that scheduled time, so a
stalled service cannot hide its stall (no coordinated omission).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from tools import sample_intents as si

INVALID_KINDS = ("malformed_json", "not_object", "schema", "missing_price", "stale")


@dataclass(frozen=True)
class LoadOptions:
    count: int = 1000
    rate_per_s: float = 500.0  # 0: as fast as possible
    order_mix: dict[str, float] = field(default_factory=lambda: {"market": 4, "limit": 3, "stop": 2, "stop_limit": 1})
    instruments: tuple[str, ...] = si.INSTRUMENTS
    sides: tuple[str, ...] = ("buy", "sell")
    # Whole units when set; else each order is worth a notional drawn log-uniformly in
    # [notional_min, notional_max] at the instrument's reference price, in whole lots.
    quantity_min: int | None = None
    quantity_max: int | None = None
    notional_min: float = 1_000.0
    notional_max: float = 250_000.0
    invalid_share: float = 0.0
    # Share of limit/stop orders placed so that they do not fill (IOC cancel).
    away_share: float = 0.1
    hmac_secret: bytes = b""
    # With a keyring: the key hmac_secret belongs to (X-Key-Id), and the agent_id it signs for.
    key_id: str | None = None
    agent_id: str = "demo_agent"
    seed: int = 1
    run_id: str = "lg"


@dataclass(frozen=True)
class PlannedIntent:
    index: int
    corr_id: str
    payload: bytes
    headers: dict[str, str] | None
    order_type: str
    # The rejection the service should give it, None for a valid intent.
    expected_rejection: str | None
    due_s: float  # scheduled send time, from the start


def parse_mix(text: str) -> dict[str, float]:
    """'market=4,limit=3' -> weights; every order type named must be known."""
    mix: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, weight = part.partition("=")
        if name not in si.ORDER_TYPES:
            raise ValueError(f"unknown order type {name!r} (known: {', '.join(si.ORDER_TYPES)})")
        mix[name] = float(weight or 1)
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("the order mix needs at least one order type with a positive weight")
    return mix


def planned(options: LoadOptions) -> Iterator[PlannedIntent]:
    rng = random.Random(options.seed)
    types = list(options.order_mix)
    weights = [options.order_mix[t] for t in types]
    for n in range(options.count):
        corr_id = f"{options.run_id}-{n:07d}"
        order_type = rng.choices(types, weights)[0]
        side = rng.choice(options.sides)
        instrument = rng.choice(options.instruments)
        if options.quantity_min is not None:
            lots = rng.randint(options.quantity_min, options.quantity_max or options.quantity_min)
            quantity: int | float = si.in_lots(instrument, lots)
        else:
            log_low, log_high = math.log(options.notional_min), math.log(options.notional_max)
            quantity = si.quantity_for(instrument, math.exp(rng.uniform(log_low, log_high)))
        body = si.intent(
            corr_id,
            order_type=order_type,
            side=side,
            instrument=instrument,
            quantity=quantity,
            fills=rng.random() >= options.away_share,
            agent_id=options.agent_id,
        )
        expected = None
        payload = si.encode(body)
        if rng.random() < options.invalid_share:
            expected = rng.choice(INVALID_KINDS + (("bad_signature",) if options.hmac_secret else ()))
            payload = _spoil(body, expected)
        headers = None
        if options.hmac_secret and expected != "bad_signature":
            headers = si.signed_headers(options.hmac_secret, payload, options.key_id)
        due = n / options.rate_per_s if options.rate_per_s > 0 else 0.0
        yield PlannedIntent(n, corr_id, payload, headers, order_type, expected, due)


def _spoil(body: dict, kind: str) -> bytes:
    if kind == "malformed_json":
        return si.encode(body)[:-7]
    if kind == "not_object":
        return si.encode([body])
    if kind == "schema":
        return si.encode({**body, "quantity": -abs(body["quantity"])})
    if kind == "missing_price":
        spoiled = {**body, "order_type": "limit"}
        spoiled.pop("price", None)
        return si.encode(spoiled)
    if kind == "stale":
        return si.encode({**body, "timestamp": "2020-01-01T00:00:00.000Z"})
    return si.encode(body)  # bad_signature: the body is fine, the header is missing
