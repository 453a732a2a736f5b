"""The service as the benchmarks run it: the subjects of a bench stream, the environment that
points `at-exec-sim run` at it, the process itself (its output in a log file), and what it
stored, read back with the server's timestamps (`read_fills`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


def subjects(stream: str) -> tuple[str, str, str]:
    """Intent, fill and reconcile subjects under the stream's own root (one stream per case)."""
    root = stream.lower()
    return f"{root}.decisions.order_intent", f"{root}.executions.fill", f"{root}.executions.reconcile"


def service_env(url: str, stream: str, metrics_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a service on `stream`, LOG_LEVEL=WARNING unless `settings` say otherwise."""
    intent, fill, reconcile = subjects(stream)
    return {
        **os.environ,
        "NATS_URL": url, "NATS_STREAM": stream, "NATS_SUBJECT_ORDER_INTENT": intent,
        "NATS_SUBJECT_FILL": fill, "NATS_SUBJECT_RECONCILE": reconcile,
        "NATS_SUBJECT_ORDER_UPDATE": f"{stream.lower()}.executions.order_update",
        "LOG_LEVEL": "WARNING", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        **settings,
    }


def start_service(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "supervisor.cli", "run"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_ready(port: int, timeout_s: float = 60) -> None:
    """Until the service's /healthz answers 200 on `port` (RuntimeError after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("service not ready")


class StoredFill(NamedTuple):
    corr_id: str
    stored_ms: float  # the server's stamp
    delay_ms: float  # its execution_latency_ms: the simulated delay
    final: bool  # not a partial fill: its intent is answered


async def read_fills(url: str, stream: str, expected: int, timeout_s: float) -> tuple[dict[str, float],
                                                                                       list[StoredFill]]:
    """Each intent's stored ms by corr_id, and every fill, read from the start of `stream` until
    `expected` intents are stored and each has its final fill (or `timeout_s` has passed)."""
    intent_subject, fill_subject, _ = subjects(stream)
    nc = await nats.connect(url)
    intents: dict[str, float] = {}
    fills: list[StoredFill] = []
    finals: set[str] = set()
    try:
        sub = await nc.jetstream().pull_subscribe("", durable=None, stream=stream, config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, filter_subjects=[intent_subject, fill_subject]))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not (len(intents) >= expected and finals >= intents.keys()):
            try:
                msgs = await sub.fetch(2000, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            for msg in msgs:
                stored_ms = int(msg.reply.split(".")[7]) / 1e6  # the ack subject's stored time, in ns
                body = orjson.loads(msg.data)
                if msg.subject == intent_subject:
                    intents[body["corr_id"]] = stored_ms
                else:
                    fill = StoredFill(body["corr_id"], stored_ms, body["execution_latency_ms"],
                                      body["fill_status"] != "partial")
                    fills.append(fill)
                    if fill.final:
                        finals.add(fill.corr_id)
    finally:
        await nc.close()
    return intents, fills
