"""The demo's market on the bus: the service's settings for it, and its fills beside the feed's quotes.

Runs in the demo's process (tools/demo.py), after the load generator's run and before
the embedded nats-server stops. Under `at-exec-sim demo --market bus` (the default) the
service runs with MARKET_DATA=bus and the load generator's quote feed
(tools/loadgen/feed.py) publishes the demo's instruments on market.quote.<SYMBOL>, from
the synthetic market seeded as the service is. This module reads back from the stream
the feed's quotes with the times the stream stored them, and the fills, and pairs each
market order's first fill with the quote in force at its market time: the last quote
of its instrument stored at or before that instant, the rule the service prices by
(docs/market-data.md). Under the default fill-price model a market order's first fill
takes the touch, so a buy shows the ask of that quote and a sell its bid; a fill
priced anywhere else is shown as off the touch, never hidden.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.table import Table

from common.config import Settings
from common.contracts import MARKET_QUOTE_PREFIX, quote_subject
from supervisor.inflight import delivery_of
from worker.events import EXECUTED_STATUSES

# What the demo's service runs with, whatever the caller's environment says about the market.
SERVICE_ENV = {"MARKET_DATA": "bus", "MARKET_QUOTE_SUBJECTS": f"{MARKET_QUOTE_PREFIX}.>",
               "MARKET_SIGNAL_SUBJECT": "", "SIMULATION_CLOCK": "wall"}
FEED_RATE_PER_S = 90.0  # the feed's total: ten quotes a second of each of the nine sample instruments
SHOWN_PER_INSTRUMENT = 2  # the first and the last market fill of each instrument
READ_BATCH = 500
READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class StoredQuote:
    at_ms: int  # the time the stream stored it: the time the service gives it
    bid: float
    ask: float


@dataclass(frozen=True)
class FillBeside:
    """A market order's first fill and the quote of its instrument in force at its market time."""

    instrument: str
    side: str
    market_ms: int
    price: float
    quote: StoredQuote | None  # None: no quote of the instrument stored by then

    @property
    def priced_at(self) -> str | None:
        """"ask" or "bid" when the price is that side of the quote in force, else None."""
        if self.quote is None:
            return None
        touch = ("ask", self.quote.ask) if self.side == "buy" else ("bid", self.quote.bid)
        return touch[0] if self.price == touch[1] else None


def in_force(quotes: list[StoredQuote], at_ms: int) -> StoredQuote | None:
    """The last of `quotes` (in stream order) stored at or before `at_ms`: no look-ahead."""
    index = bisect_right([q.at_ms for q in quotes], at_ms)
    return quotes[index - 1] if index else None


def pair(fills: Iterable[dict[str, Any]], quotes: dict[str, list[StoredQuote]]) -> list[FillBeside]:
    """Every market order's first executed fill (once, however often it was reported), in market
    time, beside its instrument's quote in force then; `quotes` by subject, in stream order."""
    seen: set[str] = set()
    rows = []
    for fill in fills:
        metadata = fill.get("metadata") or {}
        if (metadata.get("order_type") != "market" or metadata.get("fill_index") != 1
                or fill.get("fill_status") not in EXECUTED_STATUSES or fill["fill_id"] in seen):
            continue
        seen.add(fill["fill_id"])
        market_ms = _ms(metadata["market_time"])
        subject = quote_subject(fill["instrument"])
        rows.append(FillBeside(fill["instrument"], fill["side"], market_ms, fill["fill_price"],
                               in_force(quotes.get(subject, []), market_ms)))
    return sorted(rows, key=lambda r: (r.instrument, r.market_ms))


def shown(rows: list[FillBeside], per_instrument: int = SHOWN_PER_INSTRUMENT) -> list[FillBeside]:
    """The first and the last of each instrument's rows (all of them when there are no more)."""
    by_instrument: dict[str, list[FillBeside]] = {}
    for row in rows:
        by_instrument.setdefault(row.instrument, []).append(row)
    picked = []
    for instrument_rows in by_instrument.values():
        if len(instrument_rows) <= per_instrument:
            picked += instrument_rows
        else:
            picked += instrument_rows[: per_instrument - 1] + instrument_rows[-1:]
    return picked


def table(rows: list[FillBeside]) -> Table:
    table = Table(title="fills beside the feed's quote in force at their arrival", header_style="bold")
    for name, justify in (("instrument", "left"), ("side", "left"), ("arrival (UTC)", "left"),
                          ("fill price", "right"), ("bid", "right"), ("ask", "right"), ("quote age", "right"),
                          ("priced at", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        quote = row.quote
        table.add_row(row.instrument, row.side, _clock(row.market_ms), f"{row.price}",
                      f"{quote.bid}" if quote else "-", f"{quote.ask}" if quote else "-",
                      f"{row.market_ms - quote.at_ms} ms" if quote else "-",
                      row.priced_at or ("no quote" if quote is None else "off the touch"))
    return table


def verdict(checked: list[FillBeside]) -> str:
    """One line on every market order's first fill, shown or not."""
    at_touch = sum(1 for r in checked if r.priced_at)
    return (f"market orders' first fills: {at_touch} of {len(checked)} at the touch of the quote in force at "
            "their arrival (a buy at its ask, a sell at its bid)")


async def read_back(url: str, settings: Settings) -> tuple[list[dict[str, Any]], dict[str, list[StoredQuote]]]:
    """The run's fills and the feed's quotes (by subject, in stream order), read from the stream."""
    nc = await nats.connect(url, connect_timeout=3, allow_reconnect=False)
    try:
        js = nc.jetstream()
        fills = [orjson.loads(m.data) for m in await _read_all(js, settings.nats_stream, settings.subject_fill)]
        quotes: dict[str, list[StoredQuote]] = {}
        for msg in await _read_all(js, settings.nats_stream, f"{MARKET_QUOTE_PREFIX}.>"):
            body = orjson.loads(msg.data)
            quotes.setdefault(msg.subject, []).append(StoredQuote(delivery_of(msg)[2], body["bid"], body["ask"]))
        return fills, quotes
    finally:
        await nc.close()


async def _read_all(js: Any, stream: str, subject: str) -> list[Any]:
    """Every message of `subject` the stream holds now, through a consumer of the demo's own."""
    sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30))
    try:
        messages: list[Any] = []
        remaining = (await sub.consumer_info()).num_pending
        while remaining > 0:
            batch = await sub.fetch(min(remaining, READ_BATCH), timeout=READ_TIMEOUT_S)
            messages += batch
            remaining -= len(batch)
        return messages
    finally:
        await sub.unsubscribe()


def fills_beside_quotes(url: str, settings: Settings) -> tuple[list[FillBeside], list[FillBeside]]:
    """(the rows shown, every row checked) for the run the demo has just made."""
    fills, quotes = asyncio.run(asyncio.wait_for(read_back(url, settings), READ_TIMEOUT_S * 3))
    checked = pair(fills, quotes)
    return shown(checked), checked


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _clock(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
