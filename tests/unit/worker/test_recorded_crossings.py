"""MARKET_DATA=file: the instant and the record a resting order's crossing is priced from.

Stops under bars (docs/market-data.md, "Bars and their fill convention"): a stop triggers at
the end of the first later bar whose range reaches it, and fills at the record in force there
(the next bar's open, or before a gap the bar's close), not at the high or low that triggered
it. Price-only records (trades, bars): the first record crossed is the first whose side, as
the view rounds it, reaches the level, exactly. The simulator is the real one, over bars
loaded by the real file loader.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.market_files import BARS, TRADES, FileLayout, RecordedMarketData, load_csv
from common.market_records import QuoteRecord
from tests.builders import SEED, T0, execute, fills_of, make_settings
from worker.events import iso_ms
from worker.quote_tape import QuoteTape, tape_bytes
from worker.recorded_market import RecordedMarket
from worker.synthetic_market import SyntheticMarket

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


# -- price-only records: crossings exact to the tick ------------------------------------------------
# A trade (or a bar's price) is a mid; quote() rounds the spread around it to the mid's decimals
# (EURUSD: 6). The first record a resting order crosses is the first whose rounded side reaches the
# level, never one a rounding earlier or later. Each case: (side, order type, in force at the
# arrival, a mid whose rounded touch is one unit short of 1.1, one whose rounded touch is 1.1
# though its unrounded one is not, a mid far across).
TICK_CASES = [
    ("buy", "limit", 1.1010, 1.0999678, 1.0999673, 1.0990),  # ask 1.100001, then 1.100000 (1.1000003 unrounded)
    ("sell", "limit", 1.0990, 1.1000322, 1.1000327, 1.1010),  # bid 1.099999, then 1.100000 (1.0999997)
    ("buy", "stop", 1.0990, 1.0999662, 1.0999667, 1.1010),  # ask 1.099999, then 1.100000 (1.0999997)
    ("sell", "stop", 1.1010, 1.1000338, 1.1000333, 1.0990),  # bid 1.100001, then 1.100000 (1.1000003)
]


def trades(rows: list[tuple[int, float]]) -> RecordedMarketData:
    tape = QuoteTape.from_records([QuoteRecord(at, price, price) for at, price in rows])
    return RecordedMarketData((("EURUSD", tape_bytes(tape)),), TRADES, ())


@pytest.mark.parametrize("side, order_type, before, short, reaches, far", TICK_CASES)
def test_price_only_a_resting_order_fills_at_the_first_record_whose_rounded_touch_reaches_its_level(
        side, order_type, before, short, reaches, far):
    data = trades([(T0 - 1000, before), (T0 + 10_000, short), (T0 + 20_000, reaches), (T0 + 30_000, far)])
    level = {"price": 1.1} if order_type == "limit" else {"stop_price": 1.1}
    [fill] = resting(data, side, order_type, **level)
    touched = fill["market_data"]["ask" if side == "buy" else "bid"]
    assert (fill["fill_status"], fill["timestamp"], touched) == ("full", iso_ms(T0 + 20_000), 1.1)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticMarket:
    return SyntheticMarket(SEED, make_settings().instruments, False)


def scan(view: RecordedMarket, times: list[int], level: float, above: bool, side: str) -> int | None:
    """The first record's time whose quote, as the view prices it, has `side` at or beyond `level`."""
    for at in times:
        value = getattr(view.quote("EURUSD", at), side)
        if value >= level if above else value <= level:
            return at
    return None


@settings(max_examples=300, deadline=None)
@given(offsets=st.lists(st.integers(-80, 80), min_size=1, max_size=40), level_tenths=st.integers(-9, 9),
       above=st.booleans(), side=st.sampled_from(["bid", "ask"]), block=st.sampled_from([1, 3, 1024]))
def test_property_a_price_only_search_finds_the_record_quote_prices_across_the_level(synthetic, offsets, level_tenths,
                                                                                      above, side, block):
    # Mids within a unit of the mid level around a level on and off the 6-decimal grid (a level off
    # it: SIMULATION_OFF_GRID=accept), in steps of a hundredth of a unit.
    level = round(1.1 + level_tenths * 1e-7, 7)
    half = 0.6 / 20_000
    base = level / (1 + half if side == "ask" else 1 - half)
    times = [T0 + 1000 * k for k in range(len(offsets))]
    tape = QuoteTape.from_records([QuoteRecord(at, base + o * 1e-8, base + o * 1e-8) for at, o in zip(times, offsets)],
                                  block=block)
    view = RecordedMarket({"EURUSD": tape}, TRADES, synthetic, 60_000, False)
    expected = scan(view, times, level, above, side)
    assert view.first_crossing("EURUSD", T0, times[-1] + 1, level, above, side) == expected
