"""Throughput benchmark: the service against the naive consumer, on the same machine, in one run.

Each case gets a fresh stream on one embedded nats-server, preloaded with the
same N valid intents (a mix of order types), and is timed from the moment the
consumer starts until every intent is acked. Cases:

    naive          bench/naive_consumer.py: fetch 1, jsonschema, 2 awaited publishes, ack
    pass-through   bench/passthrough.py: fetch 500, 2 publishes each with pipelined PubAcks,
                   ack after both; no validation, no simulation (issue 8's reference)
    service w=N    at-exec-sim run, WORKERS=N, zero simulated delay (N from --workers, 1,2)
    service w=2 d  at-exec-sim run, WORKERS=2, the default 100-2000 ms delays, on five
                   times the intents (--delay-intents). Delays count from the stream's
                   stored time, and preloading takes seconds, so a preloaded intent's delay
                   has run out before it is picked up: this case measures what the delay
                   path costs besides waiting (prices at many market seconds, the release
                   heap). Whether waiting costs throughput is measured live, with
                   bench/overhead.py at a fixed rate with and without delays.

Each case also gets the CPU it cost per intent, read from /proc over the drain:
nats-server's, the consumer's (the pass-through process or the supervisor) and
the supervisor's children's (the workers). On a 2-core machine that sum, not any
one process, is what bounds the rate.

Figures are printed as intents/s and as ratios to the naive run of the same
invocation (absolute times drift on shared machines; ratios much less). With
delays the whole drain necessarily ends up to the longest simulated delay after
the last intent is taken (2 x MAX when a partial's remainder fills later), so
the table also shows the steady rate: intents acked per second between 10% and
90% of the backlog acked.

    make bench                      # N=20000
    BENCH_INTENTS=50000 make bench
    python bench/throughput.py --workers 1,2,4 --skip-naive    # the scaling table
    python bench/throughput.py --cluster --skip-naive           # three nats-servers, streams R3

With --cluster every case runs against a three-node cluster on loopback with its
stream replicated three times, and "nats-server" CPU is the three nodes' sum.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import nats
from nats.js.api import StreamConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.naive_consumer import drain as naive_drain  # noqa: E402
from bench.passthrough import drain as passthrough_drain  # noqa: E402
from bench.service_process import service_env, start_service, subjects  # noqa: E402
from tools import sample_intents as si  # noqa: E402
from tools.embedded_cluster import EmbeddedNatsCluster  # noqa: E402
from tools.embedded_nats import EmbeddedNats  # noqa: E402


async def preload(url: str, stream: str, subject: str, count: int, seed: int, replicas: int = 1) -> None:
    nc = await nats.connect(url.split(","))
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"], duplicate_window=120,
                                     num_replicas=replicas))
    payloads = [si.encode(body) for body in si.mixed(count, seed=seed, prefix=stream.lower())]
    for start in range(0, count, 1000):
        await asyncio.gather(*(js.publish(subject, p, timeout=30) for p in payloads[start : start + 1000]))
    await nc.close()


class Drain(NamedTuple):
    seconds: float  # first delivery to last ack
    steady_rate: float  # intents acked per second between 10% and 90% acked
    cpu: dict[str, float] = {}  # CPU seconds per role (nats-server, consumer, workers) over the drain


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


CpuSample = Callable[[], dict[str, float]]


async def wait_drained(url: str, stream: str, durable: str, count: int, timeout_s: float,
                       cpu: CpuSample | None = None, seq: str = "stream_seq") -> Drain:
    """Follow the consumer (polled every 10 ms) from its first delivery until `count` intents are acked;
    `cpu` is sampled at both ends, and the drain carries the difference. Intents are counted by stream
    sequence (a stream of intents alone), or by `seq="consumer_seq"` (a stream holding other messages too)."""
    nc = await nats.connect(url.split(","))
    js = nc.jetstream()
    deadline = time.monotonic() + timeout_s
    first_delivery = None
    cpu_at_start: dict[str, float] = {}
    progress: list[tuple[float, int]] = []  # (time, intents acked)
    try:
        while time.monotonic() < deadline:
            try:
                info = await js.consumer_info(stream, durable)
            except (nats.js.errors.NotFoundError, nats.errors.TimeoutError):
                # Not made yet, or (a cluster under load) the API answered late: ask again.
                await asyncio.sleep(0.01)
                continue
            now = time.monotonic()
            delivered, acked = getattr(info.delivered, seq), getattr(info.ack_floor, seq)
            if first_delivery is None and delivered > 0:
                first_delivery = now
                cpu_at_start = cpu() if cpu else {}
            progress.append((now, delivered - info.num_ack_pending))
            if acked >= count and info.num_ack_pending == 0:
                t10, t90 = _crossing(progress, 0.1 * count), _crossing(progress, 0.9 * count)
                used = {}
                if cpu:
                    at_end = cpu()
                    used = {role: at_end[role] - cpu_at_start.get(role, 0.0) for role in at_end}
                return Drain(now - (first_delivery or now), 0.8 * count / max(t90 - t10, 1e-9), used)
            await asyncio.sleep(0.01)
    finally:
        await nc.close()
    raise TimeoutError(f"{stream}: not drained within {timeout_s:g} s")


def _crossing(progress: list[tuple[float, int]], level: float) -> float:
    """When the acked count first reached `level`, interpolated between polls."""
    previous = progress[0]
    for point in progress:
        if point[1] >= level:
            (t0, a0), (t1, a1) = previous, point
            return t1 if a1 == a0 else t0 + (t1 - t0) * (level - a0) / (a1 - a0)
        previous = point
    return progress[-1][0]


def run_naive(url: str, stream: str, count: int) -> Drain:
    intent, fill, reconcile = subjects(stream)
    started = time.monotonic()
    handled = asyncio.run(naive_drain(url, stream, intent, fill, reconcile, count))
    elapsed = time.monotonic() - started
    assert handled == count, f"naive consumer handled {handled} of {count}"
    return Drain(elapsed, count / elapsed)  # one at a time: its rate is steady throughout


def run_passthrough(url: str, stream: str, count: int, nats_pids: list[int]) -> Drain:
    """In a thread beside the drain watcher, so its steady rate is measured like the service's."""
    import uvloop

    intent, fill, reconcile = subjects(stream)
    handled: list[int] = []

    async def both() -> Drain:
        consumer = asyncio.create_task(passthrough_drain(url, stream, intent, fill, reconcile, count))
        # The consumer runs in this process: its CPU includes this watcher's polls (a few % of it).
        def cpu() -> dict[str, float]:
            return {"nats-server": sum(map(process_cpu_s, nats_pids)), "consumer": time.process_time()}

        drained = await wait_drained(url, stream, "passthrough", count, timeout_s=600, cpu=cpu)
        handled.append(await consumer)
        return drained

    drained = uvloop.run(both())
    assert handled == [count], f"pass-through handled {handled} of {count}"
    return drained


def run_service(url: str, stream: str, count: int, workers: int, delays: tuple[int, int], work: Path,
                nats_pids: list[int]) -> Drain:
    env = service_env(
        url, stream, work / f"metrics-{stream}",
        # The same work whatever the time of day, and comparable with the naive reference's two
        # events per intent: no market sessions, unlimited liquidity (no child fills).
        SIMULATION_MARKET_SESSIONS="off", SIMULATION_LIQUIDITY_SHARE="0",
        WORKERS=str(workers), SIMULATION_MIN_DELAY_MS=str(delays[0]), SIMULATION_MAX_DELAY_MS=str(delays[1]),
        SIMULATION_SEED="bench", LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        MAX_IN_FLIGHT=os.environ.get("BENCH_MAX_IN_FLIGHT", "20000"),
    )
    log_path = work / f"{stream}.log"
    process = start_service(env, log_path)
    try:
        # Workers boot before the consumer binds: the clock starts at the first delivery.
        # "workers" is every child of the supervisor: the simulator workers and the (idle) HTTP process.
        def cpu() -> dict[str, float]:
            return {"nats-server": sum(map(process_cpu_s, nats_pids)), "consumer": process_cpu_s(process.pid),
                    "workers": sum(process_cpu_s(child) for child in children_of(process.pid))}

        return asyncio.run(wait_drained(url, stream, "exec-sim-consumer", count, timeout_s=600, cpu=cpu))
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        if code != 0:
            print(f"warning: service for {stream} exited with {code}; log {log_path}", file=sys.stderr)


def print_tables(cases: list[tuple[str, Drain, int]], naive_included: bool) -> None:
    """The rates as ratios to the pass-through (and naive) cases of this run, then CPU per intent."""
    passthrough = cases[0][1]
    naive = cases[1][1] if naive_included else None
    print()
    print(f"{'case':<32} {'intents':>8} {'drain s':>8} {'intents/s':>10} {'steady/s':>9} {'x pass':>7} {'x naive':>8}")
    for name, drain, count in cases:
        to_naive = f"{drain.steady_rate / naive.steady_rate:>7.1f}x" if naive else "       -"
        print(f"{name:<32} {count:>8,} {drain.seconds:>8.2f} {count / drain.seconds:>10,.0f} {drain.steady_rate:>9,.0f} "
              f"{drain.steady_rate / passthrough.steady_rate:>6.2f}x {to_naive}")
    print()
    print("CPU per intent over the drain, microseconds (consumer: the pass-through process or the supervisor;")
    print("workers: the supervisor's children, simulator workers and the idle HTTP process):")
    print(f"{'case':<32} {'nats-server':>11} {'consumer':>9} {'workers':>8} {'total':>7}")
    for name, drain, count in cases:
        if drain.cpu:
            per = {role: drain.cpu.get(role, 0.0) / count * 1e6 for role in ("nats-server", "consumer", "workers")}
            print(f"{name:<32} {per['nats-server']:>11.0f} {per['consumer']:>9.0f} {per['workers']:>8.0f} "
                  f"{sum(per.values()):>7.0f}")
    print()
    print("intents/s: the case's intents over the whole drain (with delays it includes the last intents' delays, up to 2 x MAX")
    print("with partial fills); steady/s: acked per second between 10% and 90% of N acked; x pass, x naive:")
    print("steady rate over the pass-through reference's and the naive consumer's.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=int(os.environ.get("BENCH_INTENTS", "20000")))
    parser.add_argument("--skip-naive", action="store_true", help="no naive consumer case")
    parser.add_argument("--workers", default="1,2", help="WORKERS values of the no-delay cases (default 1,2)")
    parser.add_argument("--cluster", action="store_true",
                        help="a three-node nats-server cluster, every stream replicated three times")
    parser.add_argument("--delay-intents", type=int, default=0, help="intents of the case with delays (default 5 x --intents)")
    args = parser.parse_args()
    n = args.intents
    cases: list[tuple[str, Drain, int]] = []
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-bench-") as tmp:
        work = Path(tmp)
        servers = EmbeddedNatsCluster(work / "cluster") if args.cluster else EmbeddedNats(work / "js")
        with servers:
            url = ",".join(servers.urls) if args.cluster else servers.url
            pids = [node.process.pid for node in servers.nodes] if args.cluster else [servers.process.pid]
            replicas = 3 if args.cluster else 1

            def case(name: str, stream: str, runner: Callable[[str, int], Drain], count: int = n) -> None:
                asyncio.run(preload(url, stream, subjects(stream)[0], count, seed=len(cases), replicas=replicas))
                drain = runner(stream, count)
                cases.append((name, drain, count))
                print(f"  {name:<32} drained in {drain.seconds:6.2f} s", flush=True)

            print(f"draining {n:,} preloaded intents per case (cpu count {os.cpu_count()}"
                  + (", a three-node cluster, streams replicated three times)" if args.cluster else ")"), flush=True)
            case("pass-through reference", "BPASS", lambda s, c: run_passthrough(url, s, c, pids))
            if not args.skip_naive:
                case("naive consumer", "BNAIVE", lambda s, c: run_naive(url, s, c))
            for workers in (int(w) for w in args.workers.split(",")):
                case(f"service WORKERS={workers}, no delay", f"BW{workers}",
                     lambda s, c, w=workers: run_service(url, s, c, w, (0, 0), work, pids))
            # Five times the intents: the delay path's costs over a drain of several seconds.
            case("service WORKERS=2, 100-2000 ms", "BW2D",
                 lambda s, c: run_service(url, s, c, 2, (100, 2000), work, pids),
                 count=args.delay_intents or 5 * n)

    print_tables(cases, naive_included=not args.skip_naive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
