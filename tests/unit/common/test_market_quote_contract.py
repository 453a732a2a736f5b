"""The L1 quote contract (schemas/market_quote.schema.json) and the subject rule beside it.

Each example is judged by the reference validator (python-jsonschema with formats) and by
jsonschema-rs (the validator the hot path uses for intents); both must give the verdict expected.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator

from common.contracts import MARKET_QUOTE, load_schema, quote_subject

SCHEMA = load_schema(MARKET_QUOTE)
REFERENCE = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
HOT_PATH = jsonschema_rs.validator_for(SCHEMA, validate_formats=True)

MINIMAL = {"instrument": "EURUSD", "bid": 1.08951, "ask": 1.08953, "bid_size": 2_000_000, "ask_size": 1_500_000,
           "timestamp": "2026-11-25T14:30:00.200Z"}


def _verdicts(quote: dict[str, Any]) -> tuple[bool, bool]:
    return REFERENCE.is_valid(quote), HOT_PATH.is_valid(quote)


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert "extension" in SCHEMA["description"] and "not an at-core contract" in SCHEMA["description"]


@pytest.mark.parametrize("example", SCHEMA["examples"], ids=lambda e: e["instrument"])
def test_the_schemas_own_examples_are_valid(example: dict[str, Any]):
    assert _verdicts(example) == (True, True)


@pytest.mark.parametrize("changes", [
    {},
    {"instrument": "BTC/USD", "last_price": 95000.5, "last_size": 0.0, "volume": 0, "source": "feed-1.l1"},
    {"instrument": "ES_F", "bid_size": 0, "ask_size": 0},  # an empty side is a quote, not an error
    {"bid": 1.0, "ask": 1.0},  # locked: the schema cannot see crossed or locked, the tape checks it
    {"bid": 2.0, "ask": 1.0},  # crossed: valid here, counted and skipped by the tape's checker
    {"timestamp": "2026-11-25T14:30:00+01:00"},
], ids=["minimal", "with_trade_and_volume", "empty_sides", "locked", "crossed_is_the_checkers_job", "offset_time"])
def test_valid_quotes(changes: dict[str, Any]):
    assert _verdicts(MINIMAL | changes) == (True, True)


@pytest.mark.parametrize("changes", [
    {"bid": 0}, {"ask": -1.0}, {"bid_size": -0.5}, {"ask_size": -1}, {"last_price": 0}, {"last_size": -1},
    {"volume": -3}, {"bid": "1.08951"}, {"ask": True}, {"bid_size": None},
    {"timestamp": "2026-11-25 14:30:00"}, {"timestamp": "yesterday"}, {"timestamp": 1764081000000},
    {"instrument": "eurusd"}, {"instrument": "BTC.USD"}, {"instrument": "AB"}, {"instrument": "X" * 21},
    {"instrument": "BTC/USD/EUR"}, {"source": ""}, {"source": "a b"}, {"mid": 1.08952},
], ids=lambda c: "-".join(f"{k}={v!r}"[:30] for k, v in c.items()))
def test_invalid_quotes(changes: dict[str, Any]):
    assert _verdicts(MINIMAL | changes) == (False, False)


@pytest.mark.parametrize("missing", ["instrument", "bid", "ask", "bid_size", "ask_size", "timestamp"])
def test_every_required_field_is_required(missing: str):
    quote = dict(MINIMAL)
    del quote[missing]
    assert _verdicts(quote) == (False, False)


@pytest.mark.parametrize("instrument, subject", [
    ("BTC/USD", "market.quote.BTCUSD"), ("BTC-USD", "market.quote.BTCUSD"), ("btcusd", "market.quote.BTCUSD"),
    ("ES_F", "market.quote.ESF"), ("EURUSD", "market.quote.EURUSD"),
])
def test_every_spelling_of_an_instrument_shares_one_subject(instrument: str, subject: str):
    assert quote_subject(instrument) == subject


@pytest.mark.parametrize("instrument", ["", "/", "BTC.USD", "BTC USD", "BTC*", ">", "ÄPFEL"])
def test_an_instrument_that_would_break_the_subject_is_refused(instrument: str):
    with pytest.raises(ValueError):
        quote_subject(instrument)


def test_a_subject_prefix_of_the_operators_choice():
    assert quote_subject("BTC/USD", "feeds.l1") == "feeds.l1.BTCUSD"
