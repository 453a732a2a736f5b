"""The quote feed of bench/market_bus.py: its own process, publishing L1 quotes at a rate the bench sets.

tools/loadgen/feed.py's QuoteMaker makes each quote (schema-valid, on
market.quote.<TOKEN>, the synthetic market's book at the instant); core publishes,
what fell due every --feed-tick-ms, in turn over the instruments. The bench changes
the rate between cases through shared values (0 stops the quotes) and asks for one
quote per instrument at once (a snapshot: the quiet feed's quotes in force).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any, NamedTuple

import nats
import orjson

from common.contracts import quote_subject
from tools import sample_intents as si

FEED_TICK_MS = 1.0  # the feed publishes what fell due every millisecond: 5 quotes at a time at 5,000/s
FEED_SEED = b"bench-market-bus"


def instruments(count: int) -> tuple[str, ...]:
    """The instruments file's listed instruments first, then unlisted ones (its [defaults])."""
    listed = tuple(si.book().listed)[:count]
    return listed + tuple(f"BMK{i:02d}" for i in range(count - len(listed)))


class FeedControl(NamedTuple):
    rate: Any  # multiprocessing.Value("d"): quotes per second over all instruments; 0 stops them
    snapshots: Any  # Value("i"): raised by one to have one quote per instrument published now
    published: Any  # Value("q"): quotes published so far
    ready: Any  # Event: warmed up and connected
    stop: Any  # Event


def feed(url: str, names: tuple[str, ...], control: FeedControl, tick_s: float) -> None:
    """Quotes at control.rate, in turn over `names`, until control.stop (core publishes)."""
    from tools.loadgen.feed import QuoteMaker

    maker = QuoteMaker(FEED_SEED, si.book())
    maker.warm_up(names)
    subject_of = {name: quote_subject(name) for name in names}

    async def run() -> None:
        nc = await nats.connect(url, pending_size=16 * 1024 * 1024)
        control.ready.set()
        rate, started, sent, snapshots, total = 0.0, time.monotonic(), 0, 0, 0
        while not control.stop.is_set():
            now_ms = int(time.time() * 1000)
            if control.snapshots.value != snapshots:
                snapshots = control.snapshots.value
                for name in names:
                    await nc.publish(subject_of[name], orjson.dumps(maker.quote(name, now_ms)))
                total += len(names)
            if control.rate.value != rate:
                rate, started, sent = control.rate.value, time.monotonic(), 0
            due = int((time.monotonic() - started) * rate)
            while sent < due:
                name = names[total % len(names)]
                await nc.publish(subject_of[name], orjson.dumps(maker.quote(name, now_ms)))
                sent += 1
                total += 1
            control.published.value = total
            await asyncio.sleep(tick_s)
        await nc.flush()
        await nc.close()

    asyncio.run(run())


class Feed:
    def __init__(self, url: str, names: tuple[str, ...], tick_ms: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.control = FeedControl(context.Value("d", 0.0), context.Value("i", 0), context.Value("q", 0),
                                   context.Event(), context.Event())
        self.process = context.Process(target=feed, args=(url, names, self.control, tick_ms / 1000), daemon=True)

    def __enter__(self) -> Feed:
        self.process.start()
        if not self.control.ready.wait(120):
            raise RuntimeError("the feed did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.control.stop.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()

    def set(self, rate: float, snapshot: bool = False) -> None:
        if snapshot:
            with self.control.snapshots.get_lock():
                self.control.snapshots.value += 1
        self.control.rate.value = rate

    @property
    def published(self) -> int:
        return int(self.control.published.value)

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid
