"""common.instruments: the shipped file, defaults for unknown symbols, and every bad file refused."""

from __future__ import annotations

import pytest

from common.config import ConfigError, load_settings
from common.instruments import (
    SHIPPED_FILE,
    InstrumentsError,
    hashed_reference_price,
    load_instruments,
    normalize,
    parse_instruments,
)
from worker.sessions import trading_sessions

GOOD_DEFAULTS = {"asset_class": "other", "calendar": "24/7", "daily_volatility": 0.02, "spread_bps": 4.0,
                 "adv": 1e6, "tick_size": 0.01, "lot_size": 1}

GOOD_DEFAULTS_TOML = "[defaults]\n" + "".join(
    f"{k} = {v!r}\n".replace("'", '"') for k, v in GOOD_DEFAULTS.items()
)


def test_shipped_file_covers_every_asset_class_with_working_calendars():
    book = load_instruments()
    assert {i.asset_class for i in book.listed.values()} == {"equity", "fx", "crypto", "future"}
    for info in book.listed.values():
        assert info.reference_price > 0 and info.adv > 0 and info.tick_size > 0 and info.lot_size > 0
        assert 0 < info.daily_volatility < 0.2
        trading_sessions(info.calendar)  # builds, or raises
    assert book.get("AAPL").calendar == "XNYS"
    assert book.get("EURUSD").calendar == "FX"
    assert book.get("BTC/USD").calendar == "24/7"
    assert book.get("ES_F").calendar == "CMES"


def test_spellings_match_one_instrument():
    book = load_instruments()
    assert book.get("btc-usd") is book.get("BTCUSD") is book.get("BTC/USD")
    assert normalize("es_f") == "ESF"


def test_unknown_symbols_get_the_defaults_and_a_price_hashed_from_the_name():
    book = load_instruments()
    info = book.get("ZZTOP")
    assert info.calendar == book.defaults["calendar"] == "24/7"
    assert info.daily_volatility == book.defaults["daily_volatility"]
    assert info.reference_price == hashed_reference_price("ZZTOP")
    assert 10 <= info.reference_price < 500
    assert book.get("ZZTOP") is info  # derived once


def test_listed_symbols_take_missing_fields_from_defaults():
    book = parse_instruments({"defaults": GOOD_DEFAULTS, "instruments": {"FOO": {"reference_price": 3.0}}})
    foo = book.get("foo")
    assert foo.reference_price == 3.0 and foo.adv == 1e6 and foo.calendar == "24/7"


def test_defaults_may_fix_one_price_for_every_unknown_symbol():
    book = parse_instruments({"defaults": {**GOOD_DEFAULTS, "reference_price": 100.0}})
    assert book.get("ANYTHING").reference_price == 100.0


def test_reference_prices_setting_overrides_the_file():
    settings = load_settings({"SIMULATION_REFERENCE_PRICES": "AAPL=100,NEWCOIN=3.5"})
    assert settings.instruments.get("AAPL").reference_price == 100.0
    assert settings.instruments.get("AAPL").calendar == "XNYS"  # the rest kept
    assert settings.instruments.get("NEWCOIN").reference_price == 3.5


def test_own_file_from_the_environment(tmp_path):
    own = tmp_path / "mine.toml"
    own.write_text(
        'reference_time = "2025-06-01T00:00:00Z"\n[defaults]\n'
        'asset_class = "other"\ncalendar = "XLON"\ndaily_volatility = 0.01\nspread_bps = 2\n'
        'adv = 5000\ntick_size = 0.5\nlot_size = 10\n[instruments.VOD]\nasset_class = "equity"\nreference_price = 70\n'
    )
    settings = load_settings({"SIMULATION_INSTRUMENTS_FILE": str(own)})
    vod = settings.instruments.get("VOD")
    assert (vod.calendar, vod.reference_price, vod.lot_size, vod.tick_size) == ("XLON", 70.0, 10.0, 0.5)
    assert settings.instruments.reference_ms == 1_748_736_000_000
    assert "AAPL" not in settings.instruments.listed


@pytest.mark.parametrize("text,problem", [
    ("not toml [", "not valid TOML"),
    ('[defaults]\nasset_class = "other"\n', "missing"),
    ('[defaults]\nasset_class = "bond"\n', "asset_class"),
    (GOOD_DEFAULTS_TOML + "[instruments.X]\nprice = 3\n", "unknown field"),
    ('colour = "red"\n', "unknown key"),
    ('reference_time = "yesterday"\n', "reference_time"),
    ('reference_time = "2025-01-01T00:00:00"\n', "time zone"),
])
def test_bad_files_are_configuration_errors(tmp_path, text, problem):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings({"SIMULATION_INSTRUMENTS_FILE": str(bad)})
    assert err.value.variable == "SIMULATION_INSTRUMENTS_FILE" and problem in str(err.value)


@pytest.mark.parametrize("field,value,problem", [
    ("reference_price", -1, "positive"),
    ("adv", 0, "positive"),
    ("tick_size", "0.01", "a number"),
    ("daily_volatility", 2e9, "fraction"),
    ("spread_bps", -0.5, "at least 0"),
    ("calendar", "XNOPE", "exchange_calendars"),
    ("lot_size", True, "a number"),
])
def test_bad_fields_are_named(field, value, problem):
    with pytest.raises(InstrumentsError) as err:
        parse_instruments({"defaults": GOOD_DEFAULTS, "instruments": {"FOO": {field: value}}})
    assert "FOO" in str(err.value) and problem in str(err.value)


def test_two_spellings_of_one_symbol_are_refused():
    with pytest.raises(InstrumentsError, match="same instrument"):
        parse_instruments({"defaults": GOOD_DEFAULTS, "instruments": {"BTC/USD": {}, "BTCUSD": {}}})


def test_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({"SIMULATION_INSTRUMENTS_FILE": str(tmp_path / "nope.toml")})


def test_shipped_file_is_in_the_package():
    assert SHIPPED_FILE.name == "instruments.toml" and SHIPPED_FILE.exists()


@pytest.mark.parametrize("field,value", [("lot_size", 6e-9), ("lot_size", 1e-10), ("lot_size", 0.000000015),
                                         ("tick_size", 1e-13)])
def test_sizes_finer_than_the_wire_are_refused(field, value):
    with pytest.raises(InstrumentsError, match=field):
        parse_instruments({"defaults": GOOD_DEFAULTS, "instruments": {"DUST": {field: value}}})


def test_the_books_fields_default_when_no_table_gives_them():
    book = parse_instruments({"defaults": GOOD_DEFAULTS, "instruments": {
        "THIN": {"adv": 5e4}, "DEEP": {"touch_depth": 750, "depth_levels": 5, "depth_recovery_s": 4.5}}})
    unknown, thin, deep = book.get("ANY"), book.get("THIN"), book.get("DEEP")
    assert (unknown.touch_depth, unknown.depth_levels, unknown.depth_recovery_s) == (100.0, 20, 30.0)  # adv / 10,000
    assert thin.touch_depth == 5.0  # its own adv's, not the defaults'
    assert (deep.touch_depth, deep.depth_levels, deep.depth_recovery_s) == (750.0, 5, 4.5)
    shipped = load_instruments()
    assert shipped.get("ES_F").touch_depth == 200 and shipped.get("AAPL").touch_depth == 3_000
    assert 1 <= shipped.get("BTC/USD").touch_depth <= 5


@pytest.mark.parametrize("field, value", [("depth_levels", 0), ("depth_levels", 2.5), ("depth_levels", 1001),
                                          ("touch_depth", 0), ("depth_recovery_s", -1)])
def test_bad_book_fields_are_refused(field, value):
    with pytest.raises(InstrumentsError, match=field):
        parse_instruments({"defaults": GOOD_DEFAULTS, "instruments": {"X": {field: value}}})
