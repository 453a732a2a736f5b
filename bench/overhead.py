"""Supervisor overhead: intent stored to fill stored, minus the simulated delay, at a fixed rate.

Starts an embedded nats-server and `at-exec-sim run` (WORKERS=2, the bench's
workload: sessions off, unlimited liquidity, the default 100-2000 ms delays),
publishes intents open loop at --rate for --seconds (core publishes paced every
10 ms from a separate process, so the sender never waits on the service), then
reads the stream back. Every fill's overhead is its stored time minus its
intent's stored time minus its own execution_latency_ms (the simulated delay from
receipt, which is when the stream stored the intent): the time the service
added on top of the simulation, fetch, validation, simulation, scheduling,
publishing and the PubAck round trip included. Both times are the server's own
stamps, so the reader's speed does not count. It also prints two of the
service's histograms that split the overhead: the release lateness (the
supervisor's part) and publish to PubAck (the round trip through nats-server).

Issue 8 asks for p99 under 5 ms at half the maximum rate; bench/throughput.py
gives the maximum (its "WORKERS=2, 100-2000 ms" steady rate).

    python bench/overhead.py --rate 3500 --seconds 20

Run at a high rate with --max-delay-ms 0 and with the default delays, it also
says whether delays cost throughput: a rate the service cannot sustain shows
as an overhead that grows through the run (hundreds of ms and more).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import signal
import sys
import tempfile
import time
from pathlib import Path

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.service_process import service_env, start_service, subjects  # noqa: E402
from tools import sample_intents as si  # noqa: E402
from tools.embedded_nats import EmbeddedNats, free_port  # noqa: E402

STREAM = "BOVH"
TICK_S = 0.01


def send(url: str, rate: float, seconds: float) -> None:
    """Open loop: every 10 ms, the intents due by then (in its own process)."""

    async def run() -> None:
        nc = await nats.connect(url)
        bodies = si.mixed(int(rate * seconds), seed=5, prefix="ovh")
        started, sent, total = time.monotonic(), 0, int(rate * seconds)
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            for _ in range(due - sent):
                await nc.publish(subjects(STREAM)[0], si.encode(next(bodies)))
            sent = due
            await nc.flush()
            await asyncio.sleep(TICK_S)
        await nc.close()

    asyncio.run(run())


async def read_back(url: str, expected_intents: int, timeout_s: float) -> tuple[dict[str, int], list[tuple[str, float, int]]]:
    """Intent stored time (ms) by corr_id, and every fill as (corr_id, stored ms, execution_latency_ms)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    intents: dict[str, int] = {}
    fills: list[tuple[str, float, int]] = []
    finals: set[str] = set()
    intent_subject, fill_subject, _ = subjects(STREAM)
    sub = await js.pull_subscribe("", durable=None, stream=STREAM, config=ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not (len(intents) >= expected_intents and finals >= set(intents)):
            try:
                msgs = await sub.fetch(1000, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            for msg in msgs:
                stored_ns = int(msg.reply.split(".")[7])
                if msg.subject == intent_subject:
                    intents[orjson.loads(msg.data)["corr_id"]] = stored_ns // 1_000_000
                elif msg.subject == fill_subject:
                    body = orjson.loads(msg.data)
                    fills.append((body["corr_id"], stored_ns / 1e6, body["execution_latency_ms"]))
                    if body["fill_status"] != "partial":
                        finals.add(body["corr_id"])
    finally:
        await nc.close()
    return intents, fills


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=3500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-delay-ms", type=int, default=2000)
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-ovh-") as tmp:
        work = Path(tmp)
        with EmbeddedNats(work / "js") as server:
            env = service_env(
                server.url, STREAM, work / "metrics",
                SIMULATION_MARKET_SESSIONS="off", SIMULATION_LIQUIDITY_SHARE="0",
                SIMULATION_MAX_DELAY_MS=str(args.max_delay_ms), SIMULATION_MIN_DELAY_MS=str(min(100, args.max_delay_ms)),
                WORKERS=str(args.workers), SIMULATION_SEED="overhead", PORT=str(free_port()),
            )
            service = start_service(env, work / "service.log")
            try:
                time.sleep(4)  # workers boot and the stream exists before the first intent
                sender = multiprocessing.get_context("spawn").Process(target=send, args=(server.url, args.rate, args.seconds))
                sender.start()
                sender.join()
                intents, fills = asyncio.run(read_back(server.url, count, timeout_s=60 + args.max_delay_ms / 500))
                shares = histogram_shares(work / "metrics", "exec_sim_publish_ack_latency_seconds")
                lateness = histogram_shares(work / "metrics", "exec_sim_release_lateness_seconds")
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(90)

    overheads = sorted(stored - intents[corr_id] - delay for corr_id, stored, delay in fills if corr_id in intents)
    if not overheads:
        print("no fills read back")
        return 1
    print(f"{len(intents):,} intents at {args.rate:,.0f}/s for {args.seconds:g} s, WORKERS={args.workers}, "
          f"delays up to {args.max_delay_ms} ms; {len(overheads):,} fills")
    print("overhead (fill stored - intent stored - simulated delay), ms: "
          + "  ".join(f"p{int(s * 1000) / 10:g} {percentile(overheads, s):.1f}" for s in (0.5, 0.9, 0.99, 0.999))
          + f"  max {overheads[-1]:.1f}")
    # The supervisor's part: how late it handed each event to the connection.
    print("release lateness (every event, the service's histogram): "
          + "  ".join(f"<={bound * 1000:g} ms {share:.1%}" for bound, share in lateness if bound <= 0.025))
    # The server's part: publish to PubAck, from the service's own histogram (its buckets).
    print("publish to PubAck (every event, the service's histogram): "
          + "  ".join(f"<={bound * 1000:g} ms {share:.1%}" for bound, share in shares if bound <= 0.025))
    return 0


def histogram_shares(metrics_dir: Path, name: str) -> list[tuple[float, float]]:
    """(bucket bound in s, share of observations at or below it) of a multiprocess histogram."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    buckets = [(float(s.labels["le"]), s.value) for metric in registry.collect() if metric.name == name.removesuffix("_total")
               for s in metric.samples if s.name == f"{name}_bucket"]
    total = max((v for _, v in buckets), default=0) or 1
    return [(bound, v / total) for bound, v in sorted(buckets)]


if __name__ == "__main__":
    sys.exit(main())
