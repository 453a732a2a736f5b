"""MARKET_DATA=bus against MARKET_DATA=synthetic: throughput under a live quote feed, and the latency
the wait for market data adds, in one run against one embedded nats-server.

A quote feed runs in its own process for the whole run (tools/loadgen/feed.py's
QuoteMaker: schema-valid L1 quotes on market.quote.<TOKEN>, core publishes paced
every millisecond: the wait for the watermark is the gap to the next stored quote,
so a feed in bursts every 10 ms would add up to 10 ms to it), spread in turn over
--instruments instruments (the instruments file's 25 and unlisted ones, BMK00...).
Every case gets a fresh stream covering the bench's intent and event subjects and
market.>, so the feed's quotes are stored, and read
by the service under bus, in every case, synthetic included: the same load on
nats-server, the only difference the mode.

Throughput: a backlog of --intents market orders over the instruments, stored
while the feed runs, is drained by `at-exec-sim run` (WORKERS=2, zero delay,
sessions off, unlimited liquidity, no partial fills), timed from the first
delivery to the last ack; the feed goes on during the drain. The two modes
alternate for --rounds rounds (synthetic, bus, synthetic, bus...), and each
round's bus/synthetic ratio of the steady rate (intents acked per second between
10% and 90% of the backlog acked) is paired; the median ratio and its range are
what to quote (absolute rates drift on a shared machine). Each drain is checked
to have filled every intent (a fill each, more when an order walks the book).

Latency: intents at --latency-rate per second for --latency-seconds (market
orders, its own process, core publishes), each with the fixed delay --delay-ms.
For every fill: its stored time minus its intent's stored time minus the delay
(both the server's stamps): what the service adds on top of the simulated delay,
the wait for the watermark included. Three cases, in turn for --latency-rounds
rounds: bus with the feed at --feed-rate, bus with a quiet feed (one quote per
instrument at the start, then nothing: the watermark moves by the service's
ticks, MARKET_WATERMARK_TICK_MS), and synthetic with the feed running.

    python bench/market_bus.py                                  # make bench runs this
    python bench/market_bus.py --rounds 5 --latency-rounds 2
    python bench/market_bus.py --skip-latency --intents 40000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import nats
from nats.js.api import StreamConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quote_feed import FEED_TICK_MS, Feed, instruments  # noqa: E402
from bench.service_process import read_fills, service_env, start_service, subjects, wait_ready  # noqa: E402
from bench.throughput import Drain, children_of, process_cpu_s, wait_drained  # noqa: E402
from tools import sample_intents as si  # noqa: E402
from tools.embedded_nats import EmbeddedNats, free_port  # noqa: E402

STREAM = "BMKT"
SEND_TICK_S = 0.01
WARM_S = 2.0  # the feed runs this long in a fresh stream before the first intent: every instrument has a quote
SERVICE = {
    # The same work whatever the time of day: no market sessions, unlimited liquidity, one fill per intent.
    "SIMULATION_MARKET_SESSIONS": "off", "SIMULATION_LIQUIDITY_SHARE": "0", "SIMULATION_PARTIAL_FILL_CHANCE": "0",
    "SIMULATION_SEED": "bench-market-bus", "WORKERS": "2", "MAX_IN_FLIGHT": "20000",
}


# -- streams and the service --------------------------------------------------------------


async def fresh_stream(url: str) -> None:
    """The case's stream, empty: its intent and event subjects, and market.> (quotes and ticks)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        await js.delete_stream(STREAM)
    except nats.js.errors.NotFoundError:
        pass
    await js.add_stream(StreamConfig(name=STREAM, subjects=[f"{STREAM.lower()}.>", "market.>"], duplicate_window=120))
    await nc.close()


def intent_bodies(count: int, names: tuple[str, ...], prefix: str) -> list[bytes]:
    """Market orders in turn over the instruments, one to five lots, buys and sells."""
    return [si.encode(si.intent(f"{prefix}-{i}", side="buy" if i % 2 else "sell", instrument=names[i % len(names)],
                                quantity=si.in_lots(names[i % len(names)], 1 + i % 5)))
            for i in range(count)]


async def preload(url: str, bodies: list[bytes]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for start in range(0, len(bodies), 1000):
        await asyncio.gather(*(js.publish(subjects(STREAM)[0], body, timeout=30) for body in bodies[start : start + 1000]))
    await nc.close()


async def stored_count(url: str, subject: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(STREAM, subjects_filter=subject)
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


def mode_settings(mode: str, work: Path, port: int, delay_ms: int, tick_ms: int) -> dict[str, str]:
    return service_env("", STREAM, work / f"metrics-{mode}-{time.monotonic_ns()}", **SERVICE, MARKET_DATA=mode,
                       SIMULATION_MIN_DELAY_MS=str(delay_ms), SIMULATION_MAX_DELAY_MS=str(delay_ms),
                       MARKET_WATERMARK_TICK_MS=str(tick_ms), PORT=str(port), HTTP_HOST="127.0.0.1")


def stop(process: Any, log_path: Path) -> None:
    process.send_signal(signal.SIGTERM)
    code = process.wait(90)
    if code != 0:
        print(f"warning: the service exited with {code}; log {log_path}", file=sys.stderr)


# -- throughput -----------------------------------------------------------------------------


class DrainResult(NamedTuple):
    mode: str
    drain: Drain
    feed_rate: float  # quotes stored per second over the case
    fills: int


def drain_case(url: str, mode: str, count: int, names: tuple[str, ...], feed: Feed, rate: float, nats_pid: int,
               work: Path, label: str, tick_ms: int) -> DrainResult:
    asyncio.run(fresh_stream(url))
    feed.set(rate)
    started = time.monotonic()
    time.sleep(WARM_S)
    bodies = intent_bodies(count, names, label)
    asyncio.run(preload(url, bodies))
    env = mode_settings(mode, work, free_port(), 0, tick_ms)
    env["NATS_URL"] = url
    log_path = work / f"{label}.log"
    process = start_service(env, log_path)
    try:
        def cpu() -> dict[str, float]:
            return {"nats-server": process_cpu_s(nats_pid), "consumer": process_cpu_s(process.pid),
                    "workers": sum(process_cpu_s(child) for child in children_of(process.pid)),
                    "feed": process_cpu_s(feed.pid)}

        drained = asyncio.run(wait_drained(url, STREAM, "exec-sim-consumer", count, timeout_s=600, cpu=cpu,
                                             seq="consumer_seq"))
    finally:
        stop(process, log_path)
    quotes = asyncio.run(stored_count(url, "market.quote.>"))
    elapsed = time.monotonic() - started
    fills = asyncio.run(stored_count(url, subjects(STREAM)[1]))
    if fills < count:
        raise RuntimeError(f"{label}: {fills} fills for {count} intents; log {log_path}")
    return DrainResult(mode, drained, quotes / elapsed, fills)


# -- latency ----------------------------------------------------------------------------------


def send(url: str, bodies: list[bytes], rate: float) -> None:
    """Open loop: every 10 ms, the intents due by then (its own process)."""

    async def run() -> None:
        nc = await nats.connect(url)
        started, sent = time.monotonic(), 0
        while sent < len(bodies):
            due = min(len(bodies), int((time.monotonic() - started) * rate) + 1)
            for body in bodies[sent:due]:
                await nc.publish(subjects(STREAM)[0], body)
            sent = due
            await nc.flush()
            await asyncio.sleep(SEND_TICK_S)
        await nc.close()

    asyncio.run(run())


async def read_back(url: str, expected: int, timeout_s: float) -> list[float]:
    """Every fill's stored ms minus its intent's stored ms minus its simulated delay."""
    intents, fills = await read_fills(url, STREAM, expected, timeout_s)
    return sorted(f.stored_ms - intents[f.corr_id] - f.delay_ms for f in fills if f.corr_id in intents)


def latency_case(url: str, mode: str, feed: Feed, rate: float, names: tuple[str, ...], args: argparse.Namespace,
                 work: Path, label: str) -> list[float]:
    asyncio.run(fresh_stream(url))
    feed.set(rate, snapshot=rate == 0)  # quiet: one quote per instrument, in force for MARKET_DATA_MAX_AGE_MS
    time.sleep(WARM_S)
    port = free_port()
    env = mode_settings(mode, work, port, args.delay_ms, args.tick_ms)
    env["NATS_URL"] = url
    log_path = work / f"{label}.log"
    process = start_service(env, log_path)
    try:
        wait_ready(port)
        count = int(args.latency_rate * args.latency_seconds)
        bodies = intent_bodies(count, names, label)
        sender = multiprocessing.get_context("spawn").Process(target=send, args=(url, bodies, args.latency_rate))
        sender.start()
        sender.join()
        return asyncio.run(read_back(url, count, timeout_s=60))
    finally:
        stop(process, log_path)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


# -- the run ------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=int(os.environ.get("BENCH_INTENTS", "20000")))
    parser.add_argument("--rounds", type=int, default=3, help="synthetic/bus pairs of the throughput part")
    parser.add_argument("--feed-rate", type=float, default=5000, help="quotes per second over all instruments")
    parser.add_argument("--feed-tick-ms", type=float, default=FEED_TICK_MS,
                        help="the feed publishes what fell due this often (its bursts)")
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--latency-rate", type=float, default=200, help="intents per second of the latency part")
    parser.add_argument("--latency-seconds", type=float, default=20)
    parser.add_argument("--latency-rounds", type=int, default=1)
    parser.add_argument("--delay-ms", type=int, default=100, help="the latency part's fixed simulated delay")
    parser.add_argument("--tick-ms", type=int, default=50, help="MARKET_WATERMARK_TICK_MS")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a service setting for every case (WORKER_NICENESS=0, say); repeatable")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    return parser.parse_args()


def throughput_part(url: str, nats_pid: int, quotes: Feed, names: tuple[str, ...], args: argparse.Namespace,
                    work: Path) -> list[DrainResult]:
    print(f"throughput: {args.intents:,} market orders per drain, zero delay, WORKERS=2", flush=True)
    drains = []
    for r in range(args.rounds):
        for mode in ("synthetic", "bus"):
            result = drain_case(url, mode, args.intents, names, quotes, args.feed_rate, nats_pid, work,
                                f"t{r}-{mode}", args.tick_ms)
            drains.append(result)
            print(f"  round {r + 1} {mode:<9} drained in {result.drain.seconds:6.2f} s, steady "
                  f"{result.drain.steady_rate:7,.0f}/s, {result.fills:,} fills, quotes stored "
                  f"{result.feed_rate:,.0f}/s", flush=True)
    return drains


def latency_part(url: str, quotes: Feed, names: tuple[str, ...], args: argparse.Namespace,
                 work: Path) -> dict[str, list[list[float]]]:
    print(f"latency: {args.latency_rate:g} intents/s for {args.latency_seconds:g} s, delay {args.delay_ms} ms",
          flush=True)
    cases = (("bus, feed", "bus", args.feed_rate), ("bus, quiet feed", "bus", 0.0),
             ("synthetic, feed", "synthetic", args.feed_rate))
    latencies: dict[str, list[list[float]]] = {}
    for r in range(args.latency_rounds):
        for name, mode, rate in cases:
            overheads = latency_case(url, mode, quotes, rate, names, args, work, f"l{r}-{mode}-{int(rate)}")
            latencies.setdefault(name, []).append(overheads)
            print(f"  round {r + 1} {name:<16} {len(overheads):,} fills, p50 {percentile(overheads, 0.5):.1f} ms, "
                  f"p99 {percentile(overheads, 0.99):.1f} ms", flush=True)
    return latencies


def main() -> int:
    args = arguments()
    SERVICE.update(setting.split("=", 1) for setting in args.set)
    names = instruments(args.instruments)
    drains: list[DrainResult] = []
    latencies: dict[str, list[list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-bench-") as tmp:
        work = Path(tmp)
        with EmbeddedNats(work / "js") as server, Feed(server.url, names, args.feed_tick_ms) as quotes:
            assert server.process is not None
            print(f"feed {args.feed_rate:,.0f} quotes/s over {len(names)} instruments; cpu count {os.cpu_count()}",
                  flush=True)
            if not args.skip_throughput:
                drains = throughput_part(server.url, server.process.pid, quotes, names, args, work)
            if not args.skip_latency:
                latencies = latency_part(server.url, quotes, names, args, work)
            quotes.set(0)
    print_tables(drains, latencies, args)
    return 0


def print_tables(drains: list[DrainResult], latencies: dict[str, list[list[float]]], args: argparse.Namespace) -> None:
    if drains:
        synthetic = [d for d in drains if d.mode == "synthetic"]
        bus = [d for d in drains if d.mode == "bus"]
        ratios = sorted(b.drain.steady_rate / s.drain.steady_rate for s, b in zip(synthetic, bus, strict=True))
        whole = sorted((args.intents / b.drain.seconds) / (args.intents / s.drain.seconds)
                       for s, b in zip(synthetic, bus, strict=True))
        print()
        print("medians over the rounds; CPU per intent over the drain in microseconds, by process")
        print(f"{'mode':<10} {'steady/s':>9} {'drain/s':>8}   {'nats-server':>11} {'supervisor':>10} {'workers':>8} "
              f"{'feed':>6}")
        for mode, runs in (("synthetic", synthetic), ("bus", bus)):
            cpu = {role: statistics.median(d.drain.cpu.get(role, 0.0) for d in runs) / args.intents * 1e6
                   for role in ("nats-server", "consumer", "workers", "feed")}
            print(f"{mode:<10} {statistics.median(d.drain.steady_rate for d in runs):>9,.0f} "
                  f"{statistics.median(args.intents / d.drain.seconds for d in runs):>8,.0f}   "
                  f"{cpu['nats-server']:>11.0f} {cpu['consumer']:>10.0f} {cpu['workers']:>8.0f} "
                  f"{cpu['feed']:>6.0f}")
        print(f"bus / synthetic, steady rate: median {statistics.median(ratios):.2f} "
              f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}, {len(ratios)} pairs); whole drain: median "
              f"{statistics.median(whole):.2f} (range {whole[0]:.2f}-{whole[-1]:.2f})")
    if latencies:
        print()
        print(f"added latency per fill (fill stored - intent stored - {args.delay_ms} ms delay), ms, all rounds:")
        print(f"{'case':<18} {'fills':>7} {'p50':>6} {'p90':>6} {'p99':>6} {'max':>7}   per round p50 / p99")
        for name, samples in latencies.items():
            merged = sorted(v for run in samples for v in run)
            rounds = ", ".join(f"{percentile(run, 0.5):.1f} / {percentile(run, 0.99):.1f}" for run in samples)
            print(f"{name:<18} {len(merged):>7,} {percentile(merged, 0.5):>6.1f} {percentile(merged, 0.9):>6.1f} "
                  f"{percentile(merged, 0.99):>6.1f} {merged[-1]:>7.1f}   {rounds}")


if __name__ == "__main__":
    sys.exit(main())
