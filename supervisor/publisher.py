"""Publishing to JetStream with pipelined PubAcks, timeouts and same-id retries.

Runs in the supervisor's event loop. Each event goes out as a core publish (an
HPUB line formatted by supervisor/wire.py) with its own reply subject under one
inbox, carrying Nats-Msg-Id, corr_id and Exec-Sim-Intent-Seq headers (and
Exec-Sim-Fault on an event an injected venue fault shaped); a single wildcard
subscription collects the PubAcks (the stream's answer, the same semantics as
js.publish at a fraction of the per-message work). A publish whose PubAck does not come within PUBLISH_TIMEOUT_SEC, or that
the server refuses, is sent again with the same message id after a short
backoff: the stream's duplicate window turns a repeat of one that did land into
a no-op. Nothing is dropped; the caller bounds how many are outstanding.

Why an attempt failed is a type (`PublishFailure` and its subclasses), split by
what happens next: every failure is retried with the same message id; a
`NoStream` (the server's 503: no stream captures the subject) also asks for the
topology to be made again (supervisor/jetstream.py's TopologyKeeper.suspect).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from nats.aio.subscription import Subscription

from common.config import Settings
from common.error_codes import PUBLISH_FAILED
from common.metrics import Metrics, MetricTally
from supervisor.wire import HotPathClient, Wire, header_block, hpub_line

log = logging.getLogger("at_exec_sim.publisher")

RETRY_BACKOFF_S = 0.25
MAX_RETRY_BACKOFF_S = 5.0
SWEEP_INTERVAL_S = 0.05
# How nats-server's PubAck says the duplicate window dropped the message:
# {"stream":"S","seq":1,"duplicate": true}, with a space in v2.15: parsed as JSON only when the key is there.
_DUPLICATE = b'"duplicate"'


class PublishFailure(Exception):
    """One attempt of a publish was not stored: it is sent again, with the same message id, after a
    backoff (the stream's duplicate window drops it if the attempt did land). str(): the log's reason."""


class SendFailed(PublishFailure):
    """The write raised (disconnected beyond the client's buffer, or closed)."""


class PubAckTimeout(PublishFailure):
    """No PubAck within PUBLISH_TIMEOUT_SEC: it may have been stored all the same."""


class StreamRefused(PublishFailure):
    """The stream answered with an error, or with something that is not a PubAck."""


class NoStream(PublishFailure):
    """Status 503: no stream captures the subject (or JetStream is unavailable); the topology needs repair."""


class _Pending:
    __slots__ = ("subject", "payload", "headers", "corr_id", "on_acked", "first_sent_at", "retry_at", "attempts",
                 "failure_counted")

    def __init__(self, subject: str, payload: bytes, headers: bytes, corr_id: str,
                 on_acked: Callable[[int | None], Awaitable[None]]):
        self.subject = subject
        self.payload = payload
        self.headers = headers
        self.corr_id = corr_id
        self.on_acked = on_acked
        self.first_sent_at = 0.0
        self.retry_at = 0.0
        self.attempts = 0
        # The current attempt's failure is already counted and logged.
        self.failure_counted = False


class JetStreamPublisher:
    def __init__(
        self, nc: HotPathClient, settings: Settings, metrics: Metrics, tally: MetricTally,
        on_no_stream: Callable[[], None] | None = None,
    ) -> None:
        self._nc = nc
        # Called when the server says no stream takes the subject (503): the topology needs repair.
        self._on_no_stream = on_no_stream
        self._settings = settings
        self._metrics = metrics
        self._tally = tally
        self._wire = Wire(nc)
        self._inbox = nc.new_inbox()
        self._reply_prefix = f"{self._inbox}.".encode()
        self._subject_bytes: dict[str, bytes] = {}
        self._tokens = itertools.count()
        # Keyed by the reply subject's last token, as bytes: what the parser hands over.
        self._pending: dict[bytes, _Pending] = {}
        self._sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def outstanding(self) -> int:
        """Events sent (or waiting to be re-sent) without a PubAck yet."""
        return len(self._pending)

    async def start(self) -> None:
        self._sub = await self._nc.subscribe_raw(f"{self._inbox}.*", self._on_reply)
        self._sweeper = asyncio.create_task(self._sweep(), name="publisher-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if self._sub is not None and self._nc.is_connected:
            try:
                await self._sub.unsubscribe()
            except Exception:  # closing anyway; the connection takes the subscription with it
                pass

    async def publish(
        self, subject: str, payload: bytes, msg_id: str, corr_id: str, intent_seq: int,
        on_acked: Callable[[int | None], Awaitable[None]], faults: tuple[str, ...] = (),
    ) -> None:
        """Send one event, answering the intent at stream sequence `intent_seq`; `on_acked(stored_seq)`
        runs once it is stored: None, or when the stream already had its message id (stored earlier
        by this or another instance), the sequence of the message stored then. `faults`: the
        injected venue faults the event carries (worker/faults.py), sent as Exec-Sim-Fault."""
        token = b"%d" % next(self._tokens)
        pending = _Pending(subject, payload, header_block(msg_id, corr_id, intent_seq, faults), corr_id, on_acked)
        self._pending[token] = pending
        pending.first_sent_at = time.monotonic()
        await self._send(token, pending)

    async def _send(self, token: bytes, pending: _Pending) -> None:
        pending.attempts += 1
        pending.retry_at = time.monotonic() + self._settings.publish_timeout_s
        subject = self._subject_bytes.get(pending.subject)
        if subject is None:
            subject = self._subject_bytes[pending.subject] = pending.subject.encode()
        try:
            await self._wire.write(hpub_line(subject, self._reply_prefix + token, pending.headers, pending.payload))
        except Exception as exc:  # disconnected or buffer full: the sweeper re-sends it
            self._failed(pending, SendFailed(f"publish raised {type(exc).__name__}: {exc}"))

    async def _on_reply(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        token = subject[len(self._reply_prefix) :]
        pending = self._pending.get(token)
        if pending is None:
            return  # the answer to an attempt already settled
        error = _pub_ack_error(data, headers)
        if error is not None:
            self._failed(pending, error)
            return
        del self._pending[token]
        self._tally.observe(self._metrics.publish_ack_latency, time.monotonic() - pending.first_sent_at)
        await pending.on_acked(_stored_before(data) if _DUPLICATE in data else None)

    def _failed(self, pending: _Pending, failure: PublishFailure) -> None:
        """The server refused it or the send raised: count it, re-send after a growing backoff."""
        backoff = min(RETRY_BACKOFF_S * 2 ** max(pending.attempts - 1, 0), MAX_RETRY_BACKOFF_S)
        pending.retry_at = time.monotonic() + backoff
        self._count_failure(pending, failure)
        if isinstance(failure, NoStream) and self._on_no_stream is not None:
            self._on_no_stream()

    def _count_failure(self, pending: _Pending, failure: PublishFailure) -> None:
        pending.failure_counted = True
        self._metrics.publish_errors.labels(subject=pending.subject).inc()
        # Every failure is counted; a long outage logs each event's first tries and then every 20th.
        if pending.attempts <= 2 or pending.attempts % 20 == 0:
            log.warning(
                "publish failed; retrying with the same message id",
                extra={"error_code": PUBLISH_FAILED, "subject": pending.subject, "reason": str(failure),
                       "corr_id": pending.corr_id, "attempt": pending.attempts},
            )

    async def _sweep(self) -> None:
        """Re-send what timed out or failed, while the connection is up."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            if not self._nc.is_connected:
                continue
            now = time.monotonic()
            due = [(t, p) for t, p in self._pending.items() if p.retry_at <= now]
            for token, pending in due:
                if not pending.failure_counted:
                    self._count_failure(pending, PubAckTimeout("no PubAck within PUBLISH_TIMEOUT_SEC"))
                pending.failure_counted = False
                # A fresh token: a late answer to the old attempt is then ignored
                # rather than mistaken for this one's.
                del self._pending[token]
                new_token = b"%d" % next(self._tokens)
                self._pending[new_token] = pending
                await self._send(new_token, pending)


def _stored_before(data: bytes) -> int | None:
    """A duplicate PubAck's sequence: the message stored under the id before; None if not a duplicate."""
    try:
        answer = orjson.loads(data)
        return int(answer["seq"]) if answer.get("duplicate") is True else None
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None


def _pub_ack_error(data: bytes, headers: bytes | None) -> PublishFailure | None:
    """None for a PubAck, else why the stream did not store the message."""
    if headers is not None and headers[8:9] == b" ":
        # An inline status, "NATS/1.0 503 ...": no stream captures the subject (or JetStream is unavailable).
        status_line = headers[9 : headers.find(b"\r\n")].decode(errors="replace").strip()
        failure = NoStream if headers[9:12] == b"503" else StreamRefused
        return failure(f"status {status_line}")
    if b'"error"' not in data:
        if data.startswith(b"{"):
            return None
        return StreamRefused(f"unreadable PubAck {data[:80]!r}")
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        return StreamRefused(f"unreadable PubAck {data[:80]!r}")
    if isinstance(answer, dict) and "error" in answer:
        return StreamRefused(f"stream error {answer['error']}")
    return None
