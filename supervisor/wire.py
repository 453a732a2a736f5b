"""The supervisor's hot path on the NATS protocol: lines written straight into a
nats-py connection's outgoing buffer, and messages read without nats-py's
per-message objects.

Runs in the supervisor's event loop. nats-py's Client.publish re-validates the
subject and the reply with regular expressions and rebuilds the header block
key by key on every call: about 5 us a message, several times an intent, on the
one core the supervisor has. The supervisor's own subjects are fixed at start
and its header values are the corr_ids the schema restricts to [a-zA-Z0-9_-],
so it formats HPUB and PUB lines itself (about 0.5 us) and hands them to the
same buffer and flusher nats-py's publish uses: the connection's ordering, its
buffering across a reconnect and its flushing stay exactly as they were.

On the way in, nats-py builds a Msg (decoding subject and reply) for every
message and hands it to the subscription's task through a queue. For the
PubAcks (and the fetched intents) the supervisor reads the parser's raw fields
in place instead: HotPathClient calls a handler straight from the parser.

Tied to nats-py's internals (_send_command, _flush_queue, _flush_pending,
_pending_data_size, _max_pending_size, _process_msg): setup.cfg pins the minor
version and tests/unit/supervisor/test_wire.py checks what is written against
nats-py's own encoding.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import cast

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError, OutboundBufferLimitError

log = logging.getLogger("at_exec_sim.wire")

# subject, reply, payload, header block (None without headers), as the parser has them.
RawHandler = Callable[[bytes, bytes, bytes, "bytes | None"], Awaitable[None]]

ACK = b""
TERM = b"+TERM"
NAK = b"-NAK"


def nak_after(delay_s: float) -> bytes:
    """A nak whose redelivery the stream holds back for delay_s (JetStream's {"delay": ns})."""
    return b'-NAK {"delay": %d}' % int(delay_s * 1_000_000_000)
# Still working on it: the server restarts the delivery's ack_wait timer (any number of times).
IN_PROGRESS = b"+WPI"


# The header that names the intent an event answers; supervisor/claims.py reads it back.
INTENT_SEQ_HEADER = "Exec-Sim-Intent-Seq"
_EVENT_HEAD = b"NATS/1.0\r\nNats-Msg-Id: %s\r\ncorr_id: %s\r\n" + INTENT_SEQ_HEADER.encode() + b": %d\r\n"
_EVENT_HEADERS = _EVENT_HEAD + b"\r\n"
_FAULT_EVENT_HEADERS = _EVENT_HEAD + b"Exec-Sim-Fault: %s\r\n\r\n"


def header_block(msg_id: str, corr_id: str, intent_seq: int, faults: tuple[str, ...] = ()) -> bytes:
    """The headers of an output event: its dedupe id, its corr_id, the stream sequence of the
    intent it answers (Exec-Sim-Intent-Seq: supervisor/claims.py reads it back) and, for an
    event an injected venue fault shaped, `Exec-Sim-Fault: <fault names, comma-joined>`.

    All come from a validated intent or from worker/faults.py's fixed names (the
    corr_id pattern has no spaces, colons or line breaks), so they need none of
    nats-py's per-call escaping.
    """
    if not faults:
        return _EVENT_HEADERS % (msg_id.encode(), corr_id.encode(), intent_seq)
    return _FAULT_EVENT_HEADERS % (msg_id.encode(), corr_id.encode(), intent_seq, ",".join(faults).encode())


def hpub_line(subject: bytes, reply: bytes, headers: bytes, payload: bytes) -> bytes:
    size = len(headers)
    return b"HPUB %s %s %d %d\r\n%s%s\r\n" % (subject, reply, size, size + len(payload), headers, payload)


def pub_line(subject: bytes, payload: bytes, reply: bytes = b"") -> bytes:
    if reply:
        return b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(payload), payload)
    return b"PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload)


class Wire:
    """Writes pre-formatted protocol lines on one nats-py connection."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc

    async def write(self, line: bytes) -> None:
        """Queue `line` for the connection's flusher, as Client.publish would.

        While reconnecting, lines are buffered up to the client's pending limit
        (they go out after the reconnect); beyond it, or once closed, this raises
        like Client.publish does, and the caller retries or lets the stream redeliver.
        """
        nc = self._nc
        if nc.is_closed:
            raise ConnectionClosedError
        if not nc.is_connected and (nc._max_pending_size <= 0 or
                                    nc._pending_data_size + len(line) > nc._max_pending_size):
            raise OutboundBufferLimitError
        await nc._send_command(line)
        if nc._flush_queue is not None and nc._flush_queue.empty():
            await nc._flush_pending()

    def flush_now(self) -> None:
        """Write what the connection has buffered to its socket now.

        nats-py's flusher task writes at its next turn of the event loop, after
        whatever else is ready then (a whole read of PubAcks, a worker's batch of
        results): for events due now, that turn is their lateness. The flusher
        copies and clears the same buffer in one step, so the order holds; while
        disconnected the buffer stays for the reconnect, as nats-py keeps it.
        """
        nc = self._nc
        if not nc._pending_data_size or not nc.is_connected or nc._transport is None:
            return
        try:
            nc._transport.writelines(nc._pending)
        except Exception:  # the flusher meets the same error and runs nats-py's handling
            return
        nc._pending = []
        nc._pending_data_size = 0

    async def ack(self, reply: str, verb: bytes = ACK) -> None:
        """Ack (ACK), terminate (TERM), hand back (NAK) or keep alive (IN_PROGRESS) a JetStream
        delivery by its reply subject."""
        await self.write(pub_line(reply.encode(), verb))


class HotPathClient(NATS):
    """nats-py's client, plus subscriptions whose messages go to a handler straight from the parser."""

    def __init__(self) -> None:
        super().__init__()
        self._raw_handlers: dict[int, RawHandler] = {}

    async def subscribe_raw(self, subject: str, handler: RawHandler) -> Subscription:
        """Subscribe with a handler that gets each message's raw fields in the read loop.

        The handler must not wait on anything slow: the connection reads nothing
        meanwhile. Its exceptions are logged and swallowed (one raising into the
        parser would drop the connection). The sid survives reconnects, and so
        does the handler.
        """
        sub = await self.subscribe(subject)
        self._raw_handlers[sub._id] = handler
        return sub

    async def unsubscribe_raw(self, sub: Subscription) -> None:
        """Drop a subscribe_raw subscription: what is still on its way for it is not handed over."""
        self._raw_handlers.pop(sub._id, None)
        await sub.unsubscribe()

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes,
                           headers: bytes | None) -> None:
        handler = self._raw_handlers.get(sid)
        if handler is None:
            # nats-py annotates headers as bytes but passes None for a message without them.
            await super()._process_msg(sid, subject, reply, data, cast(bytes, headers))
            return
        try:
            await handler(subject, reply, data, headers)
        except Exception:
            log.exception("hot-path handler failed", extra={"subject": subject.decode(errors="replace")})
