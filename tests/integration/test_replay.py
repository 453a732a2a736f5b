"""`at-exec-sim replay` against a real nats-server, run as users run it (the console script).

Determinism is checked against what the service itself stored: bytes against bytes, keyed by
message id, never against hard-coded event bodies (the event format grows independently).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from tools import sample_intents as si
from tools.embedded_nats import free_port

from .conftest import Topology, consumer_state, publish_intents, read_outputs, run_async, stored_messages

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "at-exec-sim")
EVENT_KEY = b',"event":'
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- helpers --------------------------------------------------------------------


def replay_cli(env: dict[str, str], *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CLI, "replay", *args], env={**os.environ, **env}, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout_s)


def base_env(url: str, topology: Topology) -> dict[str, str]:
    return {"NATS_URL": url, "NATS_CONNECT_TIMEOUT_SEC": "5", **topology.env()}


def parse_lines(output: bytes) -> tuple[list[tuple[dict[str, Any], bytes]], list[dict[str, Any]]]:
    """(event lines with the embedded event's exact bytes, rejection lines)."""
    events, rejections = [], []
    for line in output.splitlines():
        parsed = orjson.loads(line)
        if "rejection" in parsed:
            rejections.append(parsed)
            continue
        # "event" is the last key, and a quote inside an earlier string is escaped, so the
        # first `,"event":` is the key and everything after it up to the closing brace is the event.
        raw = line[line.index(EVENT_KEY) + len(EVENT_KEY):-1]
        assert orjson.loads(raw) == parsed["event"]
        events.append((parsed, raw))
    return events, rejections


def rfc3339(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{EPOCH + timedelta(seconds=seconds):%Y-%m-%dT%H:%M:%S}.{rest:09d}Z"


async def create_stream(url: str, topology: Topology) -> None:
    """The stream as the service would make it, for tests that need no service."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name=topology.stream,
                                        subjects=[topology.intent_subject, topology.output_filter])
    finally:
        await nc.close()


async def stored_times(url: str, topology: Topology) -> dict[int, int]:
    """Stream sequence -> stored time (epoch ns) of every intent, from the ack reply subject."""
    times: dict[int, int] = {}
    for msg in await stored_messages(url, topology, topology.intent_subject, idle_s=0.5):
        tokens = msg.reply.split(".")
        times[int(tokens[5])] = int(tokens[7])
    return times


async def stream_message_count(url: str, topology: Topology) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(topology.stream)).state.messages
    finally:
        await nc.close()


def wait_settled(url: str, topology: Topology, last_seq: int, timeout_s: float = 60.0) -> None:
    """Until the service's consumer has taken every intent up to last_seq and acked or terminated
    each (an ack comes only after every event of the intent has its PubAck)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = run_async(consumer_state(url, topology))
        if info.delivered.stream_seq >= last_seq and info.num_ack_pending == 0 and info.num_pending == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"intents up to seq {last_seq} not settled in {timeout_s:g} s: {info}")


def interleave(valid: list[bytes], invalid: list[bytes]) -> list[bytes]:
    """The invalid payloads spread through the valid ones."""
    out = list(valid)
    step = max(1, len(valid) // (len(invalid) + 1))
    for n, payload in enumerate(invalid):
        out.insert((n + 1) * step + n, payload)
    return out


# -- determinism ------------------------------------------------------------------


def assert_twins(stored: list[Any], events: list[tuple[dict[str, Any], bytes]], topology: Any) -> None:
    """Every stored event has its twin in the replay, same id, subject and bytes; nothing extra."""
    replayed = {line["msg_id"]: (line, raw) for line, raw in events}
    assert len(replayed) == len(events), "a msg_id appears twice in the replay"
    stored_by_id = {msg.headers["Nats-Msg-Id"]: msg for msg in stored}
    assert len(stored_by_id) == len(stored)
    assert set(replayed) == set(stored_by_id)
    for msg_id, msg in stored_by_id.items():
        line, raw = replayed[msg_id]
        assert raw == msg.data, msg_id
        assert line["subject"] == msg.subject
        assert line["corr_id"] == msg.headers["corr_id"]
        assert topology.env()[{"fill": "NATS_SUBJECT_FILL", "reconcile": "NATS_SUBJECT_RECONCILE",
                               "order_update": "NATS_SUBJECT_ORDER_UPDATE"}[line["kind"]]] == msg.subject


def test_replay_reproduces_the_services_events_byte_for_byte(nats_server, topology, start_service, tmp_path):
    service = start_service(SIMULATION_SEED="replay-determinism", SIMULATION_PARTIAL_FILL_CHANCE="0.3")
    valid = [si.encode(b) for b in si.mixed(200, seed=11, prefix="rd")]
    samples = si.invalid_samples(prefix="rdbad")
    payloads = interleave(valid, [p for _, p in samples])
    seqs = run_async(publish_intents(nats_server.url, topology.intent_subject, payloads))
    expected_rejections = {seqs[payloads.index(p)]: kind for kind, p in samples}
    wait_settled(nats_server.url, topology, seqs[-1])
    # The duplicate once the original is executed, as a client retrying would send it.
    (dup_seq,) = run_async(publish_intents(nats_server.url, topology.intent_subject, [valid[17]]))
    expected_rejections[dup_seq] = "duplicate"
    wait_settled(nats_server.url, topology, dup_seq)
    assert service.stop() == 0
    stored = run_async(read_outputs(nats_server.url, topology, expected=0))
    assert len(stored) >= 2 * len(valid)

    out = tmp_path / "replay.jsonl"
    result = replay_cli(service.env, "--output", str(out))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    events, rejections = parse_lines(out.read_bytes())

    assert_twins(stored, events, topology)
    # Each intent's events in the order the service stored them.
    assert [line["msg_id"] for line, _ in events if line["corr_id"] == "rd-000017"] == \
        [m.headers["Nats-Msg-Id"] for m in stored if m.headers["corr_id"] == "rd-000017"]

    # The rejections are the service's, by stream sequence and type.
    assert {r["stream_seq"]: r["rejection"] for r in rejections} == expected_rejections
    logged = {line["stream_seq"]: line["rejection_type"]
              for line in service.log_lines() if line.get("message") == "intent rejected"}
    assert logged == expected_rejections
    duplicate = next(r for r in rejections if r["stream_seq"] == dup_seq)
    assert duplicate["corr_id"] == "rd-000017" and duplicate["error_code"] == "EXEC-010"

    summary = result.stderr.decode().strip()
    assert "\n" not in summary
    assert f"{len(payloads) + 1} intents read" in summary and f"{len(valid)} executed" in summary
    assert f"{len(samples) + 1} rejected" in summary and f"{len(events)} events" in summary


# -- range selection --------------------------------------------------------------


def test_sequence_range_is_inclusive_and_skips_other_subjects(nats_server, topology):
    run_async(create_stream(nats_server.url, topology))
    bodies = [si.encode(si.intent(f"sq-{n}")) for n in range(12)]
    seqs = []
    for n, body in enumerate(bodies):
        seqs += run_async(publish_intents(nats_server.url, topology.intent_subject, [body]))
        if n % 4 == 3:  # something else in the stream between intents, and last of all
            run_async(publish_intents(nats_server.url, topology.fill_subject, [b"{}"]))
    env = base_env(nats_server.url, topology)

    result = replay_cli(env, "--from-seq", str(seqs[2]), "--to-seq", str(seqs[8]))
    assert result.returncode == 0, result.stderr.decode()
    events, rejections = parse_lines(result.stdout)
    assert not rejections
    assert sorted({line["stream_seq"] for line, _ in events}) == seqs[2:9]
    assert {line["corr_id"] for line, _ in events} == {f"sq-{n}" for n in range(2, 9)}

    # Open-ended: from a sequence to the end of the stream (which ends with a non-intent).
    result = replay_cli(env, "--from-seq", str(seqs[9]))
    assert result.returncode == 0, result.stderr.decode()
    assert sorted({line["stream_seq"] for line, _ in parse_lines(result.stdout)[0]}) == seqs[9:]

    # Beyond the end: nothing, and no wait.
    result = replay_cli(env, "--from-seq", str(seqs[-1] + 100))
    assert result.returncode == 0 and result.stdout == b""
    assert "0 intents read" in result.stderr.decode()


def test_time_range_uses_the_stored_time_inclusive_start_exclusive_end(nats_server, topology):
    run_async(create_stream(nats_server.url, topology))
    first = run_async(publish_intents(nats_server.url, topology.intent_subject,
                                      [si.encode(si.intent(f"ta-{n}")) for n in range(5)]))
    time.sleep(1.0)
    second = run_async(publish_intents(nats_server.url, topology.intent_subject,
                                       [si.encode(si.intent(f"tb-{n}")) for n in range(5)]))
    times = run_async(stored_times(nats_server.url, topology))
    boundary = rfc3339(times[second[0]])
    env = base_env(nats_server.url, topology)

    def replayed(*args: str) -> list[int]:
        result = replay_cli(env, *args)
        assert result.returncode == 0, result.stderr.decode()
        return sorted({line["stream_seq"] for line, _ in parse_lines(result.stdout)[0]})

    assert replayed("--since", boundary) == second
    assert replayed("--until", boundary) == first
    # To the nanosecond: one past the first intent's time, up to (not including) the last one's.
    assert replayed("--since", rfc3339(times[first[0]] + 1), "--until", rfc3339(times[second[-1]])) == \
        first[1:] + second[:-1]
    # A time zone offset names the same instant.
    local = datetime.fromtimestamp(times[second[0]] // 10**9, timezone(timedelta(hours=-5)))
    fraction = times[second[0]] % 10**9
    assert replayed("--since", f"{local:%Y-%m-%dT%H:%M:%S}.{fraction:09d}-05:00") == second


# -- publishing ---------------------------------------------------------------------


async def publish_and_collect(url: str, env: dict[str, str], prefix: str, expected: int) -> tuple[int, bytes, list[Any]]:
    """Run `replay --publish PREFIX` while a plain subscriber on PREFIX.> collects what it sends."""
    nc = await nats.connect(url)
    got: list[Any] = []

    async def collect(msg: Any) -> None:
        got.append(msg)

    try:
        await nc.subscribe(f"{prefix}.>", cb=collect)
        await nc.flush()
        process = await asyncio.create_subprocess_exec(
            CLI, "replay", "--publish", prefix, env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        )
        stdout, stderr = await process.communicate()
        deadline = time.monotonic() + 10
        while len(got) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # anything beyond the expected count would show here
        assert stdout == b""
        return process.returncode or 0, stderr, got
    finally:
        await nc.close()


def test_publish_puts_the_events_on_the_prefixed_subjects_with_replay_headers(nats_server, topology, tmp_path):
    run_async(create_stream(nats_server.url, topology))
    payloads = [si.encode(si.intent(f"pb-{n}", order_type)) for n, order_type in enumerate(si.ORDER_TYPES * 3)]
    payloads.insert(4, b"[1, 2, 3]")  # rejected: nothing published for it
    run_async(publish_intents(nats_server.url, topology.intent_subject, payloads))
    env = {**base_env(nats_server.url, topology), "SIMULATION_SEED": "replay-publish",
           "SIMULATION_PARTIAL_FILL_CHANCE": "0.5"}
    out = tmp_path / "lines.jsonl"
    assert replay_cli(env, "--output", str(out)).returncode == 0
    events, rejections = parse_lines(out.read_bytes())
    assert len(rejections) == 1 and len(events) >= 2 * (len(payloads) - 1)
    stored_before = run_async(stream_message_count(nats_server.url, topology))
    prefix = f"replay-{topology.stream.lower()}"

    returncode, stderr, got = run_async(publish_and_collect(nats_server.url, env, prefix, len(events)))
    assert returncode == 0, stderr.decode()
    assert f"{len(events)} events published on {prefix}.>" in stderr.decode()
    # The same events in the same order (one connection, one subscriber), on PREFIX.<live subject>.
    assert len(got) == len(events)
    for msg, (line, raw) in zip(got, events, strict=True):
        assert msg.subject == f"{prefix}.{line['subject']}"
        assert msg.data == raw
        assert msg.headers["Nats-Msg-Id"] == f"{prefix}:{line['msg_id']}"
        assert msg.headers["corr_id"] == line["corr_id"]
        assert msg.headers["Replay-Of-Seq"] == str(line["stream_seq"])
    # No stream captures the prefix: the live stream holds what it held.
    assert run_async(stream_message_count(nats_server.url, topology)) == stored_before


# -- failures and arguments -----------------------------------------------------------


def test_unreachable_nats_is_exit_3_with_one_line(topology):
    env = {"NATS_URL": f"nats://127.0.0.1:{free_port()}", "NATS_CONNECT_TIMEOUT_SEC": "1", **topology.env()}
    started = time.monotonic()
    result = replay_cli(env, timeout_s=30)
    assert result.returncode == 3
    assert time.monotonic() - started < 15
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and stderr.startswith("at-exec-sim replay: cannot reach NATS"), stderr
    assert result.stdout == b""


def test_missing_stream_is_exit_3_with_one_line(nats_server, topology):
    result = replay_cli(base_env(nats_server.url, topology))
    assert result.returncode == 3
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and f"stream {topology.stream} not found" in stderr, stderr


@pytest.mark.parametrize("args", [
    ["--from-seq", "0"],
    ["--to-seq", "x"],
    ["--since", "yesterday"],
    ["--since", "2024-02-30T00:00:00Z"],
    ["--from-seq", "5", "--to-seq", "4"],
    ["--from-seq", "1", "--since", "2024-01-01T00:00:00Z"],
    ["--since", "2024-01-02T00:00:00Z", "--until", "2024-01-01T00:00:00Z"],
    ["--output", "x", "--publish", "p"],
    ["--publish", "a.*"],
])
def test_bad_arguments_are_exit_2(args, topology):
    # No server needed: arguments are checked before anything connects.
    env = {"NATS_URL": f"nats://127.0.0.1:{free_port()}", **topology.env()}
    result = replay_cli(env, *args, timeout_s=30)
    assert result.returncode == 2, (args, result.stderr.decode())
    assert b"Traceback" not in result.stderr


def test_a_stream_growing_during_the_replay_does_not_keep_it_running(nats_server, topology):
    run_async(create_stream(nats_server.url, topology))
    body = si.encode(si.intent("live-0"))
    run_async(publish_intents(nats_server.url, topology.intent_subject, [body] * 2000))
    env = base_env(nats_server.url, topology)

    async def replay_while_publishing() -> tuple[int, bytes, bytes, int]:
        stop = asyncio.Event()

        async def keep_publishing() -> int:
            nc = await nats.connect(nats_server.url)
            js, sent = nc.jetstream(), 0
            try:
                while not stop.is_set():
                    await js.publish(topology.intent_subject, body)
                    sent += 1
            finally:
                await nc.close()
            return sent

        publisher = asyncio.create_task(keep_publishing())
        await asyncio.sleep(0.2)
        process = await asyncio.create_subprocess_exec(
            CLI, "replay", env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        stop.set()
        return process.returncode or 0, stdout, stderr, await publisher

    returncode, stdout, stderr, sent_meanwhile = run_async(replay_while_publishing(), timeout_s=90)
    assert returncode == 0, stderr.decode()
    assert sent_meanwhile > 0
    events, rejections = parse_lines(stdout)
    # A prefix of the stream, every sequence once, the first copy executed and the rest duplicates.
    seqs = sorted({line["stream_seq"] for line, _ in events} | {r["stream_seq"] for r in rejections})
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 2000
    assert {line["stream_seq"] for line, _ in events} == {1}
    assert {r["rejection"] for r in rejections} == {"duplicate"}
    assert len(seqs) < run_async(stream_message_count(nats_server.url, topology))
