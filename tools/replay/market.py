"""MARKET_DATA=bus in a replay: the stream's stored market data as whole tapes.

Runs in the CLI process, on the replay's asyncio loop, before the intents are read.
Owns one ephemeral pull consumer over the market subjects the service reads
(supervisor.jetstream.market_subjects), from the stream's first message to its last
at the start of the run, deleted at the end. Each message goes through the reading
the service's market reader uses (common.market_messages.BusReading: stored times
that never go back, the same checks), so the tapes hold the records the service
priced from; the replay then prices every intent from the whole series, as a file
backtest does, which the service's passes over slices equal (supervisor/market_waits.py).
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from common.config import Settings
from common.market_files import QUOTES, RecordedMarketData
from common.market_messages import BusReading
from common.market_records import QuoteRecord
from supervisor.inflight import delivery_of_reply
from supervisor.jetstream import market_subjects, tick_prefix
from tools.replay.source import REQUEST_TIMEOUT_S, nats_step, stored_ns_and_pending
from worker.quote_tape import records_bytes

FETCH_BATCH = 2000
FETCH_TIMEOUT_S = 2.0


async def stored_market(nc: NATS, settings: Settings) -> RecordedMarketData:
    """Every market record stored in the stream so far, per instrument, checked as the service checks them."""
    js = nc.jetstream(timeout=REQUEST_TIMEOUT_S)
    subjects = market_subjects(settings)
    config = ConsumerConfig(filter_subjects=subjects, ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                            inactive_threshold=60, mem_storage=True, num_replicas=1)
    with nats_step(f"cannot read the market data of stream {settings.nats_stream}"):
        info = await js.stream_info(settings.nats_stream)
        end_seq = info.state.last_seq or 0
        consumer = await js.add_consumer(settings.nats_stream, config)
        sub = await js.pull_subscribe_bind(consumer=consumer.name, stream=settings.nats_stream)
    reading = BusReading(settings.instruments, settings.market_signal_subject, tick_prefix(settings))
    records: dict[str, list[QuoteRecord]] = {}
    pending = consumer.num_pending or 0
    try:
        while pending > 0:
            with nats_step(f"reading the market data of stream {settings.nats_stream} failed"):
                msgs: list[Any] = await sub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
            for msg in msgs:
                stream_seq, _, stored_ms = delivery_of_reply(msg.reply)
                _, pending = stored_ns_and_pending(msg)
                if stream_seq > end_seq:
                    pending = 0
                    break
                read = reading.read(msg.subject, msg.data, stored_ms)
                if not isinstance(read, str):
                    records.setdefault(read[0], []).append(read[1])
    finally:
        try:
            await js.delete_consumer(settings.nats_stream, consumer.name)
        except Exception:
            pass  # inactive_threshold removes it anyway
    return RecordedMarketData(tuple((key, records_bytes(rows)) for key, rows in sorted(records.items())), QUOTES, ())
