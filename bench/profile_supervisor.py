"""CPU profile of the supervisor at full rate: where its core goes while it drains a backlog.

Runs a fresh embedded nats-server, preloads N intents, starts `at-exec-sim run`
(WORKERS=2, zero delay unless --max-delay-ms, sessions off, unlimited liquidity: the benchmark's
workload) and samples the supervisor process only with py-spy for the middle of
the drain. Prints the functions with the most samples, by their own time and
including what they call, for the event loop's thread (the bridge thread that
waits on the workers' pipes is left out: it sleeps in a syscall). py-spy is a
dev dependency (`make venv` installs it); it needs permission to ptrace the
process (root, or kernel.yama.ptrace_scope=0).

    python bench/profile_supervisor.py [--intents 60000] [--seconds 5] [--raw FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service_process import service_env, start_service, subjects  # noqa: E402
from bench.throughput import preload, wait_drained  # noqa: E402
from tools.embedded_nats import EmbeddedNats  # noqa: E402

STREAM = "PROF"


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy not found: pip install py-spy (make venv installs it)")
    return found


def summarize(raw: Path, top: int) -> None:
    """Self and inclusive sample shares from py-spy's collapsed stacks ("f1;f2;... count")."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if any("_bridge_main" in f for f in frames):
            continue  # the pool's bridge thread, blocked on the workers' pipes
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"{total} samples of the event loop's thread")
    print("\nown time (the function itself):")
    for frame, n in own.most_common(top):
        print(f"  {n / total:6.1%}  {frame}")
    print("\nincluding callees (project code and nats-py only):")
    shown = 0
    for frame, n in inclusive.most_common():
        if ("/work/" in frame or "supervisor/" in frame or "nats/" in frame) and shown < top:
            print(f"  {n / total:6.1%}  {frame}")
            shown += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to sample, from 0.5 s into the drain")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks in this file")
    parser.add_argument("--max-delay-ms", type=int, default=0,
                        help="simulated delays of min(100, this) to this ms (default 0; with delays, sample from 2.5 s in)")
    args = parser.parse_args()
    spy = py_spy()
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-profile-") as tmp:
        work = Path(tmp)
        raw = args.raw or work / "supervisor.txt"
        intent = subjects(STREAM)[0]
        with EmbeddedNats(work / "js") as server:
            asyncio.run(preload(server.url, STREAM, intent, args.intents, seed=1))
            env = service_env(
                server.url, STREAM, work / "metrics",
                SIMULATION_MARKET_SESSIONS="off", SIMULATION_LIQUIDITY_SHARE="0",
                WORKERS="2", SIMULATION_MIN_DELAY_MS=str(min(100, args.max_delay_ms)),
                SIMULATION_MAX_DELAY_MS=str(args.max_delay_ms),
                SIMULATION_SEED="bench", MAX_IN_FLIGHT="20000",
            )
            service = start_service(env, work / "service.log")
            try:
                drained = asyncio.run(_drain_while_sampling(server.url, spy, service.pid, raw, args))
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(60)
        print(f"drained {args.intents:,} intents in {drained:.2f} s ({args.intents / drained:,.0f}/s), "
              f"sampled {args.seconds:g} s of it\n")
        summarize(raw, args.top)
    return 0


async def _drain_while_sampling(url: str, spy: str, pid: int, raw: Path, args: argparse.Namespace) -> float:
    async def sample() -> None:
        # Past the start (and, with delays, past the first acks' ramp): the steady state.
        await asyncio.sleep(2.5 if args.max_delay_ms else 0.5)
        process = await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(pid), "--rate", "250", "--duration", str(int(args.seconds)),
            "--format", "raw", "--output", str(raw), "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await process.wait()

    started = time.monotonic()
    sampler = asyncio.create_task(sample())
    drained = await wait_drained(url, STREAM, "exec-sim-consumer", args.intents, timeout_s=600)
    await sampler
    return drained.seconds or time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
