"""Worker CPU per intent (validate + simulate) under each simulation configuration, side by side.

Runs in one process, no NATS: the pure worker path (worker.process.IntentProcessor)
over the same sample intents for each configuration, best of three passes, in CPU
seconds of the process. The
intents' timestamps are spread evenly over one fixed week (Monday 2026-01-12 to
Sunday, UTC), so the figures do not depend on the hour the bench runs at: the book's
touch follows the intraday volume profile, and a closed market rejects at once.
The reference row is sessions off and unlimited liquidity; the others are reported
as ratios to it, since absolute times drift on shared machines.

    python bench/simulation_cost.py [--intents 20000]

Against another checkout (an older revision, say `git worktree add /tmp/before <rev>`):

    python bench/simulation_cost.py --against /tmp/before [--pairs 21]

runs each configuration in two worker processes side by side, this tree's code and
the other's (the same intents, built by each tree's tools.sample_intents), one pass
each in turn, and reports the median of the paired ratios (this tree / the other)
with its interquartile range: pairing keeps the ratio honest when the machine's
speed drifts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.config import load_settings
from common.messages import Execution, RawIntent
from tools import sample_intents as si
from worker.process import IntentProcessor

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = {"SIMULATION_MARKET_SESSIONS": "off", "SIMULATION_LIQUIDITY_SHARE": "0"}
# (name, settings, time in force): with a time in force, the ~10% not marketable at arrival rest
# and are scanned for.
CASES: tuple[tuple[str, dict[str, str], str | None], ...] = (
    ("sessions off, unlimited liquidity (reference)", REFERENCE, None),
    ("every default (sessions, liquidity 1.0)", {}, None),
    ("sessions on, unlimited liquidity", {"SIMULATION_LIQUIDITY_SHARE": "0"}, None),
    ("sqrt_impact + lognormal, reference otherwise",
     {**REFERENCE, "SIMULATION_SLIPPAGE_MODEL": "sqrt_impact", "SIMULATION_LATENCY_MODEL": "lognormal"}, None),
    ("every venue fault at 5%, reference otherwise",
     {**REFERENCE, **{f"FAULT_{name}_PROBABILITY": "0.05" for name in
                      ("REJECT", "LATENCY_SPIKE", "DUPLICATE_FILL", "RECONCILE_DELAY", "HALT")}}, None),
    ("every order GTC (30-day horizon), reference otherwise", REFERENCE, "GTC"),
    ("every order DAY, every default", {}, "DAY"),
)
WEEK_START = datetime(2026, 1, 12, tzinfo=UTC)
WEEK = timedelta(days=7)


def at_iso(n: int, count: int) -> str:
    """The n-th of `count` instants evenly spread over the bench's week."""
    at = WEEK_START + WEEK * (n / count)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sample(count: int, time_in_force: str | None) -> list[RawIntent]:
    """The bench's intents: the mixed sample, spread over the week, with the case's time in force."""
    # The virtual clock prices each intent at its own timestamp: spread over a week, every hour of
    # every calendar is in the sample in its share.
    extra = {"metadata": {"time_in_force": time_in_force}} if time_in_force else {}
    bodies = [{**body, "timestamp": at_iso(n, count), **extra}
              for n, body in enumerate(si.mixed(count, prefix="cost"))]
    return [RawIntent(i, si.encode(body), None, 0) for i, body in enumerate(bodies)]


def processor_for(env: dict[str, str]) -> IntentProcessor:
    settings = load_settings({"SIMULATION_SEED": "bench", "SIMULATION_CLOCK": "virtual", **env})
    return IntentProcessor(settings, settings.seed)


def one_pass(processor: IntentProcessor, raws: list[RawIntent]) -> tuple[float, int]:
    """(CPU seconds per intent, events) of one pass over `raws`: the process's CPU time, so a
    pass the machine's other work preempts is not counted slower."""
    started = time.process_time()
    events = 0
    for raw in raws:
        outcome = processor.process(raw)
        if isinstance(outcome, Execution):
            events += len(outcome.events)
    return (time.process_time() - started) / len(raws), events


def measure(env: dict[str, str], raws: list[RawIntent]) -> tuple[float, float]:
    """(seconds per intent, events per intent), best of three passes after a warm-up."""
    processor = processor_for(env)
    for raw in raws[:500]:
        processor.process(raw)
    best, events = float("inf"), 0
    for _ in range(3):
        seconds, events = one_pass(processor, raws)
        best = min(best, seconds)
    return best, events / len(raws)


def serve(case: int, count: int) -> None:
    """A side of --against: one warm pass, then one timed pass per line read, its seconds per intent
    and events per intent printed."""
    _, env, time_in_force = CASES[case]
    raws = sample(count, time_in_force)
    processor = processor_for(env)
    one_pass(processor, raws)
    print("ready", flush=True)
    for _ in sys.stdin:
        seconds, events = one_pass(processor, raws)
        print(seconds, events / len(raws), flush=True)


def compare(other: Path, count: int, pairs: int) -> None:
    """Each case in this tree and in `other`, pass by pass in turn; the median of the paired ratios."""
    print(f"this tree ({ROOT}) against {other}: {count} intents a pass, {pairs} pairs of passes")
    print(f"{'case':54} {'us/intent':>10} {'other':>8} {'events':>7} {'other':>6} {'ratio':>6} {'IQR':>11}")
    for case, (name, _, _) in enumerate(CASES):
        sides = [subprocess.Popen(
            [sys.executable, __file__, "--serve", str(case), "--intents", str(count)],
            env={**os.environ, "PYTHONPATH": str(tree)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for tree in (ROOT, other)]
        for side in sides:
            if side.stdout is None or side.stdout.readline().strip() != "ready":
                raise SystemExit(f"{name}: a side did not start (exit {side.wait()})")
        runs: list[list[tuple[float, float]]] = [[], []]
        for _ in range(pairs):
            for side, run in zip(sides, runs, strict=True):
                assert side.stdin is not None and side.stdout is not None
                side.stdin.write("go\n")
                side.stdin.flush()
                seconds, events = side.stdout.readline().split()
                run.append((float(seconds), float(events)))
        for side in sides:
            assert side.stdin is not None
            side.stdin.close()
            side.wait()
        ratios = sorted(ours[0] / theirs[0] for ours, theirs in zip(*runs, strict=True))
        quartile = len(ratios) // 4
        ours_us = statistics.median(s for s, _ in runs[0]) * 1e6
        theirs_us = statistics.median(s for s, _ in runs[1]) * 1e6
        print(f"{name:54} {ours_us:10.1f} {theirs_us:8.1f} {runs[0][0][1]:7.2f} {runs[1][0][1]:6.2f} "
              f"{statistics.median(ratios):6.2f} {ratios[quartile]:5.2f}-{ratios[-1 - quartile]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=None, help="a pass's intents (20,000; 1,500 with --against)")
    parser.add_argument("--against", type=Path, help="another checkout to compare this tree's code with")
    parser.add_argument("--pairs", type=int, default=21, help="pairs of passes per case with --against")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.intents)
        return
    if args.against is not None:
        compare(args.against.resolve(), args.intents or 1_500, args.pairs)
        return
    count = args.intents or 20_000
    rows = [(name, *measure(env, sample(count, time_in_force))) for name, env, time_in_force in CASES]
    reference = rows[0][1]
    print(f"{'case':54} {'us/intent':>10} {'events/intent':>14} {'x reference':>12}")
    for name, seconds, events in rows:
        print(f"{name:54} {seconds * 1e6:10.1f} {events:14.2f} {seconds / reference:12.2f}")


if __name__ == "__main__":
    main()
