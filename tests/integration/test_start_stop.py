"""Starting and stopping the real entry point: a signal during the first connect, and a signal
sent to the whole process group (as systemd's default KillMode and `kill -TERM -<pgid>` do)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tools import sample_intents as si
from tools.embedded_nats import EmbeddedNats

from .conftest import ServiceProcess, Topology, consumer_state, free_port, publish_intents, read_outputs, run_async

pytestmark = pytest.mark.integration

ENTRY_POINT = str(Path(sys.executable).parent / "at-exec-sim")


def _spawn(service: ServiceProcess) -> subprocess.Popen[bytes]:
    """`at-exec-sim run` as its own process group, so a test can signal the group and nothing else."""
    service.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(service.log_path, "ab") as log:
        service.process = subprocess.Popen([ENTRY_POINT, "run"], env=service.env, stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
    return service.process


def _wait_for_log(service: ServiceProcess, message: str, count: int = 1, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(1 for line in service.log_lines() if line.get("message") == message) >= count:
            return
        assert service.process is not None and service.process.poll() is None, service.log()
        time.sleep(0.05)
    raise AssertionError(f"no {message!r} ×{count} in the log within {timeout_s:g} s:\n{service.log()}")


def _env(url: str, topology: Topology, min_delay_ms: int, max_delay_ms: int, seed: str) -> dict[str, str]:
    """The service's environment for a shutdown test: two workers, every intent in flight for a
    simulated delay in [min, max], no sessions or liquidity limits to make an intent end early."""
    return {"NATS_URL": url, "PORT": str(free_port()), "HTTP_HOST": "127.0.0.1", "WORKERS": "2",
            "SIMULATION_MIN_DELAY_MS": str(min_delay_ms), "SIMULATION_MAX_DELAY_MS": str(max_delay_ms),
            "SIMULATION_SEED": seed, "SIMULATION_MARKET_SESSIONS": "off", "SIMULATION_LIQUIDITY_SHARE": "0",
            **topology.env()}


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_sigterm_while_the_first_connect_is_retried_exits_at_once_with_0(topology, tmp_path):
    """NATS_CONNECT_TIMEOUT_SEC is 120 s and no server answers: a SIGTERM must end the wait, not
    the timeout (nor the shutdown watchdog)."""
    env = {"NATS_URL": f"nats://127.0.0.1:{free_port()}", "NATS_CONNECT_TIMEOUT_SEC": "120",
           "PORT": str(free_port()), "HTTP_HOST": "127.0.0.1", "WORKERS": "1", **topology.env()}
    service = ServiceProcess(env, tmp_path / "svc")
    process = _spawn(service)
    try:
        _wait_for_log(service, "worker ready")  # the workers start first; the connect comes next
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)  # far below the 120 s the connect would otherwise go on for
    finally:
        _end(process)
    assert code == 0, service.log()
    lines = service.log_lines()
    assert not [line for line in lines if line["level"] == "CRITICAL"], service.log()
    assert any(line["message"] == "signal received before NATS was connected; stopping" for line in lines)


def test_sigterm_to_the_process_group_starts_no_worker_and_loses_nothing(nats_server, topology, tmp_path):
    """The workers get the group's SIGTERM too: the supervisor owns the shutdown, so they keep
    answering until told to stop, and no worker is started once the shutdown has begun."""
    count = 300
    service = ServiceProcess(_env(nats_server.url, topology, min_delay_ms=200, max_delay_ms=800, seed="group"),
                             tmp_path / "svc")
    process = _spawn(service)
    try:
        service.wait_http("/healthz", 200, timeout_s=60)
        bodies = [si.encode(si.intent(f"g-{n}")) for n in range(count)]
        run_async(publish_intents(nats_server.url, topology.intent_subject, bodies))
        # Signalled once the service holds every intent (most still in their simulated delay).
        while run_async(consumer_state(nats_server.url, topology)).num_pending:
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(timeout=90)
    finally:
        _end(process)
    messages = [line.get("message") for line in service.log_lines()]
    after_signal = messages[messages.index("signal received: draining"):]
    assert "worker died; replacing it and re-dispatching its work" not in after_signal, service.log()
    assert "worker ready" not in after_signal, service.log()
    assert code == 0, service.log()
    assert "at-exec-sim stopped" in after_signal
    info = run_async(consumer_state(nats_server.url, topology))
    assert info.num_ack_pending == 0, "intents left unacked"
    # What was in flight was finished by the workers, not handed back: every intent answered.
    msgs = run_async(read_outputs(nats_server.url, topology, 0, corr_ids={f"g-{n}" for n in range(count)}))
    assert {m.headers["corr_id"] for m in msgs} == {f"g-{n}" for n in range(count)}


def test_a_worker_killed_during_the_shutdown_is_not_replaced(nats_server, topology, tmp_path):
    count = 200
    service = ServiceProcess(_env(nats_server.url, topology, min_delay_ms=1500, max_delay_ms=2500, seed="killed"),
                             tmp_path / "svc")
    process = _spawn(service)
    try:
        service.wait_http("/healthz", 200, timeout_s=60)
        workers = [line["pid"] for line in service.log_lines() if line.get("message") == "worker ready"]
        run_async(publish_intents(nats_server.url, topology.intent_subject,
                                  [si.encode(si.intent(f"w-{n}")) for n in range(count)]))
        process.send_signal(signal.SIGTERM)
        _wait_for_log(service, "finishing in-flight intents")
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        code = process.wait(timeout=90)
    finally:
        _end(process)
    messages = [line.get("message") for line in service.log_lines()]
    after_signal = messages[messages.index("signal received: draining"):]
    assert "worker ready" not in after_signal, service.log()
    assert after_signal.count("worker died during the shutdown; not replaced, its work goes to the workers left") == 2
    assert code == 0, service.log()
    assert run_async(consumer_state(nats_server.url, topology)).num_ack_pending == 0, "intents left unacked"


def test_healthz_says_starting_with_no_heartbeat_age_until_the_first_heartbeat(topology, tmp_path):
    """NATS comes up only after /healthz has answered `starting`: the window is the test's to hold
    open, so the order (starting, then ok) is seen every run, not by luck of timing."""
    nats_port = free_port()
    env = {"NATS_URL": f"nats://127.0.0.1:{nats_port}", "NATS_CONNECT_TIMEOUT_SEC": "60",
           "PORT": str(free_port()), "HTTP_HOST": "127.0.0.1", "WORKERS": "1", **topology.env()}
    service = ServiceProcess(env, tmp_path / "svc")
    own = EmbeddedNats(tmp_path / "own-js", port=nats_port)
    process = _spawn(service)
    try:
        starting = _healthz_when(service, lambda code, body: code == 503, timeout_s=30)
        assert starting["status"] == "starting" and starting["ok"] is False
        assert starting["heartbeat_age_s"] is None and starting["processor_status"] == "stopped"
        # Still starting while the supervisor waits for NATS: nothing beats before the loop runs.
        time.sleep(1.0)
        code, body = service.get("/healthz")
        assert code == 503 and orjson.loads(body)["status"] == "starting"

        own.start()
        ready = _healthz_when(service, lambda code, body: code == 200, timeout_s=30)
        assert ready["status"] == "ok" and ready["nats"] == "connected"
        assert ready["heartbeat_age_s"] is not None and 0 <= ready["heartbeat_age_s"] < 1.5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, service.log()
    finally:
        _end(process)
        own.stop()


def _healthz_when(service: ServiceProcess, wanted: Callable[[int, bytes], bool], timeout_s: float) -> dict[str, Any]:
    """Poll /healthz from the moment the process starts until an answer is `wanted`; its body."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert service.process is not None and service.process.poll() is None, service.log()
        try:
            code, body = service.get("/healthz", timeout_s=1)
        except OSError:  # the HTTP process is not listening yet
            code, body = 0, b""
        if code and wanted(code, body):
            parsed: dict[str, Any] = orjson.loads(body)
            return parsed
        time.sleep(0.05)
    raise AssertionError(f"/healthz gave no wanted answer within {timeout_s:g} s:\n{service.log()}")
