"""Pull requests for the durable consumer, answered into one raw inbox.

Runs in the supervisor's event loop. nats-py's `fetch` hands each message
through a Msg object, the subscription's queue and `next_msg` (with a uuid4 per
message), and starts every batch with a no-wait probe: about a tenth of the
supervisor's core at full rate. Here the supervisor sends the pull requests
itself ($JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>, a batch size and an
expiry) with one inbox as their reply subject, and HotPathClient hands each
delivery's raw fields to `_on_message` straight from the parser. Deliveries
that arrive in one read are passed on together, once the read is done.

The server answers open requests in the order they came: each delivery counts
against the oldest open request, and a request ends when it has all it asked
for or when a status says it ended (408 expired, 409, 404). `waiting` is what
the open requests may still bring; the caller keeps it plus what it holds under
its in-flight bound. A request the server never answered is dropped a second
after its expiry, so the count cannot drift for good. A request nobody could
take (503: the consumer has no leader while a cluster elects one, or it is
gone) makes the next one wait a moment: asking again at once spun through
hundreds of requests a second, each with a warning, for the seconds an
election takes. The clock and the sleep are injected (time.monotonic and
asyncio.sleep by default) so tests drive them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import orjson

from common.config import Settings
from supervisor.wire import HotPathClient, Wire, pub_line

log = logging.getLogger("at_exec_sim.puller")

# Past its expiry plus this, a request nobody answered is forgotten.
EXPIRY_GRACE_S = 1.0
# After a 503 (no responders), the next pull request waits this long.
NO_RESPONDERS_BACKOFF_S = 0.25


class Delivery(NamedTuple):
    """One intent as the consumer delivered it: its ack subject, body and header block."""

    reply: str
    data: bytes
    headers: bytes | None


class _Request:
    __slots__ = ("remaining", "forget_at")

    def __init__(self, remaining: int, forget_at: float) -> None:
        self.remaining = remaining
        self.forget_at = forget_at


class IntentPuller:
    def __init__(
        self, nc: HotPathClient, settings: Settings, on_deliveries: Callable[[list[Delivery]], None],
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._nc = nc
        self._clock = clock
        self._sleep = sleep
        self._wire = Wire(nc)
        self._on_deliveries = on_deliveries
        self._expires_s = settings.fetch_timeout_s
        self._inbox = nc.new_inbox()
        self._inbox_bytes = self._inbox.encode()
        self._request_subject = f"$JS.API.CONSUMER.MSG.NEXT.{settings.nats_stream}.{settings.nats_durable}".encode()
        self._open: deque[_Request] = deque()
        self._arrived: list[Delivery] = []
        self._handover_scheduled = False
        self._pull_after = 0.0
        # Since when pull requests find no consumer to answer them (None: they do).
        self._unanswerable_since: float | None = None
        # Set whenever a request ends or shrinks: the caller may ask for more.
        self.changed = asyncio.Event()

    @property
    def waiting(self) -> int:
        """Intents the open requests may still deliver."""
        return sum(request.remaining for request in self._open)

    @property
    def open_requests(self) -> int:
        self._forget_unanswered()
        return len(self._open)

    async def start(self) -> None:
        await self._nc.subscribe_raw(self._inbox, self._on_message)

    async def pull(self, batch: int) -> None:
        """Ask for up to `batch` intents; what comes is handed to `on_deliveries`."""
        wait_s = self._pull_after - self._clock()
        if wait_s > 0:
            await self._sleep(wait_s)
        self._forget_unanswered()
        expires_ns = int(self._expires_s * 1e9)
        request = orjson.dumps({"batch": batch, "expires": expires_ns})
        self._open.append(_Request(batch, self._clock() + self._expires_s + EXPIRY_GRACE_S))
        try:
            await self._wire.write(pub_line(self._request_subject, request, reply=self._inbox_bytes))
        except Exception:
            self._open.pop()
            raise

    def reset(self) -> None:
        """The connection was lost: its requests went with it."""
        self._open.clear()
        self.changed.set()

    def _forget_unanswered(self) -> None:
        now = self._clock()
        while self._open and self._open[0].forget_at <= now:
            self._open.popleft()
            self.changed.set()

    async def _on_message(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        if headers is not None and headers[8:9] == b" ":
            status = headers[9:12]
            if status != b"100":  # 408 expired, 409 refused or ended, 404 nothing (no_wait): the request is over
                if self._open:
                    self._open.popleft()
                if status == b"503":
                    self._no_responders()
                    self.changed.set()
                    return
                self._answered()
                if status not in (b"408", b"404"):
                    log.warning("pull request ended by the server",
                                extra={"status": headers[9:headers.find(b"\r\n")].decode(errors="replace")})
                self.changed.set()
            return
        if self._open:
            head = self._open[0]
            head.remaining -= 1
            if head.remaining <= 0:
                self._open.popleft()
                self.changed.set()
        self._arrived.append(Delivery(reply.decode(), data, headers))
        if not self._handover_scheduled:
            self._handover_scheduled = True
            # After the parser has run through this read: one hand-over for the whole burst.
            asyncio.get_running_loop().call_soon(self._hand_over)

    def _no_responders(self) -> None:
        now = self._clock()
        self._pull_after = now + NO_RESPONDERS_BACKOFF_S
        if self._unanswerable_since is None:
            self._unanswerable_since = now
            log.warning("no consumer answers pull requests (no leader, or gone); asking again every "
                        f"{NO_RESPONDERS_BACKOFF_S:g} s", extra={"status": "503"})

    def _answered(self) -> None:
        if self._unanswerable_since is not None:
            log.info("consumer answering pull requests again",
                     extra={"after_s": round(self._clock() - self._unanswerable_since, 3)})
            self._unanswerable_since = None

    def _hand_over(self) -> None:
        self._handover_scheduled = False
        arrived, self._arrived = self._arrived, []
        if arrived:
            self._answered()
            self._on_deliveries(arrived)

