"""Drive a running at-exec-sim: publish the plan on schedule, follow the answers from the stream.

Runs in the loadgen process, on one asyncio loop. Answers are read back from
the stream on the fill, reconcile and order update subjects (readback.py),
through consumers created before the first intent is sent. It connects with the
service's own NATS authentication settings, through the service's own function
(supervisor.nats_auth.connect_options), so it reaches whatever server the
service reaches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nats
import orjson

from common.config import Settings
from common.redact import redacted_urls
from supervisor.nats_auth import connect_options
from tools.loadgen.plan import LoadOptions, planned
from tools.loadgen.readback import AnswerReader
from tools.loadgen.stats import IntentRecord, summarize
from worker.events import EXECUTED_STATUSES

CONNECT_TIMEOUT_S = 5.0


class LoadgenError(RuntimeError):
    """NATS unreachable, or the stream the service uses does not exist."""


@dataclass(frozen=True)
class Target:
    """The service under load: its settings (stream, subjects, and how it authenticates to NATS,
    which the generator does the same way) and the servers to reach it at (--url, or NATS_URL)."""

    settings: Settings
    nats_urls: tuple[str, ...]


@dataclass
class LoadRun:
    records: list[IntentRecord]
    summary: dict[str, Any]


async def run_load(
    target: Target, options: LoadOptions, drain_timeout_s: float = 30.0,
    on_progress: Callable[[list[IntentRecord], float], None] | None = None,
) -> LoadRun:
    nc = await _connect(target)
    try:
        js = nc.jetstream()
        stream = target.settings.nats_stream
        try:
            await js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            raise LoadgenError(f"stream {stream!r} not found: is at-exec-sim running against this server?") from None
        plan = list(planned(options))
        answers = _Answers({p.corr_id: IntentRecord(p.corr_id, p.order_type, p.expected_rejection, p.due_s) for p in plan})
        readers = await _readers(js, target.settings, answers)
        answers.started = time.monotonic()
        progress = asyncio.create_task(_report_progress(answers.records, answers.started, on_progress)) \
            if on_progress else None
        await _send(nc, target, plan, answers)
        send_s = time.monotonic() - answers.started
        await _wait_for_answers(answers, drain_timeout_s)
        elapsed = time.monotonic() - answers.started
        if progress is not None and on_progress is not None:
            progress.cancel()
            await asyncio.gather(progress, return_exceptions=True)
            on_progress(list(answers.records.values()), elapsed)
        for reader in readers:
            await reader.close()
        ordered = list(answers.records.values())
        return LoadRun(ordered, summarize(ordered, options, elapsed, send_s))
    finally:
        await nc.close()


async def _readers(js: Any, settings: Settings, answers: _Answers) -> list[AnswerReader]:
    """One reader per output subject, created before the first intent is sent."""
    readers: list[AnswerReader] = []
    for subject, handler in ((settings.subject_fill, answers.on_fill),
                             (settings.subject_reconcile, answers.on_reconcile),
                             (settings.subject_order_update, answers.on_order_update)):
        try:
            readers.append(await AnswerReader.start(js, settings.nats_stream, subject, handler))
        except nats.errors.Error as exc:
            for reader in readers:
                await reader.close()
            # A create the user's permissions refuse is never answered: it times out.
            raise LoadgenError(f"cannot read {subject} from stream {settings.nats_stream!r}: "
                               f"{str(exc) or type(exc).__name__} (may this NATS user create consumers of it?)") from None
    return readers


async def _connect(target: Target) -> Any:
    """Connected and authenticated as the service is (supervisor.nats_auth, the same settings)."""
    try:
        credentials = connect_options(target.settings)
        # nats-py can retry an unreachable server for ever: the deadline is ours.
        return await asyncio.wait_for(
            nats.connect(servers=list(target.nats_urls), connect_timeout=3, allow_reconnect=False,
                         max_reconnect_attempts=0, error_cb=_quiet, **credentials),
            timeout=CONNECT_TIMEOUT_S,
        )
    except Exception as exc:
        reason = (f"no answer within {CONNECT_TIMEOUT_S:g} s" if isinstance(exc, asyncio.TimeoutError)
                  else str(exc) or type(exc).__name__)
        raise LoadgenError(f"cannot connect to NATS at {', '.join(redacted_urls(target.nats_urls))}: {reason}") from None


class _Answers:
    """What the stream stored for this run's intents, recorded on each intent as it arrives."""

    def __init__(self, records: dict[str, IntentRecord]) -> None:
        self.records = records
        self.started = time.monotonic()

    async def on_fill(self, msg: Any) -> None:
        body = orjson.loads(msg.data)
        record = self.records.get(body.get("corr_id"))
        if record is None:
            return  # not ours (another run on the same stream)
        now = time.monotonic() - self.started
        record.statuses.append(body["fill_status"])
        record.first_fill_s = record.first_fill_s if record.first_fill_s is not None else now
        metadata = body.get("metadata", {})
        # Against the mid: limit orders measure theirs against the limit (price improvement).
        if body["fill_status"] in EXECUTED_STATUSES and metadata.get("order_type") in ("market", "stop"):
            record.slippage_bps.append(float(metadata.get("slippage_bps", 0.0)))
        if body["fill_status"] != "partial":  # full, cancelled or rejected: the order is done
            record.final_s = now
            record.simulated_delay_ms = body.get("execution_latency_ms")

    async def on_reconcile(self, msg: Any) -> None:
        record = self.records.get(orjson.loads(msg.data).get("metadata", {}).get("corr_id"))
        if record is not None:
            record.reconciles += 1

    async def on_order_update(self, msg: Any) -> None:
        body = orjson.loads(msg.data)
        record = self.records.get(body.get("corr_id"))
        if record is not None:
            record.end_reason = body.get("metadata", {}).get("reason_code") or body.get("status")


async def _send(nc: Any, target: Target, plan: list[Any], answers: _Answers) -> None:
    records, started = answers.records, answers.started
    for intent in plan:
        wait_s = intent.due_s - (time.monotonic() - started)
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        await nc.publish(target.settings.subject_order_intent, intent.payload, headers=intent.headers)
        records[intent.corr_id].sent_s = time.monotonic() - started
        if intent.due_s == 0.0:  # as fast as possible: the send time is the schedule
            records[intent.corr_id] = _rescheduled(records[intent.corr_id])
        if intent.index % 256 == 255:
            await asyncio.sleep(0)  # let answers in while sending flat out
    await nc.flush(timeout=10)


async def _wait_for_answers(answers: _Answers, drain_timeout_s: float) -> None:
    valid = [r for r in answers.records.values() if r.valid]
    deadline = time.monotonic() + drain_timeout_s
    while time.monotonic() < deadline and not all(r.complete for r in valid):
        await asyncio.sleep(0.05)
    # Invalid intents must stay unanswered: give a stray fill a moment to show.
    await asyncio.sleep(0.2)


async def _quiet(exc: Exception) -> None:
    """nats-py prints every connection error with a traceback; the caller reports the one that matters."""


def _rescheduled(record: IntentRecord) -> IntentRecord:
    record.due_s = record.sent_s or 0.0
    return record


async def _report_progress(records: dict[str, IntentRecord], started: float,
                           on_progress: Callable[[list[IntentRecord], float], None]) -> None:
    while True:
        on_progress(list(records.values()), time.monotonic() - started)
        await asyncio.sleep(0.25)
