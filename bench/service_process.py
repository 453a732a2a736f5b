"""The service as the benchmarks run it: the subjects of a bench stream, the environment that
points `at-exec-sim run` at it, and the process itself (its output in a log file)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


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
