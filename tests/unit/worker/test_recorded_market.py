"""MARKET_DATA=file in the worker: fills priced from recorded records, with no look-ahead.

The simulator is the real one, over tapes made as the supervisor makes them (a record's
columns as worker.quote_tape's bytes in Settings.recorded_market); bars come through the
real file loader. Every event of `execute` is checked against its at-core schema.
"""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from common.market_files import BARS, FileLayout, RecordedMarketData, load_csv
from common.market_records import QuoteRecord
from tests.builders import FIXED_DELAY, SEED, T0, accept, bodies_of, execute, fills_of, make_intent, make_settings, update_of
from worker.events import iso_ms
from worker.quote_tape import QuoteTape, tape_bytes
from worker.simulator import ExecutionSimulator

ARRIVAL = T0 + FIXED_DELAY
EURUSD_HALF_SPREAD = 0.6 / 20_000  # the instruments file's spread_bps, halved, as a fraction of the mid


def recorded(records: list[QuoteRecord], kind: str = "quotes", instrument: str = "EURUSD") -> RecordedMarketData:
    return RecordedMarketData(((instrument, tape_bytes(QuoteTape.from_records(records))),), kind, ())


def file_settings(data: RecordedMarketData, **kw: Any) -> dict[str, Any]:
    return {"simulation_clock": "virtual", "market_data": "file", "recorded_market": data, **kw}


def market_buy(data: RecordedMarketData, **kw: Any) -> list[dict[str, Any]]:
    _, bodies = execute(file_settings(data, **kw), side="buy", quantity=1000)
    return bodies


def test_a_market_order_fills_at_the_record_in_force_at_its_arrival_never_a_later_one():
    data = recorded([QuoteRecord(T0 - 5000, 1.1000, 1.1002, 9e6, 9e6),
                     QuoteRecord(ARRIVAL, 1.1010, 1.1012, 9e6, 9e6),
                     QuoteRecord(ARRIVAL + 1, 1.2000, 1.2002, 9e6, 9e6)])
    [fill] = fills_of(market_buy(data))
    assert (fill["fill_status"], fill["fill_price"]) == ("full", 1.1012)
    assert fill["market_data"]["ask"] == 1.1012 and fill["timestamp"] == iso_ms(ARRIVAL)
    assert fill["metadata"]["market_source"] == "recorded"


# Random tapes of one instrument: times around the arrival instant, in order, with spreads.
_records = st.lists(st.tuples(st.integers(-90_000, 90_000), st.integers(100_000, 120_000), st.integers(0, 40)),
                    min_size=1, max_size=25)


@settings(max_examples=40, deadline=None)
@given(rows=_records, arrival_offset=st.integers(-100_000, 100_000))
def test_property_a_market_buy_pays_the_ask_of_the_last_fresh_record_at_or_before_its_arrival(rows, arrival_offset):
    rows = sorted(rows, key=lambda r: r[0])
    records = [QuoteRecord(T0 + dt, bid / 100_000, (bid + spread) / 100_000, 9e6, 9e6) for dt, bid, spread in rows]
    arrival = T0 + arrival_offset
    sim = ExecutionSimulator(make_settings(min_delay_ms=0, max_delay_ms=0, **file_settings(recorded(records))), SEED)
    bodies = bodies_of(sim.simulate(accept(make_intent(quantity=1000, ts_ms=arrival), ts_ms=arrival)))
    [fill] = fills_of(bodies)
    known = [r for r in records if r.at_ms <= arrival]
    if not known or arrival - known[-1].at_ms > 60_000:
        assert fill["metadata"]["reason_code"] == "no_market_data"
        return
    assert (fill["fill_status"], fill["fill_price"]) == ("full", round(known[-1].ask, 5))


def test_a_resting_limit_fills_at_the_first_record_that_crosses_it():
    data = recorded([QuoteRecord(T0, 1.1000, 1.1002, 9e6, 9e6),
                     QuoteRecord(T0 + 10_000, 1.0996, 1.0999, 9e6, 9e6),  # ask above the limit: no
                     QuoteRecord(T0 + 20_000, 1.0990, 1.0995, 9e6, 9e6),  # first ask at the limit
                     QuoteRecord(T0 + 30_000, 1.0980, 1.0982, 9e6, 9e6)])
    _, bodies = execute(file_settings(data), side="buy", quantity=1000, order_type="limit", price=1.0995,
                        metadata={"time_in_force": "GTC"})
    [fill] = fills_of(bodies)
    assert (fill["fill_status"], fill["fill_price"], fill["timestamp"]) == ("full", 1.0995, iso_ms(T0 + 20_000))


def test_no_record_in_force_is_a_no_market_data_rejection():
    stale = recorded([QuoteRecord(ARRIVAL - 60_001, 1.1, 1.1002, 9e6, 9e6)])
    only_later = recorded([QuoteRecord(ARRIVAL + 1, 1.1, 1.1002)])
    other_instrument = recorded([QuoteRecord(T0, 1, 1)], instrument="GBPUSD")
    for data in (stale, only_later, other_instrument):
        bodies = market_buy(data)
        [fill], update = fills_of(bodies), update_of(bodies)
        assert fill["fill_status"] == "rejected" and fill["metadata"]["reason_code"] == "no_market_data"
        assert update is not None and update["status"] == "rejected"
        assert update["metadata"]["reason_code"] == "no_market_data"


def test_the_execution_names_its_ending_so_the_supervisor_counts_no_market_data_without_reading_events():
    in_force = recorded([QuoteRecord(ARRIVAL - 1, 1.1, 1.1002, 9e6, 9e6)])
    stale = recorded([QuoteRecord(ARRIVAL - 60_001, 1.1, 1.1002, 9e6, 9e6)])
    filled, _ = execute(file_settings(in_force), side="buy", quantity=1000)
    refused, bodies = execute(file_settings(stale), side="buy", quantity=1000)
    assert filled.final_status == "full" and filled.ending_code == ""
    assert refused.ending_code == "no_market_data" == fills_of(bodies)[-1]["metadata"]["reason_code"]


def test_the_synthetic_fallback_prices_an_instrument_without_data_from_the_synthetic_path():
    data = recorded([QuoteRecord(T0, 1, 1)], instrument="GBPUSD")
    [fill] = fills_of(market_buy(data, market_data_fallback="synthetic"))
    [synthetic] = fills_of(market_buy(recorded([QuoteRecord(T0, 1, 1)], instrument="GBPUSD"),
                                      market_data="synthetic", recorded_market=None))
    assert fill["fill_status"] == "full" and fill["fill_price"] == synthetic["fill_price"]
    # The fill says so: an agent can tell the fallback's fills from the data's; the synthetic
    # market alone adds nothing.
    assert fill["metadata"]["market_source"] == "synthetic" and "market_source" not in synthetic["metadata"]


BAR_START = T0 - 123  # 10:31:00.000: the order (T0 + 500) arrives inside the first bar
BARS_CSV = f"""time,instrument,open,high,low,close
{BAR_START},EURUSD,1.1000,1.1010,1.0990,1.1005
{BAR_START + 60_000},EURUSD,1.1006,1.1020,1.0980,1.1015
{BAR_START + 120_000},EURUSD,1.1016,1.1030,1.1010,1.1020
"""


def bars() -> RecordedMarketData:
    loaded = load_csv(io.StringIO(BARS_CSV), FileLayout(kind=BARS, time_unit="ms"))
    return recorded(list(loaded.records["EURUSD"]), kind=BARS)


def test_bars_a_market_order_fills_at_the_next_bars_open_at_its_start():
    [fill] = fills_of(market_buy(bars()))
    assert fill["timestamp"] == iso_ms(BAR_START + 60_000)
    assert fill["fill_price"] == round(1.1006 * (1 + EURUSD_HALF_SPREAD), 5)


def test_bars_a_limit_fills_at_its_limit_at_the_end_of_the_first_later_bar_that_reaches_it():
    # The first bar's low (1.0990) reaches the limit, but it may have printed before the order arrived.
    _, bodies = execute(file_settings(bars()), side="buy", quantity=1000, order_type="limit", price=1.0992,
                        metadata={"time_in_force": "GTC"})
    [fill] = fills_of(bodies)
    assert (fill["fill_price"], fill["timestamp"]) == (1.0992, iso_ms(BAR_START + 120_000))


def test_the_same_input_twice_gives_byte_identical_events():
    data = bars()
    first, _ = execute(file_settings(data), side="sell", quantity=3000)
    again, _ = execute(file_settings(data), side="sell", quantity=3000)
    assert [e.payload for e in first.events] == [e.payload for e in again.events]
