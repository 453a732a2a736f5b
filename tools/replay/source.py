"""The stored intents a replay reads: connecting, the ephemeral consumer, the end conditions.

Runs in the CLI process, on the replay's asyncio loop. It owns the NATS
connection's setup and one ephemeral consumer for the length of the run, and
nothing else: it never acks and never touches the service's durable consumer.

- Connecting is retried until NATS_CONNECT_TIMEOUT_SEC, as the service does,
  and authenticates as the service does: supervisor.nats_auth.connect_options
  turns the same NATS_* settings (creds file, NKey seed, CA, client
  certificate, inbox prefix) into nats-py's options. Library and network
  errors, and a certificate or key that cannot be used, become one ReplayError
  line (exit 3), translated in connect and nats_step and nowhere else.
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
- Headers. The X-Signature and X-Key-Id values come from supervisor.headers
  on the raw header block, the function and the bytes the live service uses.
  nats-py's Msg keeps only its parsed dict (case-sensitive names, the last of
  two values wins, whitespace before the colon dropped), from which the block
  cannot be rebuilt: two X-Signature lines are one key there. So the replay
  connects with RawHeadersClient, which keeps the block the server sent on each
  message (msg.raw_headers), rather than switching to the service's raw pull
  path (which would bring its in-flight bookkeeping along for a read that acks
  nothing).
- Stored time. Each message's stored time comes from its reply subject, as the
  live service reads it: supervisor.inflight.delivery_of gives
  int(ts_nanos) // 1_000_000, the RawIntent's received_at_ms; the replay window
  check and the wall clock's event timestamps use it, so they repeat exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from common.config import Settings
from common.messages import RawIntent
from common.redact import redacted_urls
from supervisor.headers import credentials_of
from supervisor.inflight import delivery_of
from supervisor.nats_auth import NatsAuthError, connect_options, telling

FETCH_BATCH = 1000
FETCH_TIMEOUT_S = 2.0
# JetStream API calls (stream info, consumer create/info/delete) and the final flush.
REQUEST_TIMEOUT_S = 5.0
# Fetches in a row that time out while the consumer still reports pending intents.
MAX_IDLE_FETCHES = 5
# The server removes the ephemeral consumer this long after a run that died without deleting it.
CONSUMER_INACTIVE_S = 60.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReplayError(Exception):
    """NATS or the stream cannot be reached: the one-line reason, exit 3."""


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


def _format_ns(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{(EPOCH + timedelta(seconds=seconds)):%Y-%m-%dT%H:%M:%S}.{rest:09d}Z"


@contextmanager
def nats_step(what: str) -> Iterator[None]:
    """Library and network errors become one ReplayError line, here and nowhere else."""
    try:
        yield
    except ReplayError:
        raise
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ReplayError(f"{what}: {reason}") from None


@dataclass
class RawHeadersMsg(Msg):
    """nats-py's Msg, plus the header block exactly as the server sent it (None without headers)."""

    raw_headers: bytes | None = None


class RawHeadersClient(NATS):
    """nats-py's client whose messages are RawHeadersMsg: the raw header block stays readable."""

    msg_class = RawHeadersMsg
    _raw_headers: bytes | None = None

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        # The read loop awaits each message's processing before parsing the next, so the
        # block kept here is the one _build_message (called inside) is building for.
        self._raw_headers = headers
        try:
            await super()._process_msg(sid, subject, reply, data, headers)
        finally:
            self._raw_headers = None

    def _build_message(self, sid: int, subject: bytes, reply: bytes, data: bytes,
                       headers: dict[str, str] | None) -> RawHeadersMsg:
        msg: RawHeadersMsg = super()._build_message(sid, subject, reply, data, headers)
        msg.raw_headers = self._raw_headers or None
        return msg


async def connect(settings: Settings) -> NATS:
    """A client connected and authenticated with the service's NATS_* settings; ReplayError when not."""
    failure: Exception | None = None

    async def remember(exc: Exception) -> None:
        # Instead of nats-py's default, which logs each failed attempt with a traceback: the
        # telling failure (the server's refusal, not the broken pipe after it) goes into the one line.
        nonlocal failure
        failure = telling(failure, exc)

    servers = ", ".join(redacted_urls(settings.nats_urls))
    try:
        credentials = connect_options(settings)
    except NatsAuthError as exc:
        raise ReplayError(f"cannot connect to NATS at {servers}: {exc}") from None
    nc = RawHeadersClient()
    try:
        await asyncio.wait_for(
            nc.connect(
                servers=list(settings.nats_urls),
                name=f"{settings.service_name}-replay",
                # nats-py annotates both as int; it takes seconds as a float.
                connect_timeout=min(2.0, settings.connect_timeout_s),  # type: ignore[arg-type]
                allow_reconnect=True,
                max_reconnect_attempts=-1,  # bounded by the wait_for: retried as the service does
                reconnect_time_wait=0.5,  # type: ignore[arg-type]
                error_cb=remember,
                **credentials,
            ),
            timeout=settings.connect_timeout_s,
        )
        return nc
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        last = failure or exc
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
        config.opt_start_time = EPOCH + timedelta(microseconds=selection.since_ns // 1000)
    return config


def stored_ns_and_pending(msg: Any) -> tuple[int, int]:
    """(stored time in epoch ns, intents still pending for the consumer) from the reply subject."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[7]), int(tokens[8])
    if len(tokens) >= 11:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[9]), int(tokens[10])
    metadata = msg.metadata
    return (metadata.timestamp - EPOCH) // timedelta(microseconds=1) * 1000, metadata.num_pending


def _raw_intent(msg: Any) -> RawIntent:
    # delivery_of, as the live service: the same integer arithmetic on the same nanoseconds.
    stream_seq, _delivered, stored_at_ms = delivery_of(msg)
    # The live service's reader on the same bytes: msg.raw_headers, not nats-py's parsed dict.
    signature, key_id = credentials_of(msg.raw_headers)
    return RawIntent(stream_seq, msg.data, signature, stored_at_ms, key_id)


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
        with nats_step(f"cannot read stream {s.nats_stream}"):
            try:
                info = await self._js.stream_info(s.nats_stream)
            except NotFoundError:
                raise ReplayError(f"stream {s.nats_stream} not found on {', '.join(redacted_urls(s.nats_urls))}") from None
        # The end is fixed now: what a live stream stores from here on is not replayed.
        last_seq = info.state.last_seq or 0
        self.end_seq = last_seq if selection.to_seq is None else min(selection.to_seq, last_seq)
        if self.end_seq < (selection.from_seq or 1):
            return
        with nats_step(f"cannot create a consumer on stream {s.nats_stream}"):
            consumer = await self._js.add_consumer(s.nats_stream, _consumer_config(s, selection))
            self._consumer = consumer.name
            sub = await self._js.pull_subscribe_bind(consumer=consumer.name, stream=s.nats_stream)
        pending = consumer.num_pending or 0
        idle = 0
        until_ns = selection.until_ns
        while pending > 0:
            try:
                with nats_step(f"reading stream {s.nats_stream} failed"):
                    msgs = await sub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
            except ReplayError:
                pending, idle = await self._still_pending(sub, idle + 1)
                continue
            idle = 0
            for msg in msgs:
                stored_ns, pending = stored_ns_and_pending(msg)
                raw = _raw_intent(msg)
                if raw.stream_seq > self.end_seq or (until_ns is not None and stored_ns >= until_ns):
                    return
                if selection.since_ns is None or stored_ns >= selection.since_ns:
                    yield raw
                if raw.stream_seq >= self.end_seq:
                    return

    async def _still_pending(self, sub: Any, idle: int) -> tuple[int, int]:
        """After a fetch came back empty: is anything left, and has the stream stopped answering?"""
        with nats_step(f"stream {self._settings.nats_stream} stopped answering"):
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
