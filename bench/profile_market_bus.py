"""CPU profile of the supervisor under MARKET_DATA=bus: where its core goes per quote and per intent.

The workload of bench/market_bus.py's throughput part (a quote feed at --feed-rate over
--instruments instruments into a fresh stream, a backlog of --intents market orders
drained by `at-exec-sim run`, WORKERS=2, zero delay), with the supervisor process sampled
by py-spy for --seconds from --after-s past the first delivery (bench/profile_supervisor.py's
summary: own time and time including callees, the pool's bridge thread left out; with
--native, the samples waiting in epoll too). With --idle, no intents: the supervisor only
reads the feed, its cost per quote alone. Prints the supervisor's CPU seconds over the
sampled window too; --log keeps the service's log at LOG_LEVEL=INFO (its timeline).

    python bench/profile_market_bus.py [--intents 20000] [--seconds 5] [--raw FILE] [--idle] [--native]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.market_bus import STREAM, WARM_S, fresh_stream, intent_bodies, mode_settings, preload  # noqa: E402
from bench.profile_supervisor import py_spy, summarize  # noqa: E402
from bench.quote_feed import FEED_TICK_MS, Feed, instruments  # noqa: E402
from bench.service_process import start_service, wait_ready  # noqa: E402
from bench.throughput import process_cpu_s, wait_drained  # noqa: E402
from tools.embedded_nats import EmbeddedNats, free_port  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--after-s", type=float, default=0.0, help="sampling starts this long after the first delivery")
    parser.add_argument("--feed-rate", type=float, default=5000)
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--mode", default="bus", choices=("bus", "synthetic"))
    parser.add_argument("--idle", action="store_true", help="no intents: the feed alone")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--native", action="store_true", help="py-spy --native (blocking): C frames too")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    parser.add_argument("--log", type=Path, help="keep the service's log (LOG_LEVEL=INFO) in this file")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    spy = py_spy()
    names = instruments(args.instruments)
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-profile-") as tmp:
        work = Path(tmp)
        raw = args.raw or work / "supervisor.txt"
        with EmbeddedNats(work / "js") as server, Feed(server.url, names, FEED_TICK_MS) as feed:
            asyncio.run(fresh_stream(server.url))
            feed.set(args.feed_rate)
            time.sleep(WARM_S)
            if not args.idle:
                asyncio.run(preload(server.url, intent_bodies(args.intents, names, "p")))
            port = free_port()
            env = mode_settings(args.mode, work, port, 0, 50)
            env["NATS_URL"] = server.url
            if args.log:
                env["LOG_LEVEL"] = "INFO"
            service = start_service(env, args.log or work / "service.log")
            try:
                if args.idle:
                    wait_ready(port)
                    time.sleep(1.0)
                    cpu_before = process_cpu_s(service.pid)
                    sample(spy, service.pid, raw, args.seconds, args.native)
                    cpu = process_cpu_s(service.pid) - cpu_before
                    print(f"idle: supervisor {cpu:.2f} CPU s over ~{args.seconds:g} s "
                          f"({cpu / args.seconds / args.feed_rate * 1e6:.1f} us per quote)\n")
                else:
                    drained = asyncio.run(drain_sampling(server.url, spy, service.pid, raw, args))
                    print(f"drained {args.intents:,} intents in {drained:.2f} s ({args.intents / drained:,.0f}/s)\n")
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(60)
            feed.set(0)
        if args.native:  # a blocking sample books the loop's wait in epoll as a stack like any other
            raw.write_text("".join(line for line in raw.read_text().splitlines(keepends=True)
                                   if "epoll_pwait" not in line.rpartition(" ")[0].rsplit(";", 1)[-1]))
        summarize(raw, args.top)
    return 0


def sample(spy: str, pid: int, raw: Path, seconds: float, native: bool) -> None:
    # --native shows the time inside C (uvloop, orjson, the parser's regular expressions), which
    # --nonblocking books on the nearest Python frame; it pauses the process for each sample.
    subprocess.run([spy, "record", "--pid", str(pid), "--rate", "250", "--duration", str(int(seconds)),
                    "--format", "raw", "--output", str(raw), *(["--native"] if native else ["--nonblocking"])],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


async def until_delivered(url: str) -> None:
    """Until the service's consumer has delivered its first intent."""
    nc = await nats.connect(url)
    try:
        while True:
            try:
                info = await nc.jetstream().consumer_info(STREAM, "exec-sim-consumer")
                if info.delivered.consumer_seq > 0:
                    return
            except Exception:
                pass
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def drain_sampling(url: str, spy: str, pid: int, raw: Path, args: argparse.Namespace) -> float:
    async def sampled() -> None:
        await until_delivered(url)
        await asyncio.sleep(args.after_s)
        cpu_before = process_cpu_s(pid)
        await asyncio.to_thread(sample, spy, pid, raw, args.seconds, args.native)
        print(f"supervisor {process_cpu_s(pid) - cpu_before:.2f} CPU s over the ~{args.seconds:g} s sampled")

    started = time.monotonic()
    sampler = asyncio.create_task(sampled())
    drained = await wait_drained(url, STREAM, "exec-sim-consumer", args.intents, timeout_s=600, seq="consumer_seq")
    await sampler
    return drained.seconds or time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
