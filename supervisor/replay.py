"""`at-exec-sim replay`: re-drive intents stored in the stream through the simulator.

Runs in the CLI process, on its own (no service, no pool, no durable consumer):

    stream ──(ephemeral pull consumer, no acks)──► RawIntent ──► IntentProcessor
           ──► corr_id window ──► JSON lines (stdout / --output) or PREFIX.<subject> (--publish)

It owns an ephemeral consumer for the length of the run and nothing else: it
never acks, never touches the service's durable consumer, never publishes on a
live subject. What it shows is what the simulator did, or would do, for a
stored range, and with the same seed and SIMULATION_* settings as the service
the events are byte-identical to the ones the service published (a
determinism check: compare them by msg_id). "The same settings" includes
SIMULATION_CLOCK and, when SIMULATION_SEED is unset, NATS_STREAM and
NATS_DURABLE, which then make the seed (Settings.seed).

Choices:

- Reading. One ephemeral pull consumer filtered on the intent subject, with
  AckPolicy.NONE (nothing to ack, nothing redelivered), deliver policy ALL,
  BY_START_SEQUENCE (--from-seq) or BY_START_TIME (--since), fetched in
  batches of FETCH_BATCH, deleted at the end (inactive_threshold removes it if
  the run dies). The stream's last sequence is read first and is the end bound
  (with --to-seq, the smaller of the two): intents stored after the start are
  not replayed, so a live stream cannot keep the run going for ever. The run
  also ends when a message says nothing more is pending for the consumer (the
  pending count in its reply subject), or, with --until, at the first message
  stored at or after that time. Sequences are inclusive at both ends; times are
  inclusive at --since and exclusive at --until, compared in nanoseconds.
  Sequence and time bounds do not mix (exit 2).
- Stored time. Each message's stored time comes from its reply subject, as the
  live service reads it: supervisor.inflight.delivery_of gives
  int(ts_nanos) // 1_000_000, the RawIntent's received_at_ms; the replay window
  check and the wall clock's event timestamps use it, so they repeat exactly.
  --since/--until are parsed to integer nanoseconds (no float anywhere).
- Duplicates. The service rejects a corr_id seen within IDEMPOTENCY_TTL_SEC;
  the replay mirrors that with the same CorrIdWindow, claimed in stream order
  with the stored time (seconds) as its clock, so a duplicate inside the
  replayed range is a "duplicate" rejection (EXEC-010) as it was live.
  Duplicates of corr_ids stored before the range are not known to the replay:
  such an intent is executed here although the service rejected it. The
  service claims in the order its workers answer, which is stream order except
  when two copies of one corr_id arrive in the same fetch and land in
  different worker chunks; only then can the two disagree on which copy won.
- JSON lines (default, stdout or --output FILE): one line per event,
  {"stream_seq", "corr_id", "kind", "subject", "msg_id", "event"}, the event
  embedded byte-for-byte as published (orjson.Fragment); one line per rejection,
  {"stream_seq", "corr_id", "rejection", "error_code", "detail"}. Intents in
  stream order, each intent's events in their order.
- --publish PREFIX: every event is published on PREFIX.<its live subject>
  (replay.executions.fill, say), never on the live subject itself: that would
  feed every downstream consumer the same fills a second time. Core NATS
  publishes with one flush at the end; no stream captures PREFIX.> unless
  someone makes one, which keeps the live stream clean. Headers:
  Nats-Msg-Id = PREFIX:<original msg id> (prefixed so that, should a stream
  capture both, a replayed event never collides with the live event in the
  duplicate window; deterministic, so running the same replay twice into a
  capturing stream stores it once: use another prefix to keep two runs apart),
  corr_id, and Replay-Of-Seq (the intent's stream sequence). Rejections are
  not published (they never were), only counted.
- Summary: one line on stderr at the end. Exit codes: 0 done, 2 bad arguments,
  3 NATS or the stream unreachable (one line on stderr, no traceback), 130 on
  Ctrl-C (the ephemeral consumer then expires by itself).
  Connecting is retried until NATS_CONNECT_TIMEOUT_SEC, as the service does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO, Iterator, Protocol

import nats
import orjson
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from common.config import Settings
from common.logs import JsonLineFormatter
from common.messages import Execution, Outcome, RawIntent, Rejection
from supervisor.idempotency import CorrIdWindow
from supervisor.inflight import delivery_of
from worker.process import IntentProcessor
from worker.rejections import DUPLICATE, DUPLICATE_CORR_ID, reject

EXIT_OK = 0
EXIT_BAD_ARGUMENTS = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

FETCH_BATCH = 1000
FETCH_TIMEOUT_S = 2.0
# JetStream API calls (stream info, consumer create/info/delete) and the final flush.
REQUEST_TIMEOUT_S = 5.0
# Fetches in a row that time out while the consumer still reports pending intents.
MAX_IDLE_FETCHES = 5
# The server removes the ephemeral consumer this long after a run that died without deleting it.
CONSUMER_INACTIVE_S = 60.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")
_TOKEN = re.compile(r"[^\s.*>]+")


class ReplayError(Exception):
    """NATS or the stream cannot be reached: the one-line reason, exit 3."""


# -- arguments ------------------------------------------------------------------


def parse_time_ns(text: str) -> int:
    """RFC 3339 time -> epoch nanoseconds, exactly (fractions up to nanoseconds)."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time (e.g. 2024-05-01T12:00:00.250Z)")
    date, clock, fraction, zone = match.groups()
    try:
        stamp = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    seconds = (stamp - _EPOCH) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def _sequence(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a stream sequence (they start at 1)")
    return value


def _prefix(text: str) -> str:
    tokens = text.split(".")
    if not all(_TOKEN.fullmatch(token) for token in tokens):
        raise argparse.ArgumentTypeError(f"{text!r} is not a subject prefix (dot-separated tokens, no wildcards)")
    return text


DESCRIPTION = """\
Re-drive the intents stored in NATS_STREAM (subject NATS_SUBJECT_ORDER_INTENT)
through the simulator, in-process, and write what it does. With the service's
SIMULATION_SEED and SIMULATION_* settings the events are byte-identical to the
ones the service published. Nothing is acked; the service's consumer is not
touched. Without bounds the whole stream is read, up to its last sequence at
the start."""

EPILOG = """\
--publish PREFIX publishes each event on PREFIX.<live subject> (for example
replay.executions.fill) with headers Nats-Msg-Id=PREFIX:<original id>, corr_id
and Replay-Of-Seq. It never uses the live subjects: downstream consumers would
receive the same fills twice. No stream stores PREFIX.> unless one is made to.

Exit status: 0 done, 2 bad arguments, 3 NATS or the stream unreachable."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--from-seq", type=_sequence, metavar="N", help="first stream sequence (inclusive)")
    parser.add_argument("--to-seq", type=_sequence, metavar="M", help="last stream sequence (inclusive)")
    parser.add_argument("--since", type=parse_time_ns, metavar="TIME",
                        help="first stored time, RFC 3339 (inclusive)")
    parser.add_argument("--until", type=parse_time_ns, metavar="TIME",
                        help="end of the stored times, RFC 3339 (exclusive)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--output", type=Path, metavar="FILE", help="write the JSON lines here instead of stdout")
    output.add_argument("--publish", type=_prefix, metavar="PREFIX",
                        help="publish each event on PREFIX.<live subject> instead of writing JSON lines")


@dataclass(frozen=True)
class Selection:
    """Which stored intents to replay; None: unbounded on that side."""

    from_seq: int | None = None
    to_seq: int | None = None
    since_ns: int | None = None
    until_ns: int | None = None

    def describe(self) -> str:
        if self.from_seq is not None or self.to_seq is not None:
            return f"seq {self.from_seq or 1}..{self.to_seq or 'end'}"
        if self.since_ns is not None or self.until_ns is not None:
            since = _format_ns(self.since_ns) if self.since_ns is not None else "start"
            until = _format_ns(self.until_ns) if self.until_ns is not None else "end"
            return f"stored {since}..{until}"
        return "whole stream"


def selection_from(args: argparse.Namespace) -> Selection:
    selection = Selection(args.from_seq, args.to_seq, args.since, args.until)
    by_seq = selection.from_seq is not None or selection.to_seq is not None
    by_time = selection.since_ns is not None or selection.until_ns is not None
    if by_seq and by_time:
        raise ValueError("choose sequences (--from-seq/--to-seq) or times (--since/--until), not both")
    if by_seq and selection.from_seq and selection.to_seq and selection.from_seq > selection.to_seq:
        raise ValueError(f"--from-seq {selection.from_seq} is after --to-seq {selection.to_seq}")
    if by_time and selection.since_ns and selection.until_ns and selection.since_ns >= selection.until_ns:
        raise ValueError("--since must be before --until")
    return selection


def _format_ns(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{(_EPOCH + timedelta(seconds=seconds)):%Y-%m-%dT%H:%M:%S}.{rest:09d}Z"


# -- NATS boundary ----------------------------------------------------------------


@contextmanager
def _nats_step(what: str) -> Iterator[None]:
    """Library and network errors become one ReplayError line, here and nowhere else."""
    try:
        yield
    except ReplayError:
        raise
    except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ReplayError(f"{what}: {reason}") from None


async def _connect(settings: Settings) -> NATS:
    failures: list[Exception] = []

    async def remember(exc: Exception) -> None:
        # Instead of nats-py's default, which logs each failed attempt with a traceback:
        # the last failure goes into the one line the user sees.
        failures.append(exc)

    servers = ", ".join(settings.nats_urls)
    try:
        return await asyncio.wait_for(
            nats.connect(
                servers=list(settings.nats_urls),
                name=f"{settings.service_name}-replay",
                connect_timeout=min(2.0, settings.connect_timeout_s),
                allow_reconnect=True,
                max_reconnect_attempts=-1,  # bounded by the wait_for: retried as the service does
                reconnect_time_wait=0.5,
                error_cb=remember,
            ),
            timeout=settings.connect_timeout_s,
        )
    except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
        last = failures[-1] if failures else exc
        reason = str(last) or type(last).__name__
        raise ReplayError(f"cannot reach NATS at {servers} within {settings.connect_timeout_s:g} s: {reason}") from None


def _consumer_config(settings: Settings, selection: Selection) -> ConsumerConfig:
    config = ConsumerConfig(
        filter_subject=settings.subject_order_intent,
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=CONSUMER_INACTIVE_S,
        mem_storage=True,
        num_replicas=1,
    )
    if selection.from_seq is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = selection.from_seq
    elif selection.since_ns is not None:
        # Whole microseconds, rounded down: the server starts at or before --since; the
        # reader drops the sub-microsecond rest by the exact stored nanoseconds.
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = _EPOCH + timedelta(microseconds=selection.since_ns // 1000)
    return config


def _stored_ns_and_pending(msg: Any) -> tuple[int, int]:
    """(stored time in epoch ns, intents still pending for the consumer) from the reply subject."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[7]), int(tokens[8])
    if len(tokens) >= 11:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[9]), int(tokens[10])
    metadata = msg.metadata
    return (metadata.timestamp - _EPOCH) // timedelta(microseconds=1) * 1000, metadata.num_pending


def _raw_intent(msg: Any) -> RawIntent:
    # delivery_of, as the live service: the same integer arithmetic on the same nanoseconds.
    stream_seq, _delivered, stored_at_ms = delivery_of(msg)
    headers = msg.headers
    return RawIntent(stream_seq, msg.data, headers.get("X-Signature") if headers else None, stored_at_ms)


class StoredIntents:
    """The selected intents of the stream, in stream order, through one ephemeral consumer."""

    def __init__(self, nc: NATS, settings: Settings, selection: Selection) -> None:
        self._js = nc.jetstream(timeout=REQUEST_TIMEOUT_S)
        self._settings = settings
        self._selection = selection
        self._consumer: str | None = None
        self.end_seq = 0

    async def __aiter__(self) -> AsyncIterator[RawIntent]:
        s, selection = self._settings, self._selection
        with _nats_step(f"cannot read stream {s.nats_stream}"):
            try:
                info = await self._js.stream_info(s.nats_stream)
            except NotFoundError:
                raise ReplayError(f"stream {s.nats_stream} not found on {', '.join(s.nats_urls)}") from None
        # The end is fixed now: what a live stream stores from here on is not replayed.
        last_seq = info.state.last_seq or 0
        self.end_seq = last_seq if selection.to_seq is None else min(selection.to_seq, last_seq)
        if self.end_seq < (selection.from_seq or 1):
            return
        with _nats_step(f"cannot create a consumer on stream {s.nats_stream}"):
            consumer = await self._js.add_consumer(s.nats_stream, _consumer_config(s, selection))
            self._consumer = consumer.name
            sub = await self._js.pull_subscribe_bind(consumer=consumer.name, stream=s.nats_stream)
        pending = consumer.num_pending or 0
        idle = 0
        until_ns = selection.until_ns
        while pending > 0:
            try:
                with _nats_step(f"reading stream {s.nats_stream} failed"):
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
            except ReplayError:
                pending, idle = await self._still_pending(sub, idle + 1)
                continue
            idle = 0
            for msg in msgs:
                stored_ns, pending = _stored_ns_and_pending(msg)
                raw = _raw_intent(msg)
                if raw.stream_seq > self.end_seq or (until_ns is not None and stored_ns >= until_ns):
                    return
                if selection.since_ns is None or stored_ns >= selection.since_ns:
                    yield raw
                if raw.stream_seq >= self.end_seq:
                    return

    async def _still_pending(self, sub: Any, idle: int) -> tuple[int, int]:
        """After a fetch came back empty: is anything left, and has the stream stopped answering?"""
        with _nats_step(f"stream {self._settings.nats_stream} stopped answering"):
            info = await sub.consumer_info()
        pending = info.num_pending or 0
        if pending and idle >= MAX_IDLE_FETCHES:
            raise ReplayError(f"stream {self._settings.nats_stream} stopped delivering with {pending} intents pending")
        return pending, idle

    async def close(self) -> None:
        if self._consumer is None:
            return
        try:
            await self._js.delete_consumer(self._settings.nats_stream, self._consumer)
        except Exception:
            pass  # inactive_threshold removes it anyway


# -- simulation -------------------------------------------------------------------


class Replayer:
    """RawIntent -> outcome, as the service decides it: worker path, then the corr_id window."""

    def __init__(self, settings: Settings) -> None:
        self._processor = IntentProcessor(settings, settings.seed)
        self._corr_ids = CorrIdWindow(settings.idempotency_ttl_s)

    def outcome(self, raw: RawIntent) -> Outcome:
        outcome = self._processor.process(raw)
        if isinstance(outcome, Rejection):
            return outcome
        # The stored time stands in for the service's clock at collection.
        if self._corr_ids.claim(outcome.corr_id, raw.stream_seq, raw.received_at_ms / 1000) is not None:
            # Same type, code and detail as supervisor.service._collect_loop.
            return reject(raw.stream_seq, DUPLICATE, DUPLICATE_CORR_ID, outcome.corr_id,
                          "corr_id already filled within IDEMPOTENCY_TTL_SEC")
        return outcome


# -- output -----------------------------------------------------------------------


class Sink(Protocol):
    async def execution(self, execution: Execution) -> None: ...
    async def rejection(self, rejection: Rejection) -> None: ...
    async def close(self) -> None: ...


class JsonLinesSink:
    def __init__(self, out: BinaryIO, subjects: dict[str, str]) -> None:
        self._out = out
        self._subjects = subjects

    async def execution(self, execution: Execution) -> None:
        for event in execution.events:
            self._out.write(orjson.dumps({
                "stream_seq": execution.stream_seq,
                "corr_id": execution.corr_id,
                "kind": event.kind,
                "subject": self._subjects[event.kind],
                "msg_id": event.msg_id,
                "event": orjson.Fragment(event.payload),  # the published bytes, not a re-encoding
            }, option=orjson.OPT_APPEND_NEWLINE))

    async def rejection(self, rejection: Rejection) -> None:
        self._out.write(orjson.dumps({
            "stream_seq": rejection.stream_seq,
            "corr_id": rejection.corr_id,
            "rejection": rejection.error_type,
            "error_code": rejection.error_code,
            "detail": rejection.detail,
        }, option=orjson.OPT_APPEND_NEWLINE))

    async def close(self) -> None:
        self._out.flush()


class PublishSink:
    def __init__(self, nc: NATS, prefix: str, subjects: dict[str, str]) -> None:
        self._nc = nc
        self._prefix = prefix
        self._subjects = {kind: f"{prefix}.{subject}" for kind, subject in subjects.items()}

    async def execution(self, execution: Execution) -> None:
        with _nats_step("publishing failed"):
            for event in execution.events:
                headers = {
                    "Nats-Msg-Id": f"{self._prefix}:{event.msg_id}",
                    "corr_id": execution.corr_id,
                    "Replay-Of-Seq": str(execution.stream_seq),
                }
                await self._nc.publish(self._subjects[event.kind], event.payload, headers=headers)

    async def rejection(self, rejection: Rejection) -> None:
        pass  # the service published nothing for it either

    async def close(self) -> None:
        with _nats_step("flushing the published events failed"):
            await self._nc.flush(timeout=REQUEST_TIMEOUT_S)


# -- the run ------------------------------------------------------------------------


@dataclass
class Tally:
    intents: int = 0
    executed: int = 0
    events: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_seq: int | None = None
    last_seq: int | None = None

    def add(self, raw: RawIntent, outcome: Outcome) -> None:
        self.intents += 1
        self.first_seq = raw.stream_seq if self.first_seq is None else self.first_seq
        self.last_seq = raw.stream_seq
        if isinstance(outcome, Rejection):
            self.rejected[outcome.error_type] += 1
        else:
            self.executed += 1
            self.events += len(outcome.events)

    def summary(self, selection: Selection, destination: str, seconds: float) -> str:
        seqs = f" (seq {self.first_seq}..{self.last_seq})" if self.first_seq is not None else ""
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.rejected.items()))
        rejected = sum(self.rejected.values())
        return (f"at-exec-sim replay: {selection.describe()}: {self.intents} intents read{seqs}, "
                f"{self.executed} executed, {rejected} rejected{f' ({kinds})' if kinds else ''}, "
                f"{self.events} events {destination}, {seconds:.2f} s")


async def replay(settings: Settings, selection: Selection, out: BinaryIO | None, prefix: str | None) -> Tally:
    """Read, simulate, write; return the counts. Raises ReplayError when NATS or the stream fails."""
    replayer = Replayer(settings)
    tally = Tally()
    nc = await _connect(settings)
    try:
        sink: Sink = (PublishSink(nc, prefix, settings.output_subjects) if prefix is not None
                      else JsonLinesSink(out or sys.stdout.buffer, settings.output_subjects))
        intents = StoredIntents(nc, settings, selection)
        try:
            async for raw in intents:
                outcome = replayer.outcome(raw)
                tally.add(raw, outcome)
                if isinstance(outcome, Rejection):
                    await sink.rejection(outcome)
                else:
                    await sink.execution(outcome)
            await sink.close()
        finally:
            await intents.close()
    finally:
        try:
            await asyncio.wait_for(nc.close(), timeout=REQUEST_TIMEOUT_S)
        except Exception:
            pass  # the outcome is decided; a slow close changes nothing
    return tally


def _configure_logging(settings: Settings) -> None:
    """Log lines (a simulator bug, say) go to stderr: stdout carries the JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter(settings.service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    logging.getLogger("nats").setLevel(logging.CRITICAL)


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    try:
        selection = selection_from(args)
    except ValueError as exc:
        print(f"at-exec-sim replay: error: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    _configure_logging(settings)
    try:
        out = open(args.output, "wb") if args.output is not None else None
    except OSError as exc:
        print(f"at-exec-sim replay: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    destination = (f"published on {args.publish}.>" if args.publish is not None
                   else f"written to {args.output}" if out is not None else "written to stdout")
    started = time.monotonic()
    try:
        tally = asyncio.run(replay(settings, selection, out, args.publish))
    except ReplayError as exc:
        print(f"at-exec-sim replay: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print("at-exec-sim replay: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): that ends the run, quietly. Python
        # flushes stdout again at exit, so point it somewhere that takes the rest.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        if out is not None:
            out.close()
    print(tally.summary(selection, destination, time.monotonic() - started), file=sys.stderr)
    return EXIT_OK
