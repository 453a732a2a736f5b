"""Throughput benchmark: the service against the naive consumer, on the same machine, in one run.

Each case gets a fresh stream on one embedded nats-server, preloaded with the
same N valid intents (a mix of order types), and is timed from the moment the
consumer starts until every intent is acked. Cases:

    naive          bench/naive_consumer.py: fetch 1, jsonschema, 2 awaited publishes, ack
    service w=1    at-exec-sim run, WORKERS=1, zero simulated delay
    service w=2    at-exec-sim run, WORKERS=2, zero simulated delay
    service w=2 d  at-exec-sim run, WORKERS=2, the default 100-2000 ms delays

Figures are printed as intents/s and as ratios to the naive run of the same
invocation (absolute times drift on shared machines; ratios much less). With
delays, the last intents are necessarily answered up to 2 s after they are
taken, so the table also shows the rate with that tail taken off.

    make bench                      # N=20000
    BENCH_INTENTS=50000 make bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import StreamConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.naive_consumer import drain as naive_drain  # noqa: E402
from supervisor import sample_intents as si  # noqa: E402
from supervisor.embedded_nats import EmbeddedNats  # noqa: E402


async def preload(url: str, stream: str, subject: str, count: int, seed: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"], duplicate_window=120))
    payloads = [si.encode(body) for body in si.mixed(count, seed=seed, prefix=stream.lower())]
    for start in range(0, count, 1000):
        await asyncio.gather(*(js.publish(subject, p, timeout=30) for p in payloads[start : start + 1000]))
    await nc.close()


async def wait_drained(url: str, stream: str, durable: str, count: int, timeout_s: float) -> float:
    """Seconds from the first delivery to `durable` until `count` intents are acked (polled every 10 ms)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    deadline = time.monotonic() + timeout_s
    first_delivery = None
    try:
        while time.monotonic() < deadline:
            try:
                info = await js.consumer_info(stream, durable)
                if first_delivery is None and info.delivered.stream_seq > 0:
                    first_delivery = time.monotonic()
                if info.ack_floor.stream_seq >= count and info.num_ack_pending == 0:
                    return time.monotonic() - (first_delivery or time.monotonic())
            except nats.js.errors.NotFoundError:
                pass
            await asyncio.sleep(0.01)
    finally:
        await nc.close()
    raise TimeoutError(f"{stream}: not drained within {timeout_s:g} s")


def subjects(stream: str) -> tuple[str, str, str]:
    root = stream.lower()
    return f"{root}.decisions.order_intent", f"{root}.executions.fill", f"{root}.executions.reconcile"


def run_naive(url: str, stream: str, count: int) -> float:
    intent, fill, reconcile = subjects(stream)
    started = time.monotonic()
    handled = asyncio.run(naive_drain(url, stream, intent, fill, reconcile, count))
    elapsed = time.monotonic() - started
    assert handled == count, f"naive consumer handled {handled} of {count}"
    return elapsed


def run_service(url: str, stream: str, count: int, workers: int, delays: tuple[int, int], work: Path) -> float:
    intent, fill, reconcile = subjects(stream)
    env = {
        **os.environ,
        "NATS_URL": url, "NATS_STREAM": stream, "NATS_SUBJECT_ORDER_INTENT": intent,
        "NATS_SUBJECT_FILL": fill, "NATS_SUBJECT_RECONCILE": reconcile,
        "WORKERS": str(workers), "SIMULATION_MIN_DELAY_MS": str(delays[0]), "SIMULATION_MAX_DELAY_MS": str(delays[1]),
        "SIMULATION_SEED": "bench", "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "PROMETHEUS_MULTIPROC_DIR": str(work / f"metrics-{stream}"),
        "MAX_IN_FLIGHT": os.environ.get("BENCH_MAX_IN_FLIGHT", "20000"),
    }
    log_path = work / f"{stream}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "supervisor.cli", "run"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        # Workers boot before the consumer binds: the clock starts at the first delivery.
        return asyncio.run(wait_drained(url, stream, "exec-sim-consumer", count, timeout_s=600))
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        if code != 0:
            print(f"warning: service for {stream} exited with {code}; log {log_path}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=int(os.environ.get("BENCH_INTENTS", "20000")))
    parser.add_argument("--skip-naive", action="store_true", help="service cases only (no ratio)")
    args = parser.parse_args()
    n = args.intents
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-bench-") as tmp:
        work = Path(tmp)
        with EmbeddedNats(work / "js") as server:
            cases: list[tuple[str, float, float]] = []  # name, seconds, tail seconds

            def case(name: str, stream: str, runner, tail_s: float = 0.0) -> None:
                intent_subject = subjects(stream)[0]
                asyncio.run(preload(server.url, stream, intent_subject, n, seed=len(cases)))
                seconds = runner(stream)
                cases.append((name, seconds, tail_s))
                print(f"  {name:<34} {n / seconds:>9,.0f} intents/s  ({seconds:.2f} s)", flush=True)

            print(f"draining {n:,} preloaded intents per case (cpu count {os.cpu_count()})", flush=True)
            if not args.skip_naive:
                case("naive consumer", "BNAIVE", lambda s: run_naive(server.url, s, n))
            case("service WORKERS=1, no delay", "BW1", lambda s: run_service(server.url, s, n, 1, (0, 0), work))
            case("service WORKERS=2, no delay", "BW2", lambda s: run_service(server.url, s, n, 2, (0, 0), work))
            case("service WORKERS=2, 100-2000 ms", "BW2D",
                 lambda s: run_service(server.url, s, n, 2, (100, 2000), work), tail_s=2.0)

    print()
    reference = cases[0][1] if not args.skip_naive else None
    print(f"{'case':<34} {'intents/s':>10} {'tail off':>10} {'x naive':>8}")
    for name, seconds, tail_s in cases:
        rate = n / seconds
        steady = n / max(seconds - tail_s, 1e-9)
        ratio = f"{reference / seconds:>7.1f}x" if reference else "      -"
        print(f"{name:<34} {rate:>10,.0f} {steady:>10,.0f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
