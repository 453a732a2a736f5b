"""MARKET_DATA=file: the instant and the record a resting order's crossing is priced from.

Stops under bars (docs/market-data.md, "Bars and their fill convention"): a stop triggers at
the end of the first later bar whose range reaches it, and fills at the record in force there
(the next bar's open, or before a gap the bar's close), not at the high or low that triggered
it. The simulator is the real one, over bars loaded by the real file loader.
"""

from __future__ import annotations

import io
from typing import Any

from common.market_files import BARS, FileLayout, RecordedMarketData, load_csv
from common.market_records import QuoteRecord
from tests.builders import T0, execute, fills_of
from worker.events import iso_ms
from worker.quote_tape import QuoteTape, tape_bytes

EURUSD_HALF_SPREAD = 0.6 / 20_000  # the instruments file's spread_bps, halved, as a fraction of the mid
BAR_START = T0 - 123  # the orders (T0 + 500) arrive inside the first bar
MINUTE = 60_000
BARS_BACK_TO_BACK = [  # (start, open, high, low, close)
    (BAR_START, 1.1000, 1.1010, 1.0990, 1.1005),
    (BAR_START + MINUTE, 1.1006, 1.1020, 1.0980, 1.1015),
    (BAR_START + 2 * MINUTE, 1.1016, 1.1030, 1.1010, 1.1020),
    (BAR_START + 3 * MINUTE, 1.1040, 1.1050, 1.1030, 1.1045),
]
# The last bar after a gap (its start is a minute after the previous bar's end).
BARS_WITH_GAP = [*BARS_BACK_TO_BACK[:3], (BAR_START + 4 * MINUTE, 1.1040, 1.1050, 1.1030, 1.1045)]


def bars(rows: list[tuple[int, float, float, float, float]]) -> RecordedMarketData:
    text = "time,instrument,open,high,low,close\n" + "".join(f"{t},EURUSD,{o},{h},{lo},{c}\n" for t, o, h, lo, c in rows)
    loaded = load_csv(io.StringIO(text), FileLayout(kind=BARS, time_unit="ms"))
    tape = QuoteTape.from_records(loaded.records["EURUSD"])
    return RecordedMarketData((("EURUSD", tape_bytes(tape)),), BARS, ())


def resting(data: RecordedMarketData, side: str, order_type: str, **kw: Any) -> list[dict[str, Any]]:
    settings = {"simulation_clock": "virtual", "market_data": "file", "recorded_market": data}
    _, bodies = execute(settings, side=side, quantity=1000, order_type=order_type, metadata={"time_in_force": "GTC"},
                        **kw)
    return fills_of(bodies)


def touch(mid: float, side: str) -> float:
    """A buy's price (the ask) or a sell's (the bid) around a bar's price-only mid, on the tick."""
    return round(mid * (1 + EURUSD_HALF_SPREAD if side == "buy" else 1 - EURUSD_HALF_SPREAD), 5)


def test_bars_a_buy_stop_triggered_by_a_later_bars_high_fills_at_the_next_bars_open():
    # The third bar's high (1.1030) reaches the stop; the fourth bar opens at 1.1040 at that bar's end.
    [fill] = resting(bars(BARS_BACK_TO_BACK), "buy", "stop", stop_price=1.1025)
    assert (fill["fill_status"], fill["timestamp"]) == ("full", iso_ms(BAR_START + 3 * MINUTE))
    assert (fill["market_data"]["mid"], fill["fill_price"]) == (1.1040, touch(1.1040, "buy"))


def test_bars_a_sell_stop_triggered_by_a_later_bars_low_fills_at_the_next_bars_open():
    # The second bar's low (1.0980) reaches the stop; the third bar opens at 1.1016.
    [fill] = resting(bars(BARS_BACK_TO_BACK), "sell", "stop", stop_price=1.0985)
    assert (fill["fill_status"], fill["timestamp"]) == ("full", iso_ms(BAR_START + 2 * MINUTE))
    assert (fill["market_data"]["mid"], fill["fill_price"]) == (1.1016, touch(1.1016, "sell"))


def test_bars_a_stop_triggered_by_the_last_bar_before_a_gap_fills_at_that_bars_close():
    [fill] = resting(bars(BARS_WITH_GAP), "buy", "stop", stop_price=1.1025)
    assert (fill["fill_status"], fill["timestamp"]) == ("full", iso_ms(BAR_START + 3 * MINUTE))
    assert (fill["market_data"]["mid"], fill["fill_price"]) == (1.1020, touch(1.1020, "buy"))


def test_bars_a_stop_limit_is_not_filled_by_the_bar_that_triggers_it():
    # The third bar's high (1.1030) triggers the stop and its ask is within the limit, but the
    # order executes from the next open (1.1040, above the limit) on: it rests, and the fourth
    # bar's low (1.1030) fills it at its limit at that bar's end.
    [fill] = resting(bars(BARS_BACK_TO_BACK), "buy", "stop_limit", stop_price=1.1025, price=1.1035)
    assert (fill["fill_status"], fill["timestamp"]) == ("full", iso_ms(BAR_START + 4 * MINUTE))
    assert fill["fill_price"] == 1.1035


def test_bars_a_stop_limit_the_next_open_reaches_fills_there_like_a_marketable_limit():
    [fill] = resting(bars(BARS_BACK_TO_BACK), "buy", "stop_limit", stop_price=1.1025, price=1.1045)
    assert (fill["fill_status"], fill["timestamp"]) == ("full", iso_ms(BAR_START + 3 * MINUTE))
    assert (fill["market_data"]["mid"], fill["fill_price"]) == (1.1040, touch(1.1040, "buy"))


def test_quotes_a_stop_still_fills_at_the_quote_that_triggered_it_even_under_a_later_one_of_its_millisecond():
    # Under quotes every record is a real quote: the one that reached the stop is the one traded at.
    at = T0 + 10_000
    records = [QuoteRecord(T0, 1.1000, 1.1002, 9e6, 9e6), QuoteRecord(at, 1.1008, 1.1010, 9e6, 9e6),
               QuoteRecord(at, 1.1000, 1.1002, 9e6, 9e6)]
    data = RecordedMarketData((("EURUSD", tape_bytes(QuoteTape.from_records(records))),), "quotes", ())
    [fill] = resting(data, "buy", "stop", stop_price=1.1005)
    assert (fill["timestamp"], fill["market_data"]["ask"], fill["fill_price"]) == (iso_ms(at), 1.1010, 1.1010)
