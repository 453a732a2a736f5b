"""Worker CPU per intent (validate + simulate) under each simulation configuration, side by side.

Runs in one process, no NATS: the pure worker path (worker.process.IntentProcessor)
over the same sample intents for each configuration, best of three passes. The
intents' timestamps are spread evenly over one fixed week (Monday 2026-01-12 to
Sunday, UTC), so the figures do not depend on the hour the bench runs at: the book's
touch follows the intraday volume profile, and a closed market rejects at once. The
reference row is sessions off and unlimited liquidity (two events per intent,
like the service before the realism models); the others are reported as
ratios to it, since absolute times drift on shared machines.

    python bench/simulation_cost.py [--intents 20000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from common.config import load_settings
from common.messages import Execution, RawIntent
from tools import sample_intents as si
from worker.process import IntentProcessor

REFERENCE = {"SIMULATION_MARKET_SESSIONS": "off", "SIMULATION_LIQUIDITY_SHARE": "0"}
CASES = (
    ("sessions off, unlimited liquidity (reference)", REFERENCE),
    ("every default (sessions, liquidity 1.0)", {}),
    ("sessions on, unlimited liquidity", {"SIMULATION_LIQUIDITY_SHARE": "0"}),
    ("sqrt_impact + lognormal, reference otherwise",
     {**REFERENCE, "SIMULATION_SLIPPAGE_MODEL": "sqrt_impact", "SIMULATION_LATENCY_MODEL": "lognormal"}),
    ("every venue fault at 5%, reference otherwise",
     {**REFERENCE, **{f"FAULT_{name}_PROBABILITY": "0.05" for name in
                      ("REJECT", "LATENCY_SPIKE", "DUPLICATE_FILL", "RECONCILE_DELAY", "HALT")}}),
)
WEEK_START = datetime(2026, 1, 12, tzinfo=UTC)
WEEK = timedelta(days=7)
# The same intents with a time in force: the ~10% not marketable at arrival rest and are scanned for.
TIME_IN_FORCE_CASES = (
    ("every order GTC (30-day horizon), reference otherwise", REFERENCE, "GTC"),
    ("every order DAY, every default", {}, "DAY"),
)


def measure(env: dict[str, str], raws: list[RawIntent]) -> tuple[float, float]:
    """(seconds per intent, events per intent), best of three passes after a warm-up."""
    settings = load_settings({"SIMULATION_SEED": "bench", "SIMULATION_CLOCK": "virtual", **env})
    processor = IntentProcessor(settings, settings.seed)
    for raw in raws[:500]:
        processor.process(raw)
    best, events = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        events = 0
        for raw in raws:
            outcome = processor.process(raw)
            if isinstance(outcome, Execution):
                events += len(outcome.events)
        best = min(best, (time.perf_counter() - started) / len(raws))
    return best, events / len(raws)


def at_iso(n: int, count: int) -> str:
    """The n-th of `count` instants evenly spread over the bench's week."""
    at = WEEK_START + WEEK * (n / count)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=20_000)
    args = parser.parse_args()
    # The virtual clock prices each intent at its own timestamp: spread over a week, every hour of
    # every calendar is in the sample in its share.
    bodies = [{**body, "timestamp": at_iso(n, args.intents)}
              for n, body in enumerate(si.mixed(args.intents, prefix="cost"))]
    raws = [RawIntent(i, si.encode(body), None, 0) for i, body in enumerate(bodies)]
    rows = [(name, *measure(env, raws)) for name, env in CASES]
    for name, env, tif in TIME_IN_FORCE_CASES:
        tif_raws = [RawIntent(i, si.encode({**body, "metadata": {"time_in_force": tif}}), None, 0)
                    for i, body in enumerate(bodies)]
        rows.append((name, *measure(env, tif_raws)))
    reference = rows[0][1]
    print(f"{'case':48} {'us/intent':>10} {'events/intent':>14} {'x reference':>12}")
    for name, seconds, events in rows:
        print(f"{name:48} {seconds * 1e6:10.1f} {events:14.2f} {seconds / reference:12.2f}")


if __name__ == "__main__":
    main()
