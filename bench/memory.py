"""Memory over a long run: resident size of every service process while it executes N intents.

Starts an embedded nats-server and `at-exec-sim run` (WORKERS=2, the default
100-2000 ms delays and every other default), feeds it N intents in chunks that
keep a bounded backlog in the stream (the stream itself is capped in bytes and
drops its oldest messages, so nats-server's disk and memory stay bounded too),
and samples the resident size (VmRSS) of the supervisor, each worker and the
HTTP processes once a second. Prints each process's RSS when 10%, 25%, 50%, 75%
and 100% of the intents are acked, and its growth from 10% to 100%: the
supervisor's corr_id window (IDEMPOTENCY_MAX_CORR_IDS) and the workers' price
path memo fill up during the first part of the run, and the issue's promise is
that nothing grows after that.

    python bench/memory.py                   # N=1,000,000 (about 3 minutes a 100k on 2 cores)
    python bench/memory.py --intents 200000
    python bench/memory.py --intents 100000 --invented-instruments

--invented-instruments gives every intent an instrument of its own that the instruments
file does not list (ZZ0000000, ZZ0000001, ...): what a client inventing names costs the
workers, bounded by SIMULATION_UNLISTED_CACHE_MB.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
from nats.js.api import DiscardPolicy, StreamConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service_process import service_env, start_service, subjects  # noqa: E402
from bench.throughput import children_of  # noqa: E402
from tools import sample_intents as si  # noqa: E402
from tools.embedded_nats import EmbeddedNats, free_port  # noqa: E402

STREAM = "BMEM"
CHUNK = 5_000
MAX_BACKLOG = 20_000
CHECKPOINTS = (0.10, 0.25, 0.50, 0.75, 1.00)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_label(pid: int, has_children: bool) -> str:
    """A child of the supervisor: a simulator worker, the HTTP process (it has gunicorn's worker) or
    multiprocessing's resource tracker."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return f"pid {pid}"
    if "resource_tracker" in cmdline:
        return f"resource tracker {pid}"
    return f"http {pid}" if has_children else f"worker {pid}"


def invented(count: int) -> Iterator[dict[str, Any]]:
    """Market orders, each on an instrument of its own that no instruments file lists."""
    for n in range(count):
        yield si.intent(f"mem-{n}", instrument=f"ZZ{n:07d}", quantity=1)


async def consumer_bound(js: Any, timeout_s: float = 120.0) -> None:
    """Wait until the service has bound its durable consumer (its workers boot first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await js.consumer_info(STREAM, "exec-sim-consumer")
            return
        except nats.js.errors.NotFoundError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def feed_and_watch(url: str, count: int, supervisor_pid: int, labels: dict[int, str],
                         invented_instruments: bool = False) -> list[tuple[int, dict[int, float]]]:
    """Publish `count` intents, never more than MAX_BACKLOG ahead of the service; sample RSS each second.
    Returns (intents acked, {pid: RSS MB}) samples; `labels` gets each process's role."""
    intent_subject = subjects(STREAM)[0]
    nc = await nats.connect(url)
    js = nc.jetstream()
    samples: list[tuple[int, dict[int, float]]] = []
    published = 0
    # Lazily: each timestamp is taken when it is sent.
    bodies = invented(count) if invented_instruments else si.mixed(count, seed=11, prefix="mem")
    next_sample = 0.0
    try:
        await consumer_bound(js)
        while True:
            info = await js.consumer_info(STREAM, "exec-sim-consumer")
            # The stream holds the outputs too: count deliveries, not stream sequences.
            acked = max(0, info.delivered.consumer_seq - info.num_ack_pending - (info.num_redelivered or 0))
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + 1.0
                pids = [supervisor_pid]
                for child in children_of(supervisor_pid):
                    grandchildren = children_of(child)
                    pids += [child, *grandchildren]
                    labels.setdefault(child, process_label(child, bool(grandchildren)))
                    for grandchild in grandchildren:
                        labels.setdefault(grandchild, f"http worker {grandchild}")
                labels.setdefault(supervisor_pid, "supervisor")
                samples.append((acked, {pid: rss_mb(pid) for pid in pids}))
            if acked >= count:
                break
            if published < count and published - acked < MAX_BACKLOG:
                batch = range(published, min(published + CHUNK, count))
                # Core publishes (the stream stores them; progress is read from the consumer), one flush a chunk.
                for _ in batch:
                    await nc.publish(intent_subject, si.encode(next(bodies)))
                await nc.flush()
                published += len(batch)
            else:
                await asyncio.sleep(0.2)
    finally:
        await nc.close()
    print()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intents", type=int, default=1_000_000)
    parser.add_argument("--invented-instruments", action="store_true",
                        help="every intent on an unlisted instrument of its own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-mem-") as tmp:
        work = Path(tmp)
        with EmbeddedNats(work / "js") as server:

            async def create_stream() -> None:
                nc = await nats.connect(server.url)
                # Capped: old intents (acked long ago) and outputs (read by nobody here) make room.
                await nc.jetstream().add_stream(StreamConfig(
                    name=STREAM, subjects=[f"{STREAM.lower()}.>"], duplicate_window=120,
                    max_bytes=512 * 1024 * 1024, discard=DiscardPolicy.OLD))
                await nc.close()

            asyncio.run(create_stream())
            env = service_env(server.url, STREAM, work / "metrics", WORKERS="2", SIMULATION_SEED="memory",
                              PORT=str(free_port()))
            service = start_service(env, work / "service.log")
            try:
                time.sleep(3)  # workers boot and the consumer binds before the first chunk
                started = time.monotonic()
                labels: dict[int, str] = {}
                samples = asyncio.run(feed_and_watch(server.url, args.intents, service.pid, labels,
                                                     args.invented_instruments))
                elapsed = time.monotonic() - started
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(90)
    report(samples, args.intents, labels, elapsed)
    return 0


def report(samples: list[tuple[int, dict[int, float]]], count: int, labels: dict[int, str], elapsed: float) -> None:
    pids = sorted({pid for _, by_pid in samples for pid in by_pid})
    at: dict[float, dict[int, float]] = {}
    for share in CHECKPOINTS:
        reached = next((by_pid for acked, by_pid in samples if acked >= share * count), samples[-1][1])
        at[share] = reached
    print(f"{count:,} intents in {elapsed:.0f} s ({count / elapsed:,.0f}/s); RSS in MB when this share was acked:")
    header = "".join(f"{int(share * 100):>7}%" for share in CHECKPOINTS)
    print(f"{'process':<24}{header}  10%->100%")
    for pid in sorted(pids, key=lambda p: labels[p]):
        row = [at[share].get(pid, 0.0) for share in CHECKPOINTS]
        if not row[0]:
            continue
        growth = (row[-1] - row[0]) / row[0] * 100
        print(f"{labels[pid]:<24}" + "".join(f"{value:>8.1f}" for value in row) + f"  {growth:+8.1f}%")


if __name__ == "__main__":
    sys.exit(main())
