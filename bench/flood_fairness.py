"""Flood fairness: a quiet agent's latency and fills while another agent floods the stream.

Starts an embedded nats-server and `at-exec-sim run` (WORKERS=2, zero simulated
delay, sessions off, unlimited liquidity). A quiet agent publishes one market
intent every 10 ms for the whole run (its own process, core publishes, so it
never waits on the service); after --alone-s seconds a flooding agent publishes
--flood intents at once (another process). Everything is read back from the
stream: each quiet intent's latency is its fill's stored time minus its own
stored time minus its simulated delay (zero here), both the server's stamps.

    alone        quiet intents stored before the flood's first
    under flood  quiet intents stored from the flood's first intent until its
                 last fill: their latency, and how many of them filled at all
                 within --fill-bound-s

Printed as p50/p99 in ms and as ratios (under flood / alone). With --against
DIR the same run is made a second time with the service of another checkout
(its supervisor, worker and common packages; this file's tools drive both),
and the ratios between the two are printed too: same machine, same run.

    python bench/flood_fairness.py                        # make bench runs this
    python bench/flood_fairness.py --against /work/main   # before and after, side by side
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import nats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.service_process import read_fills, service_env, subjects, wait_ready  # noqa: E402
from tools import sample_intents as si  # noqa: E402
from tools.embedded_nats import EmbeddedNats, free_port  # noqa: E402

QUIET_EVERY_S = 0.01
START_MARGIN_S = 3.0


class Figures(NamedTuple):
    alone: list[float]  # quiet latencies (ms), sorted
    flooded: list[float]
    flooded_sent: int  # quiet intents stored while the flood was worked
    flooded_filled: int  # of those, filled within the bound
    flood_s: float  # the flood's first intent stored to its last fill stored
    timeline: list[tuple[float, float]]  # (s after the flood's first intent, latency ms) of each quiet intent


def quiet_sender(url: str, subject: str, seconds: float, sent_count: Any) -> None:
    """One market intent of agent "quiet" every 10 ms (its own process); how many, in `sent_count`."""

    async def run() -> None:
        nc = await nats.connect(url)
        started, sent = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            await nc.publish(subject, si.encode(si.intent(f"quiet-{sent}", agent_id="quiet")))
            await nc.flush()
            sent += 1
            await asyncio.sleep(QUIET_EVERY_S)
        await nc.close()
        sent_count.value = sent

    asyncio.run(run())


def flood_sender(url: str, subject: str, count: int, at_epoch_s: float) -> None:
    """`count` market intents of agent "flood", all at once at `at_epoch_s` (its own process)."""
    bodies = [si.encode(si.intent(f"flood-{i}", agent_id="flood")) for i in range(count)]

    async def run() -> None:
        nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
        await asyncio.sleep(max(0.0, at_epoch_s - time.time()))
        for body in bodies:
            await nc.publish(subject, body)
        await nc.flush(timeout=60)
        await nc.close()

    asyncio.run(run())


async def read_back(url: str, stream: str, expected: int, timeout_s: float) -> tuple[dict[str, int], dict[str, float]]:
    """Intent stored ms and final fill stored ms less its delay, by corr_id, once `expected` intents are all answered."""
    intents, fills = await read_fills(url, stream, expected, timeout_s)
    return ({corr_id: int(stored_ms) for corr_id, stored_ms in intents.items()},
            {f.corr_id: f.stored_ms - f.delay_ms for f in fills if f.final})


def run_case(url: str, stream: str, tree: Path, work: Path, args: argparse.Namespace) -> Figures:
    """One service (from checkout `tree`) under one quiet agent and one flood."""
    port = free_port()
    env = service_env(url, stream, work / f"metrics-{stream}", WORKERS="2", SIMULATION_MIN_DELAY_MS="0",
                      SIMULATION_MAX_DELAY_MS="0", SIMULATION_MARKET_SESSIONS="off", SIMULATION_LIQUIDITY_SHARE="0",
                      SIMULATION_PARTIAL_FILL_CHANCE="0", SIMULATION_SEED="fairness", PORT=str(port),
                      HTTP_HOST="127.0.0.1", PYTHONPATH=str(tree), MAX_IN_FLIGHT=str(args.max_in_flight))
    with open(work / f"{stream}.log", "wb") as log:
        service = subprocess.Popen([sys.executable, "-m", "supervisor.cli", "run"], env=env, cwd=tree,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_ready(port)
        intent_subject = subjects(stream)[0]
        spawn = multiprocessing.get_context("spawn")
        sent = spawn.Value("i", 0)
        # Both processes start (imports, the flood's bodies) within this margin.
        flood_at = time.time() + START_MARGIN_S + args.alone_s
        flood = spawn.Process(target=flood_sender, args=(url, intent_subject, args.flood, flood_at))
        quiet = spawn.Process(target=quiet_sender, args=(url, intent_subject, START_MARGIN_S + args.alone_s
                                                         + args.flooded_s, sent))
        flood.start()
        quiet.start()
        quiet.join()
        flood.join()
        intents, fills = asyncio.run(read_back(url, stream, args.flood + sent.value, timeout_s=120))
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(90)
    return figures(intents, fills, args.fill_bound_s)


def figures(intents: dict[str, int], fills: dict[str, float], bound_s: float) -> Figures:
    flood_start = min(at for c, at in intents.items() if c.startswith("flood-"))
    flood_end = max(fills.get(c, 0.0) for c in intents if c.startswith("flood-"))
    alone, flooded, sent, filled = [], [], 0, 0
    timeline = sorted(((at - flood_start) / 1000, fills[c] - at) for c, at in intents.items()
                      if c.startswith("quiet-") and c in fills and at >= flood_start - 500)
    for corr_id, at in intents.items():
        if not corr_id.startswith("quiet-"):
            continue
        latency = fills[corr_id] - at if corr_id in fills else None
        if at < flood_start:
            if latency is not None:
                alone.append(latency)
        elif at <= flood_end:
            sent += 1
            if latency is not None:
                flooded.append(latency)
                filled += latency <= bound_s * 1000
    return Figures(sorted(alone), sorted(flooded), sent, filled, (flood_end - flood_start) / 1000, timeline)


def pct(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def report(name: str, f: Figures, bound_s: float) -> None:
    print(f"{name}: flood worked off in {f.flood_s:.2f} s; quiet agent")
    print(f"  alone        p50 {pct(f.alone, 0.5):8.1f} ms   p99 {pct(f.alone, 0.99):8.1f} ms   ({len(f.alone)} intents)")
    print(f"  under flood  p50 {pct(f.flooded, 0.5):8.1f} ms   p99 {pct(f.flooded, 0.99):8.1f} ms   "
          f"filled within {bound_s:g} s: {f.flooded_filled}/{f.flooded_sent}")
    buckets: dict[int, float] = {}
    for since_s, latency in f.timeline:
        buckets[int(since_s // 0.5)] = max(buckets.get(int(since_s // 0.5), 0.0), latency)
    print("  worst latency (ms) per half second from the flood's first intent: "
          + " ".join(f"{k * 0.5:+g}s:{v:.0f}" for k, v in sorted(buckets.items()) if k * 0.5 <= f.flood_s + 0.5))
    print(f"  under flood / alone: p50 x{pct(f.flooded, 0.5) / max(pct(f.alone, 0.5), 0.1):.1f}  "
          f"p99 x{pct(f.flooded, 0.99) / max(pct(f.alone, 0.99), 0.1):.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flood", type=int, default=int(os.environ.get("BENCH_FLOOD", "30000")))
    parser.add_argument("--alone-s", type=float, default=3.0)
    parser.add_argument("--flooded-s", type=float, default=8.0, help="how long the quiet agent goes on after the flood")
    parser.add_argument("--fill-bound-s", type=float, default=0.1)
    parser.add_argument("--max-in-flight", type=int, default=20_000,
                        help="the service's MAX_IN_FLIGHT: how far ahead of the flood it looks")
    parser.add_argument("--against", type=Path, help="another checkout whose service runs the same case first")
    args = parser.parse_args()
    cases = ([("before", args.against.resolve())] if args.against else []) + [("this tree", ROOT)]
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-fair-") as tmp, EmbeddedNats(Path(tmp) / "js") as server:
        for index, (name, tree) in enumerate(cases):
            results[name] = run_case(server.url, f"BFAIR{index}", tree, Path(tmp), args)
    print(f"{args.flood:,} intents of one agent at once; a quiet agent sends one every {QUIET_EVERY_S * 1000:g} ms "
          f"(WORKERS=2, zero simulated delay, MAX_IN_FLIGHT={args.max_in_flight})")
    for name, f in results.items():
        report(name, f, args.fill_bound_s)
    if args.against:
        before, after = results["before"], results["this tree"]
        print(f"this tree / before, under flood: p50 x{pct(after.flooded, 0.5) / pct(before.flooded, 0.5):.3f}  "
              f"p99 x{pct(after.flooded, 0.99) / pct(before.flooded, 0.99):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
