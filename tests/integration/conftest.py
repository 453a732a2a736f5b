"""Integration fixtures: one real nats-server per test session, the real service per test.

Each test gets its own stream and subjects (a unique subject root), so tests
share the server without seeing each other's messages. The service runs as
`at-exec-sim run` in a subprocess, exactly as users run it; its metrics are read
from its PROMETHEUS_MULTIPROC_DIR and its outputs from the stream itself.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import nats
import orjson
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from tools.embedded_nats import EmbeddedNats, free_port

T = TypeVar("T")
_numbers = itertools.count()

# The fault tests' intent counts are multiplied by this (`make chaos`, `make chaos-cluster`).
SCALE = float(os.environ.get("CHAOS_SCALE", "1"))


def scaled(count: int) -> int:
    return int(count * SCALE)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


CLI = str(Path(sys.executable).parent / "at-exec-sim")


def assert_replay_gives(env: dict[str, str], stored: list[Any], tmp_path: Path) -> None:
    """`at-exec-sim replay` with `env` writes exactly the `stored` events, byte for byte, under their ids."""
    result = subprocess.run([CLI, "replay", "--output", str(tmp_path / "replay.jsonl")], env={**os.environ, **env},
                            capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    replayed = {}
    for line in (tmp_path / "replay.jsonl").read_bytes().splitlines():
        # "event" is the line's last key: everything after it but the closing brace is the event's bytes.
        replayed[orjson.loads(line)["msg_id"]] = line[line.index(b',"event":') + len(b',"event":'):-1]
    assert replayed == {m.headers["Nats-Msg-Id"]: m.data for m in stored}


def run_async(coro: Awaitable[T], timeout_s: float = 60.0) -> T:
    """Run one coroutine with a deadline: no async test can hang the suite."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))  # type: ignore[arg-type]


class Topology:
    """Stream and subject names unique to one test."""

    def __init__(self) -> None:
        root = f"t{next(_numbers)}{uuid.uuid4().hex[:6]}"
        self.stream = root.upper()
        self.intent_subject = f"{root}.decisions.order_intent"
        self.fill_subject = f"{root}.executions.fill"
        self.reconcile_subject = f"{root}.executions.reconcile"
        self.order_update_subject = f"{root}.executions.order_update"
        self.output_filter = f"{root}.executions.*"

    def env(self) -> dict[str, str]:
        return {
            "NATS_STREAM": self.stream,
            "NATS_SUBJECT_ORDER_INTENT": self.intent_subject,
            "NATS_SUBJECT_FILL": self.fill_subject,
            "NATS_SUBJECT_RECONCILE": self.reconcile_subject,
            "NATS_SUBJECT_ORDER_UPDATE": self.order_update_subject,
        }


class ServiceProcess:
    """`at-exec-sim run` as a subprocess, with its log in a file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.metrics_dir = workdir / "metrics"
        self.log_path = workdir / "service.log"
        self.env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir), **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout_s: float = 60.0) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                # The console script, exactly as the Dockerfile runs it.
                [CLI, "run"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        # Ready means /healthz says so: connected, workers alive, loop beating.
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"service exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.get("/healthz", timeout_s=1)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"service not ready in {ready_timeout_s:g} s:\n{self.log()}")

    @property
    def port(self) -> int:
        return int(self.env["PORT"])

    def get(self, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
        """GET on the service's HTTP port: (status, body); connection errors raise."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_http(self, path: str = "/healthz", status: int = 200, timeout_s: float = 20.0) -> bytes:
        """Poll until `path` answers `status`; return the body."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            try:
                code, body = self.get(path, timeout_s=2)
                if code == status:
                    return body
                last = (code, body)
            except OSError as error:
                last = error
            time.sleep(0.05)
        raise AssertionError(f"{path} did not answer {status} within {timeout_s:g} s; last: {last!r}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log().splitlines():
            try:
                lines.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                pass
        return lines

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 90.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"service did not stop within {timeout_s:g} s; log tail:\n{self.log()[-4000:]}") from None
        if code != 0:
            # Shown with the failing assertion on the exit status: without it a CI failure has no cause.
            print(f"service exited with {code}; log tail:\n{self.log()[-6000:]}", file=sys.stderr)
        return code

    def metric(self, name: str, labels: dict[str, str] | None = None, expect: float | None = None) -> float:
        """A metric's value; with `expect`, wait (a few flush intervals at most) until it has that value."""
        deadline = time.monotonic() + 5
        value = self._read_metric(name, labels)
        while expect is not None and value != expect and time.monotonic() < deadline:
            time.sleep(0.05)
            value = self._read_metric(name, labels)
        return value

    def _read_metric(self, name: str, labels: dict[str, str] | None) -> float:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.metrics_dir))
        return registry.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
def topology() -> Topology:
    return Topology()


@pytest.fixture
def start_service(
    nats_server: EmbeddedNats, topology: Topology, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(**env: str) -> ServiceProcess:
        base = {
            "NATS_URL": nats_server.url,
            "PORT": str(free_port()),
            "HTTP_HOST": "127.0.0.1",
            "WORKERS": "2",
            "SIMULATION_MIN_DELAY_MS": "0",
            "SIMULATION_MAX_DELAY_MS": "50",
            # The reliability tests count events: keep every intent's fills to the random
            # partials whatever the weekday (tests of the sessions and liquidity turn them on).
            "SIMULATION_MARKET_SESSIONS": "off",
            "SIMULATION_LIQUIDITY_SHARE": "0",
            "LOG_LEVEL": "INFO",
            **topology.env(),
        }
        service = ServiceProcess({**base, **env}, tmp_path / f"svc{len(started)}")
        started.append(service)
        return service.start()

    yield start
    for service in started:
        if service.process is not None and service.process.poll() is None:
            service.process.kill()
            service.process.wait(10)


async def publish_intents(
    url: str, subject: str, payloads: list[bytes], headers: list[dict[str, str] | None] | None = None
) -> list[int]:
    """Publish through JetStream (awaiting each PubAck); return the stream sequences."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        seqs = []
        for i, payload in enumerate(payloads):
            ack = await js.publish(subject, payload, headers=headers[i] if headers else None, timeout=10)
            seqs.append(ack.seq)
        return seqs
    finally:
        await nc.close()


class Answers:
    """What the stored outputs say so far, fed message by message (a long read parses each once)."""

    def __init__(self) -> None:
        self.fills: dict[str, int] = {}
        self.reconciles: dict[str, int] = {}
        self.final: dict[str, str] = {}
        self.updated: set[str] = set()

    def add(self, msgs: list[Any]) -> None:
        for msg in msgs:
            corr_id = msg.headers["corr_id"]
            kind = kind_of(msg)
            if kind == "fill":
                self.fills[corr_id] = self.fills.get(corr_id, 0) + 1
                status = orjson.loads(msg.data)["fill_status"]
                if status != "partial":
                    self.final[corr_id] = status
            elif kind == "reconcile":
                self.reconciles[corr_id] = self.reconciles.get(corr_id, 0) + 1
            else:
                self.updated.add(corr_id)

    def all_answered(self, corr_ids: set[str]) -> bool:
        """Every corr_id has its final fill (full, cancelled or rejected), a reconcile for each fill,
        and, when it did not fill in full, its order update."""
        return (
            corr_ids <= self.final.keys()
            and all(self.fills[c] == self.reconciles.get(c) for c in corr_ids)
            and all(c in self.updated for c in corr_ids if self.final[c] != "full")
        )


async def read_outputs(
    url: str, topology: Topology, expected: int, timeout_s: float = 30.0, corr_ids: set[str] | None = None
) -> list[Any]:
    """Every message on the executions subjects as stored in the stream, waiting for `expected`
    messages, or, given `corr_ids`, until each of them is fully answered."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            topology.output_filter, stream=topology.stream,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30),
        )
        got: list[Any] = []
        answers = Answers()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                batch = await sub.fetch(500, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                if corr_ids is None and len(got) >= expected:
                    break
                continue
            got.extend(batch)
            if corr_ids is not None:
                answers.add(batch)
                if answers.all_answered(corr_ids):
                    break
        # A short grace to see anything beyond `expected` (a doubled fill would show here).
        try:
            got.extend(await sub.fetch(500, timeout=0.5))
        except (TimeoutError, nats.errors.TimeoutError):
            pass
        return got
    finally:
        await nc.close()


async def stored_messages(url: str, topology: Topology, subject: str, idle_s: float = 1.0) -> list[Any]:
    """Every message the stream holds on `subject`, in stream order (an ephemeral consumer, no acks)."""
    nc = await nats.connect(url)
    try:
        sub = await nc.jetstream().pull_subscribe(
            subject, stream=topology.stream,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30),
        )
        msgs: list[Any] = []
        while True:
            try:
                msgs.extend(await sub.fetch(500, timeout=idle_s))
            except (TimeoutError, nats.errors.TimeoutError):
                return msgs
    finally:
        await nc.close()


async def consumer_state(url: str, topology: Topology, durable: str = "exec-sim-consumer") -> Any:
    nc = await nats.connect(url)
    try:
        return await nc.jetstream().consumer_info(topology.stream, durable)
    finally:
        await nc.close()


def kind_of(msg) -> str:
    """fill, reconcile or order_update: the last token of the event's subject."""
    return msg.subject.rsplit(".", 1)[1]


def assert_exactly_once(msgs, topology: Topology, corr_ids: set[str]) -> dict[str, int]:
    """Every corr_id answered, no event stored twice, each corr_id's events complete and in order."""
    ids = [m.headers["Nats-Msg-Id"] for m in msgs]
    doubled = len(ids) - len(set(ids))
    by_corr: dict[str, list[Any]] = {}
    for msg in msgs:
        by_corr.setdefault(msg.headers["corr_id"], []).append(msg)
    lost = corr_ids - set(by_corr)
    assert doubled == 0, f"{doubled} events stored twice"
    assert not lost, f"{len(lost)} intents never answered, e.g. {sorted(lost)[:5]}"
    for corr_id, stored in by_corr.items():
        events = [m.headers["Nats-Msg-Id"] for m in stored]
        assert events == [f"{events[0].rsplit(':', 1)[0]}:{n}" for n in range(1, len(events) + 1)], (corr_id, events)
        kinds = [kind_of(m) for m in stored]
        updated = kinds[-1] == "order_update"
        fills = kinds[:-1] if updated else kinds
        assert fills == ["fill", "reconcile"] * (len(fills) // 2), (corr_id, events)
        final = orjson.loads(stored[len(fills) - 2].data)
        assert final["fill_status"] in ("full", "cancelled", "rejected"), (corr_id, final)
        assert updated == (final["fill_status"] != "full"), (corr_id, events)
    return {"intents": len(corr_ids), "events": len(ids), "lost": len(lost), "doubled": doubled}
