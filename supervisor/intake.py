"""Intake: fetch intents from the durable consumer and dispatch them to the workers.

Runs in the supervisor process, on its event loop. Owns the fetch step (the
pull requests of supervisor/puller.py, bounded by MAX_IN_FLIGHT (the executing
room: long orders are kept apart, supervisor/long_orders.py, and each agent
counts only up to its share, supervisor/agent_shares.py), MAX_QUEUED_OVER_SHARE,
the pending-event bound, the open requests and RATE_LIMIT_RPS) and the dispatch
step: each delivery becomes an InFlight record in the book (supervisor/book.py)
and a raw intent in its agent's queue (supervisor/fair_queue.py), from which
the agents' intents go to the pool (supervisor/pool.py) in turns, in chunks,
while fewer than a dispatch window are at the workers. Nothing is parsed here
(the agent is read from the raw bytes); a redelivery of an intent still in
flight only updates its ack subject. After the hand-back (`refuse_deliveries`) deliveries are left to the
stream, which redelivers them after ack_wait.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable

from common.config import Settings
from common.error_codes import BUFFER_FULL
from common.messages import IntentBatch, RawIntent
from supervisor import keepalive
from supervisor.book import InFlightBook
from supervisor.connection import NatsConnection
from supervisor.fair_queue import FairQueue, agent_key
from supervisor.headers import credentials_of, signature_of
from supervisor.inflight import InFlight, delivery_of_reply
from supervisor.pool import WorkerPool
from supervisor.publisher import JetStreamPublisher
from supervisor.puller import Delivery, IntentPuller
from supervisor.rate_limit import FetchRateLimit

log = logging.getLogger("at_exec_sim.supervisor")

# Fewer intents than this per worker chunk cost more in queue overhead than they gain in parallelism.
MIN_CHUNK = 16
# Pull requests open at once: the next is already waiting at the server while one is answered.
MAX_OPEN_PULLS = 2


def dispatch_window(settings: Settings) -> int:
    """Intents at the workers at once: two chunks per worker keep each busy while its next comes;
    more only lengthens the line a quiet agent's intent joins behind a flood."""
    return max(2 * settings.batch_size, 2 * settings.workers * MIN_CHUNK)


class Intake:
    def __init__(
        self, settings: Settings, connection: NatsConnection, book: InFlightBook, pool: WorkerPool,
        publisher: JetStreamPublisher, stop: asyncio.Event,
    ) -> None:
        self._settings = settings
        # X-Key-Id is read only when a keyring is there to look it up in.
        self._keyring_on = settings.keyring is not None
        self._nc = connection.nc
        self._book = book
        self._in_flight = book.records
        self._pool = pool
        self._publisher = publisher
        self._stop = stop
        self._rate = FetchRateLimit(settings.rate_limit_rps, burst=settings.batch_size)
        self._batch_ids = itertools.count()
        self._buffer_full_logged = False
        self._refusing = False
        # Fetched, not yet at the workers: per agent, handed out in turns.
        self._waiting: FairQueue[RawIntent] = FairQueue()
        # batch id -> intents it carries, for every batch at the workers.
        self._at_workers: dict[int, int] = {}
        self._at_workers_total = 0
        self._window = dispatch_window(settings)
        # Under RATE_LIMIT_RPS one: a second request, paid for while idle, would
        # let a flood in at twice the burst the limit promises.
        self._max_open_pulls = 1 if self._rate.enabled else MAX_OPEN_PULLS
        # MARKET_DATA=bus: gives an intent whose market is known already its slice for its first pass.
        self._first_passes: Callable[[list[RawIntent]], list[RawIntent]] | None = None
        self.puller = IntentPuller(connection.nc, settings, self.dispatch)
        connection.on_pulls_lost(self.puller.reset)

    async def start(self) -> None:
        await self.puller.start()

    def slice_first_passes(self, first_passes: Callable[[list[RawIntent]], list[RawIntent]]) -> None:
        """MARKET_DATA=bus: intents go through `first_passes` on their way to the pool (the bus market's)."""
        self._first_passes = first_passes

    def refuse_deliveries(self) -> None:
        """From the hand-back on, deliveries are not taken in: the stream redelivers them after ack_wait."""
        self._refusing = True
        self._waiting.clear()  # their records go back with the hand-back

    # -- fetch ----------------------------------------------------------------

    async def fetch_loop(self) -> None:
        while not self._stop.is_set():
            wanted = self.fetch_room()
            if wanted <= 0:
                await self._wait_room()
                continue
            allowed = self._rate.allowance(wanted)
            if allowed <= 0:
                await asyncio.sleep(self._rate.wait_s())
                continue
            # Paid for in full when asked: a request that expires short is not refunded.
            self._rate.spend(allowed)
            try:
                await self.puller.pull(allowed)
            except Exception as exc:
                if not self._nc.is_connected:
                    continue  # fetch_room holds us while disconnected
                log.warning("pull request failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(0.2)

    def fetch_room(self) -> int:
        """How many intents may be fetched now (0: wait)."""
        if not self._nc.is_connected:
            return 0
        if self._publisher.outstanding >= self._settings.max_pending_events:
            if not self._buffer_full_logged:
                log.warning(
                    "pending-event buffer full: fetching paused, nothing dropped",
                    extra={"error_code": BUFFER_FULL, "pending_events": self._publisher.outstanding},
                )
                self._buffer_full_logged = True
            return 0
        self._buffer_full_logged = False
        if self.puller.open_requests >= self._max_open_pulls or self._book.over_share_full:
            return 0
        # Long orders have a room of their own (supervisor/long_orders.py), and an agent's intents
        # beyond its share wait over share (supervisor/agent_shares.py): neither holds this room.
        room = self._settings.max_in_flight - self._book.executing - self.puller.waiting
        # At the in-flight cap, each settled intent would otherwise free room for a
        # pull request of one: wait for a worthwhile batch (each pull request is a
        # request, a reply and a timer for the server and a round trip for us).
        return min(self._settings.batch_size, room) if room >= self._book.min_fetch else 0

    async def _wait_room(self) -> None:
        """Until intents are settled or a pull request ends (at most 0.1 s)."""
        self._book.room.clear()
        self.puller.changed.clear()
        room = asyncio.ensure_future(self._book.room.wait())
        pulled = asyncio.ensure_future(self.puller.changed.wait())
        await asyncio.wait((room, pulled), timeout=0.1, return_when=asyncio.FIRST_COMPLETED)
        room.cancel()
        pulled.cancel()

    # -- dispatch -------------------------------------------------------------

    def dispatch(self, deliveries: list[Delivery]) -> None:
        """Book each delivery and hand the new ones to the pool, in chunks (called by the puller)."""
        if self._refusing:
            return  # past the hand-back: the stream redelivers these after ack_wait
        received_at, received_at_ms = time.monotonic(), time.time() * 1000
        book, in_flight, max_deliver = self._book, self._in_flight, self._settings.max_deliver
        waiting, queued = self._waiting, 0
        for delivery in deliveries:
            try:
                stream_seq, delivered, stored_at_ms = delivery_of_reply(delivery.reply)
            except ValueError:
                log.error("delivery without a JetStream ack subject ignored", extra={"reply": delivery.reply[:120]})
                continue
            if delivered >= max_deliver > 0:
                # A long execution (a resting order) handed back at every restart runs out of deliveries.
                log.warning("last delivery MAX_DELIVER allows: if this instance stops before the intent is "
                            "answered, the stream will not deliver it again",
                            extra={"stream_seq": stream_seq, "delivered": delivered})
            held = in_flight.get(stream_seq)
            if held is not None:
                # Redelivered while we still work on it: answer the newest delivery, process once.
                held.reply = delivery.reply
                keepalive.progressed(in_flight, stream_seq, held, received_at)  # its ack_wait restarted
                continue
            # The simulated delay counts from the venue's receipt, the stream's stored time, so
            # the pickup and the simulation happen inside it rather than on top of it. A
            # server clock ahead of ours counts as no wait; by this clock, an event never
            # goes out before its own timestamp.
            receipt_at = received_at - max(0.0, received_at_ms - stored_at_ms) / 1000
            agent = agent_key(delivery.data)
            book.add(InFlight(delivery.reply, stream_seq, delivered > 1, receipt_at, received_at), agent)
            if self._keyring_on:
                signature, key_id = credentials_of(delivery.headers)
                raw = RawIntent(stream_seq, delivery.data, signature, stored_at_ms, key_id)
            else:
                raw = RawIntent(stream_seq, delivery.data, signature_of(delivery.headers), stored_at_ms)
            waiting.put(agent, raw)
            queued += 1
        if queued:
            self._to_pool()

    def send_again(self, raws: list[RawIntent]) -> None:
        """MARKET_DATA=bus: intents whose market data is now known, with their slices, straight to the
        pool (they were taken in turn once already; their records hold their room)."""
        for batch in self._batches(raws):
            self._pool.dispatch(batch)

    def batch_answered(self, batch_id: int) -> None:
        """A batch's results are back (called by collect): room at the workers for the next turns."""
        self._at_workers_total -= self._at_workers.pop(batch_id, 0)
        if self._waiting and not self._refusing:
            self._to_pool()

    def _to_pool(self) -> None:
        """Fill the dispatch window from the agents' queues, in turns, in chunks across the workers."""
        raws = self._waiting.take(self._window - self._at_workers_total)
        if not raws:
            return
        if self._first_passes is not None:
            raws = self._first_passes(raws)
        for batch in self._batches(raws):
            self._at_workers[batch.batch_id] = len(batch.intents)
            self._at_workers_total += len(batch.intents)
            self._pool.dispatch(batch)

    def _batches(self, raws: list[RawIntent]) -> list[IntentBatch]:
        """The intents in chunks across the workers (at least MIN_CHUNK each), each a numbered batch."""
        chunk = max(MIN_CHUNK, -(-len(raws) // self._settings.workers))
        return [IntentBatch(next(self._batch_ids), tuple(raws[start : start + chunk]))
                for start in range(0, len(raws), chunk)]
