"""The quote feed the load generator can publish beside its intents (`--feed-rate`).

Runs in the loadgen process: QuoteMaker is pure, publish_feed is a task on the
run's asyncio loop. Each quote follows the L1 quote contract
(schemas/market_quote.schema.json, docs/market-data.md) and goes to its
instrument's subject, common.contracts.quote_subject (`market.quote.BTCUSD` for
BTC/USD), by core NATS publish: a stream whose subjects cover market.> stores
them (the run checks at the start and says when none does).

Prices are the synthetic market's book at the quote's instant (worker.market,
seeded with the service's seed: SIMULATION_SEED, else the stream and durable
names), so they sit where the service's own synthetic market would put them:
bid below ask, on the tick grid. That market moves once a second (its step):
faster quotes of one instrument repeat its prices, as a venue's quotes do
between trades, and only the sizes at the touch move (drawn around the
market's touch size, whole lots, at least one). Quotes are spread evenly over
the instruments, in turn; the rate is the feed's total. The feed opens with one
quote of every instrument at once (its first round, counted in the rate) and
sets FeedStats.primed: the run sends its first intent only then, so a service
pricing from the bus has a quote in force for every instrument of the feed from
the first intent on.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from common.contracts import quote_subject
from common.instruments import InstrumentBook
from worker.events import iso_ms
from worker.market import Market

SOURCE = "at-exec-sim-loadgen"
TICK_S = 0.01  # the feed publishes what fell due every 10 ms


@dataclass(frozen=True)
class FeedOptions:
    rate_per_s: float
    instruments: tuple[str, ...]
    duration_s: float | None = None  # feed-only runs (--count 0): how long to publish


class QuoteMaker:
    def __init__(self, seed: bytes, book: InstrumentBook, rng_seed: int = 0) -> None:
        self._market = Market(seed, book)
        self._book = book
        self._rng = random.Random(rng_seed)

    def warm_up(self, instruments: tuple[str, ...]) -> None:
        """Build each instrument's price path now (~50 ms each), not while the feed keeps time."""
        for instrument in instruments:
            self._market.quote(instrument, int(time.time() * 1000))

    def quote(self, instrument: str, at_ms: int) -> dict[str, Any]:
        """One schema-valid L1 quote of `instrument` at epoch ms `at_ms`."""
        q = self._market.quote(instrument, at_ms)
        info = self._book.get(instrument)
        bid, ask = q.bid, q.ask
        if ask <= bid:  # never crossed or locked, whatever the rounding did
            ask = round(bid + info.tick_size, 10)
        return {
            "instrument": instrument,
            "bid": bid,
            "ask": ask,
            "bid_size": self._size(q.bid_size, info.lot_size),
            "ask_size": self._size(q.ask_size, info.lot_size),
            "timestamp": iso_ms(at_ms),
            "source": SOURCE,
        }

    def _size(self, touch: float, lot: float) -> float:
        lots = max(round(max(touch, lot) * self._rng.uniform(0.5, 1.5) / lot), 1)
        size = lots * lot
        return int(size) if float(size).is_integer() else round(size, 8)


@dataclass
class FeedStats:
    published: Counter[str] = field(default_factory=Counter)  # by instrument
    started_s: float | None = None
    last_s: float | None = None
    stored_in: dict[str, str | None] = field(default_factory=dict)  # subject -> stream (None: no stream)
    primed: asyncio.Event = field(default_factory=asyncio.Event)  # the first round is published

    @property
    def total(self) -> int:
        return sum(self.published.values())

    def as_dict(self, rate_per_s: float) -> dict[str, Any]:
        span = (self.last_s or 0) - (self.started_s or 0)
        return {"target_rate_per_s": rate_per_s, "published": self.total,
                "achieved_rate_per_s": round(self.total / span, 1) if span > 0 else None,
                "by_instrument": dict(self.published), "stored_in": dict(self.stored_in)}


async def check_storage(js: Any, instruments: tuple[str, ...], stats: FeedStats) -> list[str]:
    """Which stream stores each instrument's subject; one warning line naming those none does.
    Asked at once: a user that may not ask (deploy/nats.conf's `feed`) waits one timeout, not one each."""
    subjects = [quote_subject(instrument) for instrument in instruments]
    answers = await asyncio.gather(*(js.find_stream_name_by_subject(s) for s in subjects), return_exceptions=True)
    unstored = []
    for subject, answer in zip(subjects, answers, strict=True):
        # An exception: not found, or not allowed to ask. The quotes go out all the same.
        stats.stored_in[subject] = None if isinstance(answer, BaseException) else answer
        if stats.stored_in[subject] is None:
            unstored.append(subject)
    if not unstored:
        return []
    return [f"no stream stores {', '.join(unstored)} (or this user may not ask): the quotes are published, "
            "and a service reads them only if its stream stores them"]


async def publish_feed(nc: Any, maker: QuoteMaker, options: FeedOptions, stats: FeedStats,
                       clock: Callable[[], float] = time.monotonic) -> None:
    """Publish quotes at options.rate_per_s until cancelled (or for options.duration_s)."""
    subjects = {i: quote_subject(i) for i in options.instruments}
    total = None if options.duration_s is None else int(options.duration_s * options.rate_per_s)
    first_round = len(options.instruments)
    started = stats.started_s = clock()
    sent = 0
    while True:
        elapsed = clock() - started
        due = max(int(elapsed * options.rate_per_s), first_round)
        due = due if total is None else min(due, total)
        now_ms = int(time.time() * 1000)
        while sent < due:
            instrument = options.instruments[sent % len(options.instruments)]
            await nc.publish(subjects[instrument], orjson.dumps(maker.quote(instrument, now_ms)))
            stats.published[instrument] += 1
            sent += 1
        stats.primed.set()
        stats.last_s = clock()
        if total is not None and sent >= total:
            return
        await asyncio.sleep(TICK_S)
