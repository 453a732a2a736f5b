"""The golden corpus: a few thousand intents under a dozen settings, and the sha256 of every event.

Runs in the test process (and by hand: `python -m tests.golden.corpus --write`). It drives the
worker's whole pure path (worker.process.IntentProcessor: validation, then simulation) with
intents built here from a fixed random.Random, so the corpus depends on nothing the product's
own code computes. Each line of corpus.sha256 is one intent:

    <config> <corr_id> <sha256 of the outcome's own fields> <sha256 of each event, in order>

A refactor must leave every line unchanged. A change of outputs on purpose regenerates the file
in a commit of its own, whose diff then shows which configurations and intents moved.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson

from common.config import Settings
from common.instruments import load_instruments
from common.messages import Execution, RawIntent, Rejection

CORPUS_FILE = Path(__file__).with_name("corpus.sha256")
INTENTS_PER_CONFIG = 250
SECRET = b"golden-secret"
BOOK = load_instruments()

# Instruments across every calendar kind, plus one the file does not list.
INSTRUMENTS = ("AAPL", "SPY", "EURUSD", "USDJPY", "BTC/USD", "ETH/USD", "ES_F", "CL_F", "ZZTOP")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIMES_IN_FORCE = (None, None, "IOC", "FOK", "DAY", "GTC", "day", "gtc", "bogus")
FORCES: tuple[dict[str, Any] | None, ...] = (
    {"outcome": "full"},
    {"outcome": "partial", "fill_ratio": 0.3},
    {"outcome": "partial"},
    {"outcome": "reject", "reason": "golden says no"},
    {"outcome": "reject"},
    {"delay_ms": 4500},
    {"outcome": "full", "delay_ms": 250},
    {"outcome": "maybe"},
    {"fill_ratio": 1.5, "outcome": "partial"},
    {},
)
# Reference instant of the shipped file (2026-01-02T00:00:00Z) and a spread of intent times
# around it: weekdays, weekends, nights and a holiday, so sessions open and closed both occur.
REFERENCE_MS = 1_767_312_000_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class GoldenConfig:
    name: str
    settings: dict[str, Any]


BASE: dict[str, Any] = {"simulation_seed": "golden-seed"}

CONFIGS = (
    GoldenConfig("default-wall", {}),
    GoldenConfig("virtual", {"simulation_clock": "virtual"}),
    GoldenConfig("impact-lognormal", {"slippage_model": "sqrt_impact", "latency_model": "lognormal",
                                      "impact_coefficient": 2.0, "simulation_clock": "virtual"}),
    GoldenConfig("no-sessions-unlimited", {"market_sessions": False, "liquidity_share": 0.0}),
    GoldenConfig("thin-cancel", {"liquidity_share": 0.02, "liquidity_remainder": "cancel",
                                 "simulation_clock": "virtual"}),
    GoldenConfig("thin-children", {"liquidity_share": 0.05, "max_child_fills": 4, "partial_fill_chance": 0.4,
                                   "market_sessions": False}),
    GoldenConfig("faults", {"fault_reject_probability": 0.1, "fault_latency_spike_probability": 0.2,
                            "fault_duplicate_fill_probability": 0.2, "fault_reconcile_delay_probability": 0.2,
                            "fault_halt_probability": 0.2, "fault_halt_window_s": 600,
                            "simulation_clock": "virtual"}),
    GoldenConfig("faults-wall-no-sessions", {"fault_reject_probability": 0.05, "fault_halt_probability": 0.4,
                                             "fault_duplicate_fill_probability": 0.3, "market_sessions": False}),
    GoldenConfig("per-unit-minimum", {"commission_model": "per_unit", "commission_per_unit": 0.01,
                                      "commission_min": 1.5, "partial_fill_chance": 0.5}),
    GoldenConfig("forced-off", {"forced_outcomes": False, "simulation_clock": "virtual"}),
    GoldenConfig("signed", {"hmac_secret": SECRET, "replay_window_s": 60.0, "slippage_bps": 7.5, "slippage_model": "uniform",
                            "min_delay_ms": 0, "max_delay_ms": 50}),
    GoldenConfig("off-grid-round", {"off_grid": "round", "simulation_clock": "virtual"}),
    GoldenConfig("gtc-short", {"gtc_horizon_days": 0.5, "simulation_clock": "virtual", "market_sessions": False,
                               "idempotency_ttl_s": 600.0, "queue_model": "probabilistic"}),
)


def settings_of(config: GoldenConfig) -> Settings:
    return Settings(**{**BASE, **config.settings})


def _quantity(rng: random.Random, instrument: str) -> int | float:
    lot = BOOK.get(instrument).lot_size
    roll = rng.random()
    if roll < 0.85:  # whole lots, from one lot to large orders
        lots = rng.choice((1, 1, 2, 3, 5, 10, 25, 100, 400, 2_000, 50_000))
        size = lots * lot
        return int(size) if float(size).is_integer() else round(size, 8)
    if roll < 0.93:  # off the lot grid (rejected, or rounded down)
        return round(rng.uniform(0.001, 50.0), rng.choice((2, 5, 8)))
    return rng.choice((0.00000001, 1e6 + 0.5, 7.25, 123_457))


def _intent_time(rng: random.Random) -> int:
    # Within six weeks either side of the reference instant, on an arbitrary millisecond.
    return REFERENCE_MS + rng.randint(-42 * 24, 42 * 24) * HOUR_MS + rng.randint(0, HOUR_MS - 1)


def _iso(epoch_ms: int) -> str:
    from datetime import datetime

    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _level(rng: random.Random, instrument: str, sign: int, away: bool) -> float:
    # A level a few percent either side of the reference price: some marketable or triggered at
    # once, some reached later on the path, some never within the horizon. On the tick grid but
    # one time in ten (rejected, or rounded passively).
    info = BOOK.get(instrument)
    offset = rng.choice((0.0005, 0.002, 0.01, 0.03, 0.08)) * (1 if away else -1)
    level = info.reference_price * (1 + sign * offset)
    if rng.random() < 0.1:
        return round(level, 4)
    return round(round(level / info.tick_size) * info.tick_size, 8)


def intents(config: GoldenConfig) -> Iterator[tuple[RawIntent, str]]:
    """(raw intent, corr_id) pairs for one configuration, the same on every run."""
    rng = random.Random(f"golden|{config.name}")
    for n in range(INTENTS_PER_CONFIG):
        corr_id = f"g-{config.name}-{n:04d}"
        instrument = rng.choice(INSTRUMENTS)
        order_type = rng.choice(ORDER_TYPES)
        side = rng.choice(("buy", "sell"))
        sign = 1 if side == "buy" else -1
        ts_ms = _intent_time(rng)
        intent: dict[str, Any] = {
            "corr_id": corr_id, "strategy_id": f"strat_{n % 3}", "agent_id": f"agent_{n % 5}",
            "timestamp": _iso(ts_ms), "instrument": instrument, "side": side, "order_type": order_type,
            "quantity": _quantity(rng, instrument), "confidence": round(rng.random(), 3),
        }
        if order_type in ("limit", "stop_limit"):
            intent["price"] = _level(rng, instrument, -sign, rng.random() < 0.5)
        if order_type in ("stop", "stop_limit"):
            intent["stop_price"] = _level(rng, instrument, sign, rng.random() < 0.5)
        metadata: dict[str, Any] = {}
        tif = rng.choice(TIMES_IN_FORCE)
        if tif is not None:
            metadata["time_in_force"] = tif
        if rng.random() < 0.2:
            metadata["exec_sim_force"] = rng.choice(FORCES)
        if metadata:
            intent["metadata"] = metadata
        body = _spoil(rng, intent)
        signature = _signature(rng, body)
        lag_ms = rng.choice((0, 35, 1_200, 45_000, 400_000))
        yield RawIntent(stream_seq=n + 1, body=body, signature=signature, received_at_ms=ts_ms + lag_ms), corr_id


def _spoil(rng: random.Random, intent: dict[str, Any]) -> bytes:
    """The body, one time in twelve made invalid in one of the ways clients get it wrong."""
    roll = rng.random()
    if roll >= 1 / 12:
        return orjson.dumps(intent)
    fault = rng.randrange(7)
    if fault == 0:
        return b'{"corr_id": "x", "quantity": '
    if fault == 1:
        intent["quantity"] = -abs(intent["quantity"])
    elif fault == 2:
        intent["order_type"] = "iceberg"
    elif fault == 3:
        intent.pop(rng.choice(("price", "stop_price", "instrument", "side")), None)
    elif fault == 4:
        intent["corr_id"] = "not a valid id!"
    elif fault == 5:
        return b"[1, 2, 3]"
    else:
        intent["instrument"] = "??"
    return orjson.dumps(intent)


def _signature(rng: random.Random, body: bytes) -> str | None:
    roll = rng.random()
    good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if roll < 0.85:
        return good
    if roll < 0.92:
        return None
    return "sha256=" + "0" * 64


def _sha(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


def _fault_header(event: Any) -> str | None:
    """The Exec-Sim-Fault header's value as sent, None when the event has none."""
    return ",".join(event.faults) or None


def outcome_line(config: GoldenConfig, corr_id: str, outcome: Execution | Rejection) -> str:
    if isinstance(outcome, Rejection):
        own = _sha("rejection", outcome.stream_seq, outcome.error_type, outcome.error_code, outcome.corr_id,
                   outcome.detail)
        return f"{config.name} {corr_id} {own}"
    own = _sha("execution", outcome.stream_seq, outcome.corr_id, outcome.instrument, outcome.order_type,
               outcome.final_status, outcome.simulation_delay_ms, outcome.agent_id, list(outcome.faults))
    events = [
        _sha(e.kind, e.msg_id, e.release_after_ms, e.fill_type, _fault_header(e), e.payload.decode())
        for e in outcome.events
    ]
    return " ".join((config.name, corr_id, own, *events))


def corpus_lines(configs: tuple[GoldenConfig, ...] = CONFIGS) -> Iterator[str]:
    from worker.process import IntentProcessor

    for config in configs:
        settings = settings_of(config)
        processor = IntentProcessor(settings, settings.seed)
        for raw, corr_id in intents(config):
            yield outcome_line(config, corr_id, processor.process(raw))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"rewrite {CORPUS_FILE.name} from the code as it is")
    args = parser.parse_args(argv)
    lines = list(corpus_lines())
    if args.write:
        CORPUS_FILE.write_text("\n".join(lines) + "\n")
        print(f"wrote {len(lines)} intents to {CORPUS_FILE}")
        return 0
    expected = CORPUS_FILE.read_text().splitlines()
    changed = [a.split(" ", 2)[:2] for a, b in zip(lines, expected) if a != b]
    print(f"{len(lines)} intents, {len(changed)} changed" + (f"; first: {changed[0]}" if changed else ""))
    return 1 if changed or len(lines) != len(expected) else 0


if __name__ == "__main__":
    sys.exit(main())
