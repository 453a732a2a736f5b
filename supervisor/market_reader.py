"""The market reader's ordered consumer, read straight from the connection's parser.

Runs in the supervisor's event loop (MARKET_DATA=bus), for supervisor/market_bus.py.
Owns the ephemeral ordered push consumer the bus market is read with, as nats-py's
`subscribe(ordered_consumer=True)` runs one: flow control and the idle heartbeat on,
no acks, one delivery, in memory, one replica, delivered to an inbox of the
connection's prefix (the deploy/nats.conf rights: $JS.API.CONSUMER.CREATE.<stream>
and the replies to $JS.FC.<stream>.>). What it keeps of that protocol:

    order       each delivery's consumer sequence must be the one after the last;
                a gap (a message the server dropped on the way) starts a new
                consumer from the stream sequence after the last delivered
    flow        a flow-control request, and an idle heartbeat that says the consumer
                stalled, are answered at once (every delivery before them is taken)
    heartbeats  one whose last consumer sequence is not ours starts over as a gap
                does; two heartbeat intervals with nothing read (the server lost the
                consumer: a restart) start over too

Why not nats-py's subscription: it builds a Msg (decoding subject, reply and
headers into a dict) per message, queues it for a task, and its ordered check
re-splits the reply; at 5,000 quotes a second that was most of the supervisor's
cost per quote (bench/profile_market_bus.py). Here HotPathClient
(supervisor/wire.py) hands the raw fields over from the parser, and the data
messages of one read go to `on_messages` together, once the read is done, as
(subject, stream sequence, stored ms, body) tuples.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from supervisor.wire import HotPathClient, Wire, pub_line

log = logging.getLogger("at_exec_sim.supervisor")

# nats-py's values for an ordered consumer.
IDLE_HEARTBEAT_S = 5.0
ACK_WAIT_S = 22 * 3600
# Heartbeat intervals without a message before the consumer is taken as gone.
MISSED_HEARTBEATS = 2

# (subject, stream sequence, stored time in epoch ms, body)
MarketMessage = tuple[bytes, int, int, bytes]

_STATUS_100 = b"NATS/1.0 100"
_LAST_CONSUMER = b"Nats-Last-Consumer:"
_STALLED = b"Nats-Consumer-Stalled:"


def _header(block: bytes, name: bytes) -> bytes | None:
    at = block.find(name)
    if at < 0:
        return None
    end = block.find(b"\r\n", at)
    return block[at + len(name) : end if end >= 0 else len(block)].strip()


class OrderedReader:
    """One ordered consumer of `stream` with `config`'s filter and start; its messages go to `on_messages`.

    `watch` must run beside it (the bus market's loop runs it): it makes the new consumers and
    checks the heartbeats."""

    def __init__(self, nc: HotPathClient, stream: str, config: ConsumerConfig,
                 on_messages: Callable[[list[MarketMessage]], None], timeout_s: float = 5.0) -> None:
        self._nc = nc
        self._wire = Wire(nc)
        self._stream = stream
        self._config = replace(config, flow_control=True, ack_policy=AckPolicy.NONE, max_deliver=1,
                               ack_wait=ACK_WAIT_S, idle_heartbeat=IDLE_HEARTBEAT_S, num_replicas=1,
                               mem_storage=True)
        self._on_messages = on_messages
        self._timeout_s = timeout_s
        self._sub: Subscription | None = None
        self._next_dseq = 1  # the consumer sequence the next delivery must have
        self._last_sseq = 0  # stream sequence of the last delivery taken (0: none yet)
        self._arrived: list[MarketMessage] = []
        self._handover_scheduled = False
        self._active = True  # something came since the last activity check
        self._restarting = False  # nothing is taken until the new consumer's inbox is subscribed
        self._restart_wanted = asyncio.Event()

    async def start(self) -> None:
        """The consumer made and read from (its first creation's errors raise)."""
        await self._subscribe_and_create(self._config)

    async def watch(self) -> None:
        """New consumers when one is wanted, and when two heartbeat intervals passed with nothing read
        (the server lost the consumer); runs until cancelled."""
        while True:
            try:
                await asyncio.wait_for(self._restart_wanted.wait(), IDLE_HEARTBEAT_S * MISSED_HEARTBEATS)
            except TimeoutError:
                if self._active or self._nc.is_closed:
                    self._active = False
                    continue
                self._restart("no heartbeat")
            self._restart_wanted.clear()
            config = self._config
            if self._last_sseq:
                config = replace(config, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                 opt_start_seq=self._last_sseq + 1, opt_start_time=None)
            try:
                await self._subscribe_and_create(config)
            except Exception as exc:  # the next missed heartbeat tries again
                log.error("market reader could not make its consumer", extra={"error": f"{type(exc).__name__}: {exc}"})
            self._active = False

    # -- from the parser ----------------------------------------------------------------

    async def _on_raw(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        if self._restarting:
            return
        self._active = True
        if headers is not None and headers.startswith(_STATUS_100) and not data:
            await self._control(reply, headers)
            return
        tokens = reply.split(b".")
        if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
            sseq, dseq, stored_ns = tokens[5], tokens[6], tokens[7]
        elif len(tokens) >= 11:  # with a domain and an account hash
            sseq, dseq, stored_ns = tokens[7], tokens[8], tokens[9]
        else:
            return  # not a JetStream delivery: nothing an ordered consumer takes
        if int(dseq) != self._next_dseq:
            self._restart("gap in the consumer's sequence")
            return
        self._next_dseq += 1
        self._last_sseq = int(sseq)
        self._arrived.append((subject, self._last_sseq, int(stored_ns) // 1_000_000, data))
        if not self._handover_scheduled:
            self._handover_scheduled = True
            # After the parser has run through this read: one hand-over for the whole burst.
            asyncio.get_running_loop().call_soon(self._hand_over)

    async def _control(self, reply: bytes, headers: bytes) -> None:
        if headers.startswith(b"FlowControl", len(_STATUS_100) + 1):
            if reply:  # every delivery before it is taken already: answer now
                await self._answer(reply)
            return
        if not headers.startswith(b"Idle", len(_STATUS_100) + 1):
            return
        stalled = _header(headers, _STALLED)
        if stalled:
            await self._answer(stalled)
        last = _header(headers, _LAST_CONSUMER)
        if self._next_dseq > 1 and not reply and (last is None or int(last) != self._next_dseq - 1):
            self._restart("heartbeat past the last delivery read")

    async def _answer(self, flow_control_subject: bytes) -> None:
        try:
            await self._wire.write(pub_line(flow_control_subject, b""))
        except Exception:  # as nats-py: the server asks again
            pass

    def _hand_over(self) -> None:
        self._handover_scheduled = False
        arrived, self._arrived = self._arrived, []
        if arrived:
            self._on_messages(arrived)

    # -- a new consumer -------------------------------------------------------------------

    def _restart(self, why: str) -> None:
        """A new consumer (made by `watch`) from the stream sequence after the last delivery read, or from
        the original start when none was, on a new inbox: what the old one still sends is left unread."""
        if self._restarting:
            return
        log.warning("market reader restarts its consumer", extra={"reason": why, "from_stream_seq": self._last_sseq + 1})
        self._restarting = True
        self._restart_wanted.set()

    async def _subscribe_and_create(self, config: ConsumerConfig) -> None:
        if self._sub is not None:
            old, self._sub = self._sub, None
            await self._nc.unsubscribe_raw(old)
        inbox = self._nc.new_inbox()
        self._next_dseq = 1
        # Subscribed before the consumer exists: its first deliveries find the inbox.
        self._sub = await self._nc.subscribe_raw(inbox, self._on_raw)
        self._restarting = False
        await self._nc.jetstream()._jsm.add_consumer(self._stream, config=replace(config, deliver_subject=inbox),
                                                     timeout=self._timeout_s)
