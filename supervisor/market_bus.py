"""The bus market's reader: market data from the stream into the bookkeeping, and the watermark ticks.

Runs in the supervisor process, on its event loop, under MARKET_DATA=bus. Owns the
market reader (an ordered push consumer of the service's stream, filtered on the
quote subjects, the signal subject and the service's tick subject, from the retention
back, market_waits.retain_ms; supervisor/market_reader.py reads it off the connection,
a read's messages at a time, and the watermark moves once per read), the history of an
instrument for an intent older than what it holds (a redelivery after a restart: one ephemeral consumer per such
intent, filtered on the instrument's quote subject and the signal subject, from the intent's
instant less twice MARKET_DATA_MAX_AGE_MS up to the oldest record held, at most
MAX_HISTORY_RECORDS), the per-type counts and log lines of bad
market messages, the staleness gauge and the no_market_data count per asset class, and the ticks: when intents
wait for an instant the clock has passed and no market message has come for
MARKET_WATERMARK_TICK_MS, an empty message on market.tick.<instance> (beside the quote
subjects: supervisor.jetstream.tick_prefix) moves the
watermark by its stored time. Intents the bookkeeping (supervisor/market_waits.py)
finds ready go back to the workers through `send_again`, gathered over one turn of the
event loop: a batch's answers (a backlog's intents, all ready at once) go back as a few
batches, not one batch per intent. An intent the watermark has passed already when it
goes to its first pass (a backlog's) goes with its slice (`first_passes`): priced in one
pass, not two.

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

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from common.config import Settings
from common.instruments import normalize
from common.market_messages import TICK, BusReading
from common.market_records import QuoteRecord
from common.messages import AwaitingMarket, RawIntent
from common.metrics import Metrics, MetricTally
from supervisor.inflight import delivery_of_reply
from supervisor.jetstream import covering_filter, market_subjects, matches_any, tick_prefix
from supervisor.market_reader import MarketMessage, OrderedReader
from supervisor.market_waits import MarketWaits, intent_instrument, retain_ms
from supervisor.wire import HotPathClient
from worker.recorded_market import REPORTED_AGES

log = logging.getLogger("at_exec_sim.supervisor")

# A bad message type is logged at most once per this many seconds (a broken feed sends thousands).
LOG_EVERY_S = 1.0
# The most records read back for one redelivered intent (48 bytes each in its slice).
MAX_HISTORY_RECORDS = 500_000
# Subject names kept decoded (the instruments' quote subjects, the signal and tick subjects).
MAX_SUBJECT_NAMES = 10_000


class BusMarket:
    def __init__(self, settings: Settings, nc: HotPathClient, metrics: Metrics, tally: MetricTally,
                 send_again: Callable[[list[RawIntent]], None], in_flight: Callable[[int], bool]) -> None:
        self._settings = settings
        self._nc = nc
        self._metrics = metrics
        self._tally = tally
        self._send_again = send_again
        self._in_flight = in_flight  # whether the book still holds the intent (not handed back)
        back_ms = retain_ms(settings.market_data_max_age_ms)
        self._reader_from_s = time.time() - back_ms / 1000
        self.waits = MarketWaits(settings.market_data_max_age_ms, int(self._reader_from_s * 1000))
        self._history_tasks: set[asyncio.Task[None]] = set()
        self._instruments = settings.instruments
        self._tick_subject = f"{tick_prefix(settings)}.{os.getpid()}-{os.urandom(3).hex()}"
        self._reading = BusReading(settings.instruments, settings.market_signal_subject, tick_prefix(settings))
        self._tick_s = settings.market_watermark_tick_ms / 1000
        self._last_read_at = time.monotonic()
        self._logged_at: dict[str, float] = {}
        self._newest: dict[str, int] = {}  # instrument key -> its newest record's time
        self._asset_classes: dict[str, str] = {}  # instrument key -> its asset class (the age gauge's label)
        self._signal = settings.market_signal_subject
        self._subjects = market_subjects(settings)
        # Decoded once per subject, not per message; "" for a subject the reader's filter brings that
        # is none of the market subjects (covering_filter).
        self._subject_names: dict[bytes, str] = {}
        self._reader: OrderedReader | None = None
        self._ready: list[RawIntent] = []  # to send again at the end of this turn of the loop

    async def start(self) -> None:
        """Read the market subjects from far enough back that every record in force now is known."""
        start = datetime.fromtimestamp(self._reader_from_s, UTC)
        subjects = self._subjects
        cover = covering_filter(subjects)  # one filter: what else it brings is dropped by _subject_name
        config = ConsumerConfig(filter_subjects=[cover] if cover else subjects,
                                deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start)
        self._reader = OrderedReader(self._nc, self._settings.nats_stream, config, self._on_messages)
        await self._reader.start()
        log.info("market reader started", extra={"subjects": subjects, "filter": config.filter_subjects,
                                                 "from": start.isoformat(),
                                                 "tick_subject": self._tick_subject})

    # -- what collect hands over ------------------------------------------------------

    def awaiting(self, outcome: AwaitingMarket) -> None:
        self._again(self.waits.wait(outcome))

    def first_passes(self, raws: list[RawIntent]) -> list[RawIntent]:
        """Intents on their way to their first pass: one whose receipt plus SIMULATION_MIN_DELAY_MS the
        watermark has passed (a backlog's) goes with its slice (MarketWaits.first_pass), so it is priced
        in one pass instead of asking for its market in a first one; the others go bare."""
        passed = self.waits.watermark - self._settings.min_delay_ms
        sliced = []
        for raw in raws:
            first = None
            if raw.received_at_ms < passed:
                instrument = intent_instrument(raw.body)
                if instrument is not None:
                    first = self.waits.first_pass(raw, instrument)
            sliced.append(first or raw)
        return sliced

    def answered(self, stream_seq: int) -> None:
        self.waits.forget(stream_seq)

    # -- the reader -------------------------------------------------------------------

    def _on_messages(self, messages: list[MarketMessage]) -> None:
        """One read's market messages, in stream order: into the bookkeeping, then the watermark moves to
        the last one's stored time (once: the intents ready by then get every record read)."""
        reading, record, newest, signal_subject = self._reading.read, self.waits.record, self._newest, self._signal
        subject_names = self._subject_names
        quotes = signals = ticks = bad = 0
        for subject_bytes, seq, stored_ms, body in messages:
            subject = subject_names.get(subject_bytes)
            if subject is None:
                subject = self._subject_name(subject_bytes)
            if not subject:
                continue
            read = reading(subject, body, stored_ms)
            if read == TICK:
                ticks += 1
            elif isinstance(read, str):
                bad += 1
                self._bad(read, subject)
            else:
                key, quote = read
                if subject == signal_subject:
                    signals += 1
                else:
                    quotes += 1
                record(key, quote, seq)
                newest[key] = quote.at_ms
        if quotes or signals or ticks or bad:  # what the filter brings beside the market subjects is no sign of life
            self._last_read_at = time.monotonic()
        received = self._metrics.market_data_received if quotes or signals or ticks else None
        for label, count in (("quote", quotes), ("signal", signals), ("tick", ticks)):
            if count:
                self._tally.inc(received, label, count)
        self._again(self.waits.advance(self._reading.last_stored_ms))

    def _subject_name(self, subject: bytes) -> str:
        if len(self._subject_names) >= MAX_SUBJECT_NAMES:  # subjects under market.quote.> are anyone's
            self._subject_names.clear()
        name = subject.decode(errors="replace")
        name = self._subject_names[subject] = name if matches_any(self._subjects, name) else ""
        return name

    def _bad(self, bad_type: str, subject: str) -> None:
        self._tally.inc(self._metrics.market_data_rejected, bad_type)
        now = time.monotonic()
        if now - self._logged_at.get(bad_type, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[bad_type] = now
            log.warning("market data skipped", extra={"type": bad_type, "subject": subject[:120]})

    def _again(self, ready: list[RawIntent]) -> None:
        while self.waits.history_wanted:
            task = asyncio.create_task(self._history(*self.waits.history_wanted.pop()))
            self._history_tasks.add(task)
            task.add_done_callback(self._history_tasks.discard)
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

    async def _history(self, stream_seq: int, key: str, at_ms: int, oldest_held: int | None) -> None:
        """The instrument's stored records from twice MARKET_DATA_MAX_AGE_MS before `at_ms` up to the oldest
        held, then the intent's pass with them."""
        records = []
        try:
            records = await self._read_history(key, at_ms - REPORTED_AGES * self._settings.market_data_max_age_ms,
                                               oldest_held)
        except Exception as exc:  # priced from what is held: logged, never a crash of the loop
            log.error("could not read the market history of an intent", extra={
                "stream_seq": stream_seq, "instrument": key, "error": f"{type(exc).__name__}: {exc}"})
        log.info("market history read", extra={"stream_seq": stream_seq, "instrument": key, "records": len(records)})
        self._again(self.waits.with_history(stream_seq, at_ms, records))

    async def _read_history(self, key: str, from_ms: int, until_seq: int | None) -> list[tuple[int, QuoteRecord]]:
        subjects = [q[:-1] + key if q.endswith(".>") else q for q in self._settings.market_quote_subjects]
        if self._settings.market_signal_subject:
            subjects.append(self._settings.market_signal_subject)
        config = ConsumerConfig(filter_subjects=subjects, deliver_policy=DeliverPolicy.BY_START_TIME,
                                opt_start_time=datetime.fromtimestamp(from_ms / 1000, UTC),
                                ack_policy=AckPolicy.NONE, inactive_threshold=30, mem_storage=True)
        sub = await self._nc.jetstream().pull_subscribe(subjects[0], stream=self._settings.nats_stream,
                                                         config=config)
        reading = BusReading(self._instruments, self._settings.market_signal_subject, tick_prefix(self._settings))
        records: list[tuple[int, QuoteRecord]] = []
        try:
            while len(records) < MAX_HISTORY_RECORDS:
                try:
                    msgs = await sub.fetch(1000, timeout=1.0)
                except TimeoutError:
                    return records
                for msg in msgs:
                    seq, _, stored_ms = delivery_of_reply(msg.reply)
                    if until_seq is not None and seq >= until_seq:
                        return records
                    read = reading.read(msg.subject, msg.data, stored_ms)
                    if not isinstance(read, str) and read[0] == key:
                        records.append((seq, read[1]))
            log.error("market history longer than MAX_HISTORY_RECORDS: the rest is not given",
                      extra={"instrument": key, "records": len(records)})
            return records
        finally:
            await sub.unsubscribe()

    # -- ticks, trimming, gauges ------------------------------------------------------

    async def loop(self) -> None:
        """The reader's consumer kept (supervisor/market_reader.py), and the ticks, trims and gauges."""
        if self._reader is None:
            await self._housekeeping()
            return
        await asyncio.gather(self._reader.watch(), self._housekeeping())

    async def _housekeeping(self) -> None:
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
                self._age_gauges()

    def no_market_data(self, instrument: str) -> None:
        """An order was answered no_market_data: counted by its asset class, the evidence the stale
        alert wants beside the age (a class whose venue is closed is old and harms no order)."""
        self._tally.inc(self._metrics.market_data_missing, self._asset_class(normalize(instrument)))

    def _asset_class(self, key: str) -> str:
        asset_class = self._asset_classes.get(key)
        if asset_class is None:  # looked up once per instrument
            listed = self._instruments.is_listed(key)
            asset_class = self._asset_classes[key] = self._instruments.get(key).asset_class if listed else "other"
        return asset_class

    def _age_gauges(self) -> None:
        newest_by_class: dict[str, int] = {}
        for key, newest in self._newest.items():
            asset_class = self._asset_class(key)
            newest_by_class[asset_class] = max(newest, newest_by_class.get(asset_class, newest))
        wall_ms = time.time() * 1000
        for asset_class, newest in newest_by_class.items():
            self._metrics.market_data_age.labels(asset_class).set(max(0.0, (wall_ms - newest) / 1000))
