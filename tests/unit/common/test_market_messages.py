"""Market messages off the bus (common/market_messages.py): what becomes a record, and what is counted as bad.

The quote's verdict must agree with the reference validator of its schema on every case,
a quote on another instrument's subject is refused, signals become quotes on the tick grid
around their price, stored times never go back, and the settings of the bus are checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from common.config import load_settings
from common.config_fields import ConfigError
from common.contracts import MARKET_QUOTE, SIGNAL, load_schema
from common.instruments import load_instruments
from common.market_messages import SCHEMA, SUBJECT_MISMATCH, TICK, BusReading, quote_record, record_of_price
from common.market_records import CROSSED, OUT_OF_ORDER, QuoteRecord

BOOK = load_instruments()
REFERENCE = Draft202012Validator(load_schema(MARKET_QUOTE), format_checker=Draft202012Validator.FORMAT_CHECKER)
GOOD = {"instrument": "BTC/USD", "bid": 94_990.5, "ask": 95_010.5, "bid_size": 2, "ask_size": 1.5,
        "timestamp": "2026-11-25T14:30:00.200Z"}

_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8), st.just("2026-11-25T14:30:00Z"), st.just("BTC/USD"))


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from([*GOOD, "volume", "source", "last_price", "extra"]), _values, max_size=3),
       drop=st.sets(st.sampled_from(list(GOOD)), max_size=2))
def test_property_a_quote_is_kept_exactly_when_its_schema_accepts_it(changes: dict[str, Any], drop: set[str]):
    quote = {k: v for k, v in {**GOOD, **changes}.items() if k not in drop}
    record = quote_record(orjson.dumps(quote), "BTCUSD", 7)
    if not REFERENCE.is_valid(quote):
        assert record == SCHEMA
    elif record != SUBJECT_MISMATCH:
        assert isinstance(record, QuoteRecord) and (record.at_ms, record.bid, record.ask) == (7, quote["bid"], quote["ask"])


def test_a_quote_on_another_instruments_subject_is_refused_and_any_spelling_of_its_own_is_kept():
    assert quote_record(orjson.dumps(GOOD), "ETHUSD", 1) == SUBJECT_MISMATCH
    assert isinstance(quote_record(orjson.dumps({**GOOD, "instrument": "BTC-USD"}), "BTCUSD", 1), QuoteRecord)
    assert quote_record(b"{not json", "BTCUSD", 1) == SCHEMA
    assert quote_record(b"[1, 2]", "BTCUSD", 1) == SCHEMA


@pytest.mark.parametrize("name, price", [("BTC/USD", 95_000.0), ("EURUSD", 1.0945), ("AAPL", 187.3), ("USDJPY", 151.2)])
def test_a_signals_price_becomes_a_quote_around_it_on_the_tick_grid(name: str, price: float):
    instrument = BOOK.get(name)
    record = record_of_price(price, instrument, 5)
    assert record.bid < price < record.ask
    for side in (record.bid, record.ask):
        assert abs(side / instrument.tick_size - round(side / instrument.tick_size)) < 1e-6
    half = price * instrument.spread_bps / 20_000
    assert record.ask - record.bid <= 2 * half + 2 * instrument.tick_size + 1e-9
    assert (record.bid_size, record.ask_size) == (0, 0)  # the instruments file's touch depth applies


def test_the_reading_keeps_stored_times_from_going_back_and_checks_each_instrument_in_order():
    reading = BusReading(BOOK, "sig.normalized", "m.tick")
    quote = orjson.dumps(GOOD)
    key, first = reading.read("m.quote.BTCUSD", quote, 1000)
    assert (key, first.at_ms) == ("BTCUSD", 1000)
    _, earlier = reading.read("m.quote.BTCUSD", quote, 990)  # a clock step back: counted as stored at 1000
    assert earlier.at_ms == 1000
    assert reading.read("m.tick.abc", b"", 1200) == TICK
    assert reading.read("m.quote.BTCUSD", orjson.dumps({**GOOD, "bid": 96_000}), 1300) == CROSSED
    assert OUT_OF_ORDER not in {reading.read("m.quote.BTCUSD", quote, t) for t in (1100, 1400)}
    signal = {"corr_id": "s1", "source": "test", "instrument": "EURUSD", "price": 1.0945,
              "timestamp": "2026-11-25T14:30:00Z", "normalized_at": "2026-11-25T14:30:01Z"}
    key, record = reading.read("sig.normalized", orjson.dumps(signal), 1500)
    assert key == "EURUSD" and record.bid < 1.0945 < record.ask
    assert reading.read("sig.normalized", orjson.dumps({**signal, "instrument": "ZZZ"}), 1600) == "not_listed"


def test_the_signal_schema_is_the_at_core_copy():
    shared = Path(__file__).resolve().parents[4] / "shared" / "contracts" / "at-core" / f"{SIGNAL}.schema.json"
    if not shared.exists():
        pytest.skip("the at-core contracts are not checked out beside the project")
    assert orjson.loads(shared.read_bytes()) == load_schema(SIGNAL)


@pytest.mark.parametrize("env, variable", [
    ({"MARKET_DATA": "bus", "SIMULATION_CLOCK": "virtual"}, "MARKET_DATA"),
    ({"MARKET_DATA": "bus", "MARKET_QUOTE_SUBJECTS": "market.>.quote"}, "MARKET_QUOTE_SUBJECTS"),
    ({"MARKET_DATA": "bus", "MARKET_QUOTE_SUBJECTS": "market.q*"}, "MARKET_QUOTE_SUBJECTS"),
    ({"MARKET_DATA": "bus", "MARKET_SIGNAL_SUBJECT": "signals.>"}, "MARKET_SIGNAL_SUBJECT"),
    ({"MARKET_DATA": "bus", "MARKET_WATERMARK_TICK_MS": "0"}, "MARKET_WATERMARK_TICK_MS"),
])
def test_settings_the_bus_cannot_run_with_name_their_variable(env: dict[str, str], variable: str):
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    assert refused.value.variable == variable


def test_the_bus_settings_read_their_subjects():
    s = load_settings({"MARKET_DATA": "bus", "MARKET_QUOTE_SUBJECTS": "md.quote.>, md.extra.*.x",
                       "MARKET_SIGNAL_SUBJECT": "signals.normalized"})
    assert (s.market_quote_subjects, s.market_signal_subject) == (("md.quote.>", "md.extra.*.x"), "signals.normalized")


def test_a_file_skips_rows_only_as_types_the_metric_knows():
    from common.market_files import SKIP_TYPES
    from common.market_messages import REJECTED_TYPES

    assert set(SKIP_TYPES) <= set(REJECTED_TYPES)
