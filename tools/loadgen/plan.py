"""What the load generator sends and when: a seeded stream of intents with scheduled send times.

Pure (no I/O): runs in the loadgen process while sending, one intent at a time
as each falls due. Open loop: intent i is due at its scheduled time whether or
not earlier ones were answered (schedule.py), and its latency is measured from
that scheduled time, so a stalled service cannot hide its stall (no coordinated
omission). Its timestamp is that scheduled time too, so a long run's last
intents are as fresh as its first (REPLAY_WINDOW_SEC).

Every corr_id is `<run id>-<n>`. The run id is new for every run unless one is
given (`--run-id`): the service refuses a corr_id its agent already used within
IDEMPOTENCY_TTL_SEC, so two runs must not share one by accident.

DAY and GTC limit and stop orders are sent marketable (a limit through the
market, a stop already triggered), so they execute at arrival; one whose market
is closed at its timestamp rests until the market opens and is expected to rest
(`expect_rest`), not to be answered within the run.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tools import sample_intents as si
from tools.loadgen.mix import NONE, parse_force_mix, parse_mix, parse_tif_mix, without_partial
from tools.loadgen.schedule import Stage, constant_due_times, expected_count, staged_due_times
from worker.events import iso_ms

INVALID_KINDS = ("malformed_json", "not_object", "schema", "missing_price", "stale", "invalid_directive")
RESTING_TIFS = ("day", "gtc")
__all__ = ["LoadOptions", "PlannedIntent", "new_run_id", "parse_force_mix", "parse_mix", "parse_tif_mix", "planned"]


def new_run_id(now_s: float | None = None) -> str:
    """A run id no other run has: lg-<UTC time to the second>-<6 random hex>."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() if now_s is None else now_s))
    return f"lg-{stamp}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LoadOptions:
    count: int = 1000
    rate_per_s: float = 500.0  # 0: as fast as possible
    # Ramping arrival rate; when set it replaces count and rate (schedule.py).
    stages: tuple[Stage, ...] = ()
    order_mix: dict[str, float] = field(default_factory=lambda: {"market": 4, "limit": 3, "stop": 2, "stop_limit": 1})
    tif_mix: dict[str, float] = field(default_factory=lambda: {NONE: 1.0})
    force_mix: dict[str, float] = field(default_factory=lambda: {NONE: 1.0})
    instruments: tuple[str, ...] = si.INSTRUMENTS
    sides: tuple[str, ...] = ("buy", "sell")
    # Whole units when set; else each order is worth a notional drawn log-uniformly in
    # [notional_min, notional_max] at the instrument's reference price, in whole lots.
    quantity_min: int | None = None
    quantity_max: int | None = None
    notional_min: float = 1_000.0
    notional_max: float = 250_000.0
    invalid_share: float = 0.0
    # Share of limit/stop orders placed so that they do not fill (cancelled at arrival).
    away_share: float = 0.1
    hmac_secret: bytes = b""
    # With a keyring: the key hmac_secret belongs to (X-Key-Id), and the agent_id it signs for.
    key_id: str | None = None
    agent_id: str = "demo_agent"
    seed: int = 1
    run_id: str = field(default_factory=new_run_id)
    # Whether the service keeps trading sessions (SIMULATION_MARKET_SESSIONS): decides expect_rest.
    sessions_on: bool = True

    @property
    def total(self) -> int:
        """Intents the run sends."""
        return expected_count(self.stages) if self.stages else self.count


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
    tif: str = NONE
    force: str = NONE
    instrument: str = "EURUSD"
    expect_rest: bool = False  # a DAY/GTC order on a closed market: answered when it opens


def due_times(options: LoadOptions) -> Iterator[float]:
    return staged_due_times(options.stages) if options.stages else constant_due_times(options.count, options.rate_per_s)


def planned(options: LoadOptions, start_ms: int | None = None) -> Iterator[PlannedIntent]:
    """The intents in send order; timestamps at start_ms + the due time (now, when None or flat out)."""
    rng = random.Random(options.seed)
    for n, due in enumerate(due_times(options)):
        at_ms = start_ms + round(due * 1000) if start_ms is not None and (options.rate_per_s or options.stages) \
            else int(time.time() * 1000)
        yield _intent(options, rng, n, due, at_ms)


def _intent(options: LoadOptions, rng: random.Random, n: int, due: float, at_ms: int) -> PlannedIntent:
    corr_id = f"{options.run_id}-{n:07d}"
    order_type = _draw(rng, options.order_mix)
    tif = _draw(rng, options.tif_mix)
    force = _draw(rng, without_partial(options.force_mix) if tif == "fok" else options.force_mix)
    side = rng.choice(options.sides)
    instrument = rng.choice(options.instruments)
    quantity = _quantity(options, rng, instrument)
    away = rng.random() < options.away_share
    # A resting order placed away would wait for its price for hours: DAY/GTC ones execute at arrival.
    fills = not away or tif in RESTING_TIFS
    body = si.intent(corr_id, order_type=order_type, side=side, instrument=instrument, quantity=quantity,
                     fills=fills, agent_id=options.agent_id, timestamp=iso_ms(at_ms))
    metadata = _directives(rng, tif, force)
    if metadata:
        body["metadata"] = metadata
    expected = None
    payload = si.encode(body)
    if rng.random() < options.invalid_share:
        expected = rng.choice(INVALID_KINDS + (("bad_signature",) if options.hmac_secret else ()))
        payload = _spoil(body, expected)
    headers = None
    if options.hmac_secret and expected != "bad_signature":
        headers = si.signed_headers(options.hmac_secret, payload, options.key_id)
    rests = (tif in RESTING_TIFS and order_type != "market" and force == NONE and options.sessions_on
             and not _is_open(instrument, at_ms))
    return PlannedIntent(n, corr_id, payload, headers, order_type, expected, due, tif, force, instrument,
                         rests and expected is None)


def _draw(rng: random.Random, mix: dict[str, float]) -> str:
    names = list(mix)
    return rng.choices(names, [mix[n] for n in names])[0]


def _quantity(options: LoadOptions, rng: random.Random, instrument: str) -> int | float:
    if options.quantity_min is not None:
        return si.in_lots(instrument, rng.randint(options.quantity_min, options.quantity_max or options.quantity_min))
    log_low, log_high = math.log(options.notional_min), math.log(options.notional_max)
    return si.quantity_for(instrument, math.exp(rng.uniform(log_low, log_high)))


def _directives(rng: random.Random, tif: str, force: str) -> dict[str, Any]:
    """metadata.time_in_force and metadata.exec_sim_force (worker/directives.py)."""
    metadata: dict[str, Any] = {}
    if tif != NONE:
        metadata["time_in_force"] = tif.upper()
    if force == "partial":
        metadata["exec_sim_force"] = {"outcome": "partial", "fill_ratio": round(rng.uniform(0.1, 0.9), 2)}
    elif force == "reject":
        metadata["exec_sim_force"] = {"outcome": "reject", "reason": "at-exec-sim loadgen --force-mix reject"}
    elif force == "full":
        metadata["exec_sim_force"] = {"outcome": "full"}
    return metadata


def warm_up(options: LoadOptions) -> None:
    """Build what planning needs before the clock starts: a trading calendar takes ~0.1 s to build,
    which would stall the open-loop schedule mid-run."""
    if options.sessions_on and options.tif_mix.keys() & set(RESTING_TIFS):
        for instrument in options.instruments:
            _is_open(instrument, int(time.time() * 1000))


def _is_open(instrument: str, at_ms: int) -> bool:
    from worker.sessions import trading_sessions

    return trading_sessions(si.book().get(instrument).calendar).is_open(at_ms)


def _spoil(body: dict[str, Any], kind: str) -> bytes:
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
    if kind == "invalid_directive":
        return si.encode({**body, "metadata": {"time_in_force": "GOOD_TILL_NEVER"}})
    return si.encode(body)  # bad_signature: the body is fine, the header is missing
