"""The bus market's reader: market data from the stream into the bookkeeping, and the watermark ticks.

Runs in the supervisor process, on its event loop, under MARKET_DATA=bus. Owns the
market reader (an ordered push consumer of the service's stream, filtered on the
quote subjects, the signal subject and the service's tick subject, from
max(RETAIN_MS, MARKET_DATA_MAX_AGE_MS) back), the per-type counts and log lines of bad
market messages, the staleness gauge per asset class, and the ticks: when intents
wait for an instant the clock has passed and no market message has come for
MARKET_WATERMARK_TICK_MS, an empty message on market.tick.<instance> (beside the quote
subjects: supervisor.jetstream.tick_prefix) moves the
watermark by its stored time. Intents the bookkeeping (supervisor/market_waits.py)
finds ready go back to the workers through `send_again`, gathered over one turn of the
event loop: a batch's answers (a backlog's intents, all ready at once) go back as a few
batches, not one batch per intent.

Every record's time is its stored time, taken as never going back: a message stored
earlier than one read before it (a clock step at a leader change) counts as stored at
the later time, the same rule replay applies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from common.config import Settings
from common.market_messages import TICK, BusReading
from common.messages import AwaitingMarket, RawIntent
from common.metrics import Metrics, MetricTally
from supervisor.inflight import delivery_of_reply
from supervisor.jetstream import market_subjects, tick_prefix
from supervisor.market_waits import RETAIN_MS, MarketWaits

log = logging.getLogger("at_exec_sim.supervisor")

# A bad message type is logged at most once per this many seconds (a broken feed sends thousands).
LOG_EVERY_S = 1.0


class BusMarket:
    def __init__(self, settings: Settings, nc: Client, metrics: Metrics, tally: MetricTally,
                 send_again: Callable[[list[RawIntent]], None], in_flight: Callable[[int], bool]) -> None:
        self._settings = settings
        self._nc = nc
        self._metrics = metrics
        self._tally = tally
        self._send_again = send_again
        self._in_flight = in_flight  # whether the book still holds the intent (not handed back)
        self.waits = MarketWaits(settings.market_data_max_age_ms)
        self._instruments = settings.instruments
        self._tick_subject = f"{tick_prefix(settings)}.{os.getpid()}-{os.urandom(3).hex()}"
        self._reading = BusReading(settings.instruments, settings.market_signal_subject, tick_prefix(settings))
        self._tick_s = settings.market_watermark_tick_ms / 1000
        self._last_read_at = time.monotonic()
        self._logged_at: dict[str, float] = {}
        self._newest_by_class: dict[str, int] = {}
        self._subscription: object | None = None
        self._ready: list[RawIntent] = []  # to send again at the end of this turn of the loop

    async def start(self) -> None:
        """Read the market subjects from far enough back that every record in force now is known."""
        back_ms = max(RETAIN_MS, self._settings.market_data_max_age_ms)
        start = datetime.fromtimestamp(time.time() - back_ms / 1000, UTC)
        subjects = market_subjects(self._settings)
        config = ConsumerConfig(filter_subjects=subjects, deliver_policy=DeliverPolicy.BY_START_TIME,
                                opt_start_time=start)
        self._subscription = await self._nc.jetstream().subscribe(
            subjects[0], stream=self._settings.nats_stream, config=config, ordered_consumer=True,
            cb=self._on_message, pending_msgs_limit=-1, pending_bytes_limit=-1)
        log.info("market reader started", extra={"subjects": subjects, "from": start.isoformat(),
                                                 "tick_subject": self._tick_subject})

    # -- what collect hands over ------------------------------------------------------

    def awaiting(self, outcome: AwaitingMarket) -> None:
        self._again(self.waits.wait(outcome))

    def answered(self, stream_seq: int) -> None:
        self.waits.forget(stream_seq)

    # -- the reader -------------------------------------------------------------------

    async def _on_message(self, msg: Msg) -> None:
        try:
            _, _, stored_ms = delivery_of_reply(msg.reply)
        except ValueError:
            return  # a flow-control or heartbeat message the subscription did not take
        self._last_read_at = time.monotonic()
        read = self._reading.read(msg.subject, msg.data, stored_ms)
        if read == TICK:
            self._tally.inc(self._metrics.market_data_received, "tick")
        elif isinstance(read, str):
            self._bad(read, msg.subject)
        else:
            key, record = read
            self._tally.inc(self._metrics.market_data_received,
                            "signal" if msg.subject == self._settings.market_signal_subject else "quote")
            self.waits.record(key, record)
            asset_class = self._instruments.get(key).asset_class if self._instruments.is_listed(key) else "other"
            self._newest_by_class[asset_class] = record.at_ms
        self._again(self.waits.advance(self._reading.last_stored_ms))

    def _bad(self, bad_type: str, subject: str) -> None:
        self._tally.inc(self._metrics.market_data_rejected, bad_type)
        now = time.monotonic()
        if now - self._logged_at.get(bad_type, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[bad_type] = now
            log.warning("market data skipped", extra={"type": bad_type, "subject": subject[:120]})

    def _again(self, ready: list[RawIntent]) -> None:
        if not ready:
            return
        if not self._ready:
            asyncio.get_running_loop().call_soon(self._send_ready)
        self._ready.extend(ready)

    def _send_ready(self) -> None:
        ready, self._ready = self._ready, []
        live = []
        for raw in ready:
            if self._in_flight(raw.stream_seq):
                live.append(raw)
            else:
                self.waits.forget(raw.stream_seq)  # handed back meanwhile: its next delivery starts over
        if live:
            self._send_again(live)

    # -- ticks, trimming, gauges ------------------------------------------------------

    async def loop(self) -> None:
        """Ticks while intents wait on a quiet bus; trims and gauges once a second."""
        next_housekeeping = 0.0
        while True:
            await asyncio.sleep(self._tick_s / 2)
            now = time.monotonic()
            earliest = self.waits.earliest_need
            if (earliest is not None and earliest < time.time() * 1000 and now - self._last_read_at >= self._tick_s
                    and self._nc.is_connected):
                await self._nc.publish(self._tick_subject, b"")
                self._last_read_at = now  # one tick per quiet interval, not one per loop
            if now >= next_housekeeping:
                next_housekeeping = now + 1.0
                self.waits.trim()
                self._metrics.awaiting_market_data.set(len(self.waits))
                wall_ms = time.time() * 1000
                for asset_class, newest in self._newest_by_class.items():
                    self._metrics.market_data_age.labels(asset_class).set(max(0.0, (wall_ms - newest) / 1000))
