"""The demo's fills beside the quote in force: which fills are paired, with which quote, and what is shown."""

from __future__ import annotations

from typing import Any

from tools.demo_market import FillBeside, StoredQuote, in_force, pair, shown, verdict
from worker.events import iso_ms

T0 = 1_796_000_000_000
QUOTES = {"market.quote.BTCUSD": [StoredQuote(T0, 100.0, 101.0), StoredQuote(T0 + 50, 102.0, 103.0),
                                  StoredQuote(T0 + 50, 104.0, 105.0), StoredQuote(T0 + 90, 106.0, 107.0)]}


def fill(fill_id: str, side: str, price: float, market_ms: int, order_type: str = "market", index: int = 1,
         status: str = "full", instrument: str = "BTC/USD") -> dict[str, Any]:
    return {"fill_id": fill_id, "instrument": instrument, "side": side, "fill_price": price, "fill_status": status,
            "metadata": {"order_type": order_type, "fill_index": index, "market_time": iso_ms(market_ms)}}


def test_the_quote_in_force_is_the_last_stored_at_or_before_the_instant():
    quotes = QUOTES["market.quote.BTCUSD"]
    assert in_force(quotes, T0 - 1) is None
    assert in_force(quotes, T0 + 49) == quotes[0]
    assert in_force(quotes, T0 + 50) == quotes[2]  # the same millisecond: the last one stored
    assert in_force(quotes, T0 + 10_000) == quotes[3]


def test_market_orders_first_executed_fills_are_paired_once_each():
    fills = [
        fill("a", "buy", 105.0, T0 + 60),
        fill("a", "buy", 105.0, T0 + 60),  # an injected duplicate: the same fill_id again
        fill("b", "sell", 100.0, T0 + 20),
        fill("c", "buy", 999.0, T0 + 95),  # priced elsewhere: shown as such, never dropped
        fill("d", "buy", 1.0, T0 + 1, order_type="limit"),
        fill("e", "buy", 1.0, T0 + 1, index=2),
        fill("f", "buy", 1.0, T0 + 1, status="rejected"),
        fill("g", "sell", 1.0, T0 + 1, instrument="ETH/USD"),  # no quote of it
    ]
    rows = pair(fills, QUOTES)
    assert [(r.instrument, r.side, r.market_ms, r.priced_at) for r in rows] == [
        ("BTC/USD", "sell", T0 + 20, "bid"), ("BTC/USD", "buy", T0 + 60, "ask"), ("BTC/USD", "buy", T0 + 95, None),
        ("ETH/USD", "sell", T0 + 1, None)]
    assert rows[1].quote == StoredQuote(T0 + 50, 104.0, 105.0) and rows[3].quote is None
    assert verdict(rows).startswith("market orders' first fills: 2 of 4 at the touch")


def test_each_instrument_shows_its_first_and_last_fill():
    rows = [FillBeside(instrument, "buy", T0 + i, 1.0, None) for instrument in ("A", "B") for i in range(4)]
    assert [(r.instrument, r.market_ms) for r in shown(rows[:5])] == [
        ("A", T0), ("A", T0 + 3), ("B", T0)]
