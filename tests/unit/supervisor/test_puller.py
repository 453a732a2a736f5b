"""The pull-request accounting of supervisor/puller.py: what the open requests may still bring,
how deliveries and statuses end them, and the raw header read (no NATS: a captured client)."""

from __future__ import annotations

import asyncio

import orjson

from common.config import load_settings
from supervisor.puller import Delivery, IntentPuller
from supervisor.wire import HotPathClient

ACK_SUBJECT = b"$JS.ACK.EXEC.exec-sim-consumer.1.%d.%d.1764079000000000000.0"


class FakeTime:
    """The puller's clock and sleep: a sleep moves the clock on at once and is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_puller(fake_time: FakeTime | None = None) -> tuple[IntentPuller, list[bytes], list[list[Delivery]]]:
    nc = HotPathClient()
    nc._max_pending_size = 1 << 20
    written: list[bytes] = []

    async def send_command(cmd: bytes, priority: bool = False) -> None:
        written.append(cmd)

    nc._send_command = send_command  # type: ignore[method-assign]
    handed: list[list[Delivery]] = []
    settings = load_settings({"NATS_STREAM": "EXEC", "NATS_DURABLE": "exec-sim-consumer", "FETCH_TIMEOUT_SEC": "1"})
    if fake_time is None:
        puller = IntentPuller(nc, settings, handed.append)
    else:
        puller = IntentPuller(nc, settings, handed.append, clock=fake_time.clock, sleep=fake_time.sleep)
    return puller, written, handed


def test_a_pull_request_names_the_durable_and_asks_for_a_batch_with_an_expiry() -> None:
    puller, written, _ = make_puller()
    asyncio.run(puller.pull(64))
    control, payload = written[0].split(b"\r\n")[:2]
    verb, subject, reply, size = control.split()
    assert (verb, subject) == (b"PUB", b"$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-sim-consumer")
    assert reply.startswith(b"_INBOX.") and int(size) == len(payload)
    assert orjson.loads(payload) == {"batch": 64, "expires": 1_000_000_000}
    assert puller.waiting == 64 and puller.open_requests == 1


def test_deliveries_count_against_the_oldest_request_and_arrive_in_one_hand_over() -> None:
    async def scenario() -> tuple[IntentPuller, list[list[Delivery]]]:
        puller, _, handed = make_puller()
        await puller.pull(2)
        await puller.pull(3)
        for seq in (1, 2, 3):
            await puller._on_message(b"decisions.order_intent", ACK_SUBJECT % (seq, seq), b"{}", None)
        assert handed == []  # handed over once the read is done, not per message
        await asyncio.sleep(0)
        return puller, handed

    puller, handed = asyncio.run(scenario())
    assert [d.reply.split(".")[5] for d in handed[0]] == ["1", "2", "3"]
    assert puller.open_requests == 1 and puller.waiting == 2  # the first request is complete


def test_an_expired_request_ends_and_heartbeats_change_nothing() -> None:
    async def scenario() -> IntentPuller:
        puller, _, _ = make_puller()
        await puller.pull(5)
        await puller.pull(5)
        await puller._on_message(b"_INBOX.x", b"", b"", b"NATS/1.0 100 Idle Heartbeat\r\n\r\n")
        assert puller.waiting == 10
        await puller._on_message(b"_INBOX.x", b"", b"",
                                 b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 5\r\n\r\n")
        return puller

    puller = asyncio.run(scenario())
    assert puller.open_requests == 1 and puller.waiting == 5
    assert puller.changed.is_set()


def test_a_reset_forgets_every_open_request() -> None:
    puller, _, _ = make_puller()
    asyncio.run(puller.pull(8))
    puller.reset()
    assert puller.waiting == 0 and puller.open_requests == 0


def test_a_request_nobody_takes_holds_the_next_one_back(caplog) -> None:
    # 503: no consumer leader (a cluster electing one). Asking again at once would spin.
    from supervisor.puller import NO_RESPONDERS_BACKOFF_S

    fake_time = FakeTime()

    async def scenario() -> tuple[IntentPuller, list[float]]:
        puller, _, _ = make_puller(fake_time)
        sent_at = []
        for _ in range(3):
            await puller.pull(4)
            sent_at.append(fake_time.now)
            await puller._on_message(b"_INBOX.x", b"", b"", b"NATS/1.0 503\r\n\r\n")
            assert puller.open_requests == 0 and puller.changed.is_set()
        await puller.pull(4)
        await puller._on_message(b"_INBOX.x", b"", b"", b"NATS/1.0 408 Request Timeout\r\n\r\n")
        return puller, sent_at

    with caplog.at_level("INFO", logger="at_exec_sim.puller"):
        puller, sent_at = asyncio.run(scenario())
    # Each request after a 503 waited out the backoff, and no longer.
    assert fake_time.slept == [NO_RESPONDERS_BACKOFF_S] * 3
    assert [b - a for a, b in zip(sent_at, sent_at[1:])] == [NO_RESPONDERS_BACKOFF_S] * 2
    # One warning for the outage, not one per request, and a line when the consumer answers again.
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
