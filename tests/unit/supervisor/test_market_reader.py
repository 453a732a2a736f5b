"""supervisor/market_reader.py without NATS: the ordered consumer's protocol against a fake connection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from supervisor.market_reader import OrderedReader

START = datetime(2026, 1, 5, tzinfo=UTC)
NS = 1_767_571_200_000_000_000  # a stored time in ns


class FakeClient:
    """What the reader uses of HotPathClient: raw subscriptions, inboxes, the JetStream API, the wire."""

    is_closed = False
    is_connected = True
    _flush_queue = None

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}
        self.sent: list[bytes] = []
        self.created: list[ConsumerConfig] = []
        self.events: list[str] = []
        self._inboxes = 0

    def new_inbox(self) -> str:
        self._inboxes += 1
        return f"_INBOX.{self._inboxes}"

    async def subscribe_raw(self, subject: str, handler: Any) -> SimpleNamespace:
        self.handlers[subject] = handler
        self.events.append(f"sub {subject}")
        return SimpleNamespace(subject=subject)

    async def unsubscribe_raw(self, sub: SimpleNamespace) -> None:
        del self.handlers[sub.subject]

    async def _send_command(self, line: bytes) -> None:
        self.sent.append(line)

    def jetstream(self) -> SimpleNamespace:
        async def add_consumer(stream: str, config: ConsumerConfig, timeout: float) -> None:
            self.created.append(config)
            self.events.append(f"create {config.deliver_subject}")
        return SimpleNamespace(_jsm=SimpleNamespace(add_consumer=add_consumer))


def _ack(sseq: int, dseq: int) -> bytes:
    return b"$JS.ACK.S.c.1.%d.%d.%d.0" % (sseq, dseq, NS + sseq * 1_000_000)


async def _reader() -> tuple[FakeClient, OrderedReader, list[list[tuple[bytes, int, int, bytes]]]]:
    nc, got = FakeClient(), []
    config = ConsumerConfig(filter_subjects=["market.>"], deliver_policy=DeliverPolicy.BY_START_TIME,
                            opt_start_time=START)
    reader = OrderedReader(nc, "S", config, got.append)  # type: ignore[arg-type]
    await reader.start()
    return nc, reader, got


def test_the_consumer_is_ordered_and_its_inbox_subscribed_before_it_is_made():
    async def scenario() -> None:
        nc, _, _ = await _reader()
        assert nc.events == ["sub _INBOX.1", "create _INBOX.1"]
        (config,) = nc.created
        assert config.flow_control and config.ack_policy == AckPolicy.NONE and config.max_deliver == 1
        assert config.mem_storage and config.num_replicas == 1 and config.idle_heartbeat == 5.0
        assert config.filter_subjects == ["market.>"] and config.opt_start_time == START

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_reads_deliveries_go_over_together_and_flow_control_is_answered_at_once():
    async def scenario() -> None:
        nc, _, got = await _reader()
        handler = nc.handlers["_INBOX.1"]
        await handler(b"market.quote.AAPL", _ack(7, 1), b"q1", None)
        await handler(b"", b"$JS.FC.S.x.y", b"", b"NATS/1.0 100 FlowControl Request\r\n\r\n")
        await handler(b"market.quote.MSFT", _ack(9, 2), b"q2", None)
        assert nc.sent == [b"PUB $JS.FC.S.x.y 0\r\n\r\n"] and got == []
        await asyncio.sleep(0)
        stored = NS // 1_000_000
        assert got == [[(b"market.quote.AAPL", 7, stored + 7, b"q1"), (b"market.quote.MSFT", 9, stored + 9, b"q2")]]

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_gap_starts_a_new_consumer_after_the_last_stream_sequence_read():
    async def scenario() -> None:
        nc, reader, got = await _reader()
        handler = nc.handlers["_INBOX.1"]
        await handler(b"market.quote.AAPL", _ack(7, 1), b"q1", None)
        await handler(b"market.quote.AAPL", _ack(12, 3), b"lost one before", None)
        await handler(b"market.quote.AAPL", _ack(13, 4), b"still the old one", None)
        watch = asyncio.create_task(reader.watch())
        await asyncio.sleep(0.01)
        watch.cancel()
        assert [m[3] for batch in got for m in batch] == [b"q1"]
        assert list(nc.handlers) == ["_INBOX.2"]
        again = nc.created[-1]
        assert again.deliver_subject == "_INBOX.2" and again.deliver_policy == DeliverPolicy.BY_START_SEQUENCE
        assert again.opt_start_seq == 8 and again.opt_start_time is None
        await nc.handlers["_INBOX.2"](b"market.quote.AAPL", _ack(8, 1), b"q2", None)
        await asyncio.sleep(0)
        assert [m[3] for batch in got for m in batch] == [b"q1", b"q2"]

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_heartbeat_past_the_last_delivery_restarts_and_a_stalled_one_is_answered():
    async def scenario() -> None:
        nc, reader, _ = await _reader()
        handler = nc.handlers["_INBOX.1"]
        await handler(b"market.quote.AAPL", _ack(7, 1), b"q1", None)
        await handler(b"", b"", b"", b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\n"
                                     b"Nats-Consumer-Stalled: $JS.FC.S.a.b\r\n\r\n")
        assert nc.sent == [b"PUB $JS.FC.S.a.b 0\r\n\r\n"] and len(nc.created) == 1  # in step: no restart
        await handler(b"", b"", b"", b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 2\r\n\r\n")
        watch = asyncio.create_task(reader.watch())
        await asyncio.sleep(0.01)
        watch.cancel()
        assert len(nc.created) == 2 and nc.created[-1].opt_start_seq == 8

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_gap_before_any_delivery_starts_over_from_the_original_start_time():
    async def scenario() -> None:
        nc, reader, _ = await _reader()
        await nc.handlers["_INBOX.1"](b"market.quote.AAPL", _ack(7, 2), b"q", None)
        watch = asyncio.create_task(reader.watch())
        await asyncio.sleep(0.01)
        watch.cancel()
        again = nc.created[-1]
        assert again.deliver_policy == DeliverPolicy.BY_START_TIME and again.opt_start_time == START

    asyncio.run(asyncio.wait_for(scenario(), 5))
