"""`at-exec-sim demo`: the whole product on one machine, needing nothing running.

Runs in its own process: starts an embedded nats-server (JetStream, temporary
store, free loopback port), starts `at-exec-sim run` against it as a child
process, publishes a mixed set of intents (every order type, both sides, some
that do not fill, a few invalid ones, one duplicate), follows the fills and
reconciles as the stream stores them, prints a summary, and cleans up. Exit 0
only when every valid intent was answered and the service stopped cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.config import Settings
from supervisor import sample_intents as si
from supervisor.embedded_nats import EmbeddedNats

READY_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 60.0


def run_demo(settings: Settings, intents: int, workers: int) -> int:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-demo-") as tmp:
        work = Path(tmp)
        server = EmbeddedNats(work / "jetstream")
        server.start()
        console.print(f"[bold]embedded nats-server[/] with JetStream on {server.url} (pid {server.process.pid})")  # type: ignore[union-attr]
        service = None
        try:
            service = _start_service(server.url, work, workers, settings)
            console.print(f"[bold]at-exec-sim run[/] pid {service.pid}, {workers} workers; log: {work / 'service.log'}")
            report = asyncio.run(_drive(server.url, settings, intents, console))
        finally:
            exit_code = _stop(service) if service is not None else 1
            server.stop()
        _print_summary(console, report, _read_metrics(work / "metrics"))
        unanswered = report["unanswered"]
        if unanswered or exit_code != 0:
            console.print(f"[red]demo failed:[/] {unanswered} intents unanswered, service exit code {exit_code}")
            return 1
        console.print("[green]demo finished:[/] every valid intent answered, service stopped cleanly (exit 0)")
        return 0


def _start_service(url: str, work: Path, workers: int, settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NATS_URL": url,
        "WORKERS": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
        "SIMULATION_SEED": settings.simulation_seed or "demo",
    }
    log_path = work / "service.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while b"at-exec-sim running" not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-2000:]
            process.kill()
            raise RuntimeError(f"the service did not start:\n{tail}")
        time.sleep(0.05)
    return process


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


async def _drive(url: str, settings: Settings, count: int, console: Console) -> dict:
    nc = await nats.connect(url, connect_timeout=5)
    js = nc.jetstream()
    valid = list(si.mixed(count))
    invalid = si.invalid_samples()
    sent_at: dict[str, float] = {}
    started = time.monotonic()
    for body in valid:
        sent_at[body["corr_id"]] = time.monotonic()
        await js.publish(settings.subject_order_intent, si.encode(body), timeout=10)
    for _, payload in invalid:
        await js.publish(settings.subject_order_intent, payload, timeout=10)
    await js.publish(settings.subject_order_intent, si.encode(valid[0]), timeout=10)  # a duplicate corr_id
    console.print(f"published {len(valid)} valid intents, {len(invalid)} invalid ones and 1 duplicate")

    outputs = await js.pull_subscribe(
        "executions.*", stream=settings.nats_stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30),
    )
    final_status: dict[str, str] = {}
    final_fill: dict[str, tuple[str, str]] = {}
    first_status: dict[str, str] = {}
    latency_ms: list[float] = []
    delay_ms: list[int] = []
    fills = reconciles = 0
    with Progress(TextColumn("answered"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("answered", total=len(valid))
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while len(final_status) < len(valid) and time.monotonic() < deadline:
            try:
                msgs = await outputs.fetch(500, timeout=0.5)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                continue
            now = time.monotonic()
            for msg in msgs:
                body = orjson.loads(msg.data)
                if msg.subject != settings.subject_fill:
                    # An intent is answered when the reconcile of its final fill is stored.
                    reconciles += 1
                    corr_id = body["metadata"]["corr_id"]
                    if final_fill.get(corr_id, (None,))[0] == body["fills_processed"][0]:
                        final_status[corr_id] = final_fill[corr_id][1]
                    continue
                fills += 1
                corr_id = body["corr_id"]
                first_status.setdefault(corr_id, body["fill_status"])
                if body["fill_status"] in ("full", "cancelled"):
                    final_fill[corr_id] = (body["fill_id"], body["fill_status"])
                    latency_ms.append((now - sent_at[corr_id]) * 1000)
                    delay_ms.append(body.get("execution_latency_ms", 0))
            progress.update(task, completed=len(final_status))
    elapsed = time.monotonic() - started
    await nc.close()
    outcome = Counter()
    for corr_id, status in final_status.items():
        if first_status[corr_id] == "partial":
            outcome["partial, rest filled" if status == "full" else "partial, rest cancelled"] += 1
        else:
            outcome["filled in full" if status == "full" else "cancelled (IOC: not marketable / not triggered)"] += 1
    return {
        "valid": len(valid), "invalid": len(invalid), "duplicates": 1, "fills": fills, "reconciles": reconciles,
        "outcome": outcome, "latency_ms": sorted(latency_ms), "delay_ms": sorted(delay_ms),
        "unanswered": len(valid) - len(final_status), "elapsed_s": elapsed,
    }


def _read_metrics(metrics_dir: Path) -> dict[str, float]:
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    values: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name in ("exec_sim_validation_errors_total", "exec_sim_orders_received_total"):
                label = sample.labels.get("type") or sample.labels.get("status")
                values[f"{sample.name}:{label}"] = sample.value
    return values


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _print_summary(console: Console, report: dict, metrics: dict[str, float]) -> None:
    table = Table(title="at-exec-sim demo", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    received = sum(v for k, v in metrics.items() if k.startswith("exec_sim_orders_received_total:"))
    table.add_row("intents received by the service", f"{received:.0f}")
    table.add_row("  valid intents sent", str(report["valid"]))
    for name, n in sorted(report["outcome"].items()):
        table.add_row(f"    {name}", str(n))
    table.add_row("  unanswered", str(report["unanswered"]))
    for key, value in sorted(metrics.items()):
        if key.startswith("exec_sim_validation_errors_total:") and value:
            table.add_row(f"  rejected: {key.split(':', 1)[1]}", f"{value:.0f}")
    table.add_row("fill events stored", str(report["fills"]))
    table.add_row("reconcile events stored", str(report["reconciles"]))
    console.print(table)

    latency = Table(title="latency (ms): intent published to final fill seen", header_style="bold")
    for column in ("", "p50", "p90", "p99", "max"):
        latency.add_column(column, justify="right")
    for name, values in (("end to end", report["latency_ms"]), ("simulated delay", report["delay_ms"])):
        latency.add_row(name, *(f"{_percentile(values, q):.0f}" for q in (0.5, 0.9, 0.99, 1.0)))
    console.print(latency)
    console.print(f"{report['valid']} intents answered in {report['elapsed_s']:.1f} s "
                  "(the default 100-2000 ms simulated delays run concurrently, not one after another)")
