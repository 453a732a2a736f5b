"""IntentValidator.check: every rejection type with its error code and corr_id, and the accepted path."""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any

import orjson
import pytest

from common import error_codes as codes
from common.config import Settings
from common.messages import RawIntent, Rejection
from tests.builders import EXAMPLE, example_intent
from worker import rejections as r
from worker.intent import AcceptedIntent
from worker.validation import IntentValidator, schema_valid

EXAMPLE_MS = 1_705_314_660_123  # 2024-01-15T10:31:00.123Z
CORR_ID = "req_abc123"
SECRET = b"s3cret"
DEFAULT = Settings()


def check(
    body: bytes | dict[str, Any],
    settings: Settings = DEFAULT,
    signature: str | None = None,
    received_at_ms: int = EXAMPLE_MS + 1000,
) -> AcceptedIntent | Rejection:
    raw_body = body if isinstance(body, bytes) else orjson.dumps(body)
    return IntentValidator(settings).check(RawIntent(7, raw_body, signature, received_at_ms))


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, "sha256").hexdigest()


def assert_rejected(result: object, error_type: str, error_code: str, corr_id: str | None) -> Rejection:
    assert isinstance(result, Rejection), result
    assert (result.stream_seq, result.error_type, result.error_code, result.corr_id) == (7, error_type, error_code, corr_id)
    assert result.detail
    return result


# -- accepted -------------------------------------------------------------------------------------


def test_example_intent_is_accepted_with_all_fields() -> None:
    result = check(example_intent(), received_at_ms=EXAMPLE_MS + 250)
    assert result == AcceptedIntent(7, CORR_ID, EXAMPLE, EXAMPLE_MS, EXAMPLE_MS + 250)


@pytest.mark.parametrize(
    "fields",
    [
        {"order_type": "market"},
        {"order_type": "limit", "price": 1.085},
        {"order_type": "stop", "stop_price": 1.08},
        {"order_type": "stop_limit", "price": 1.085, "stop_price": 1.08},
        {"order_type": "market", "side": "sell", "quantity": 0.001, "instrument": "BTC/USD", "metadata": {"a": [1]}},
    ],
)
def test_every_order_type_is_accepted(fields: dict[str, Any]) -> None:
    body = example_intent(**fields)
    result = check(body)
    assert isinstance(result, AcceptedIntent)
    assert result.intent == body
    assert result.timestamp_ms == EXAMPLE_MS


@pytest.mark.parametrize(
    "timestamp, expected_ms",
    [
        ("2024-01-15T10:31:00Z", 1_705_314_660_000),
        ("2024-01-15T10:31:00.1Z", 1_705_314_660_100),
        ("2024-01-15T10:31:00.123999999999Z", 1_705_314_660_123),  # truncated, any length
        ("2024-01-15t10:31:00.123z", EXAMPLE_MS),  # RFC 3339 allows lowercase t and z
        ("2024-01-15T11:31:00.123+01:00", EXAMPLE_MS),
        ("2024-01-15T05:01:00.123-05:30", EXAMPLE_MS),
        ("2024-01-15T10:31:00.123-00:00", EXAMPLE_MS),
        ("2024-01-16T10:30:00.123+23:59", EXAMPLE_MS),
    ],
)
def test_timestamp_becomes_epoch_ms_utc(timestamp: str, expected_ms: int) -> None:
    result = check(example_intent(timestamp=timestamp), received_at_ms=expected_ms)
    assert isinstance(result, AcceptedIntent)
    assert result.timestamp_ms == expected_ms


@pytest.mark.parametrize(
    "timestamp",
    ["2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5Z", "2016-12-31t23:59:60.999999z", "2016-12-31T15:59:60-08:00"],
)
def test_leap_second_at_end_of_month_counts_as_last_millisecond_of_59(timestamp: str) -> None:
    last_ms_of_2016 = 1_483_228_800_000 - 1
    result = check(example_intent(timestamp=timestamp), received_at_ms=last_ms_of_2016)
    assert isinstance(result, AcceptedIntent)
    assert result.timestamp_ms == last_ms_of_2016


@pytest.mark.parametrize("timestamp", ["2024-01-15T23:59:60Z", "0000-01-01T00:00:00Z"])
def test_timestamp_that_passes_the_format_but_names_no_instant_is_schema_invalid(timestamp: str) -> None:
    # jsonschema-rs accepts both (a leap second on any day, year 0000); RFC 3339 5.7 allows a
    # leap second only at a month's end and datetime has no year 0.
    body = example_intent(timestamp=timestamp)
    assert schema_valid(body)
    assert_rejected(check(body, replace(DEFAULT, simulation_clock="virtual")), r.SCHEMA, codes.SCHEMA_INVALID, CORR_ID)


# -- envelope -------------------------------------------------------------------------------------


def test_size_cap_is_inclusive() -> None:
    body = orjson.dumps(example_intent())
    assert isinstance(check(body, replace(DEFAULT, max_intent_bytes=len(body))), AcceptedIntent)
    result = check(body, replace(DEFAULT, max_intent_bytes=len(body) - 1))
    assert_rejected(result, r.TOO_LARGE, codes.ENVELOPE_INVALID, None)


def test_size_cap_comes_before_the_signature() -> None:
    body = orjson.dumps(example_intent())
    result = check(body, replace(DEFAULT, hmac_secret=SECRET, max_intent_bytes=len(body) - 1))
    assert_rejected(result, r.TOO_LARGE, codes.ENVELOPE_INVALID, None)


@pytest.mark.parametrize("upper", [False, True])
def test_right_signature_is_accepted_in_either_hex_case(upper: bool) -> None:
    body = orjson.dumps(example_intent())
    signature = sign(body)
    if upper:
        signature = "sha256=" + signature[7:].upper()
    assert isinstance(check(body, replace(DEFAULT, hmac_secret=SECRET), signature), AcceptedIntent)


@pytest.mark.parametrize(
    "make_signature",
    [
        lambda body: None,
        lambda body: "",
        lambda body: sign(body, b"other secret"),
        lambda body: sign(body + b" "),
        lambda body: sign(body)[7:],  # no prefix
        lambda body: "SHA256=" + sign(body)[7:],
        lambda body: sign(body) + " ",
        lambda body: " " + sign(body),
        lambda body: sign(body)[:-1],
        lambda body: sign(body)[:-1] + "é",
        lambda body: "sha256=" + "\u0661" * 64,
        lambda body: "sha256=\udcff",
    ],
)
def test_missing_or_wrong_signature_is_rejected_with_readable_corr_id(make_signature: Any) -> None:
    body = orjson.dumps(example_intent())
    result = check(body, replace(DEFAULT, hmac_secret=SECRET), make_signature(body))
    assert_rejected(result, r.BAD_SIGNATURE, codes.ENVELOPE_INVALID, CORR_ID)


def test_signature_is_checked_before_parsing() -> None:
    result = check(b"{not json", replace(DEFAULT, hmac_secret=SECRET), "sha256=00")
    assert_rejected(result, r.BAD_SIGNATURE, codes.ENVELOPE_INVALID, None)


def test_signed_body_still_goes_through_every_later_check() -> None:
    body = orjson.dumps(example_intent(quantity=0))
    result = check(body, replace(DEFAULT, hmac_secret=SECRET), sign(body))
    assert_rejected(result, r.SCHEMA, codes.QUANTITY_INVALID, CORR_ID)


def test_signature_is_ignored_without_a_secret() -> None:
    assert isinstance(check(orjson.dumps(example_intent()), signature="garbage"), AcceptedIntent)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"{'corr_id': 'a'}",
        b'{"a": NaN}',
        b'{"quantity": 1e400}',
        b'{"a": 1} x',
        b"\xef\xbb\xbf{}",
        b'{"corr_id": "req_abc123", "metadata": {"x": ' + b"[" * 1100 + b"]" * 1100 + b"}}",  # beyond orjson's depth
    ],
)
def test_malformed_json_is_rejected(body: bytes) -> None:
    assert_rejected(check(body), r.MALFORMED_JSON, codes.ENVELOPE_INVALID, None)


def test_deep_but_parseable_metadata_is_accepted() -> None:
    body = orjson.dumps(example_intent())[:-1] + b', "metadata": {"x": ' + b"[" * 1000 + b"]" * 1000 + b"}}"
    assert isinstance(check(body), AcceptedIntent)


def test_invalid_utf8_is_malformed_json() -> None:
    body = orjson.dumps(example_intent()).replace(b"momentum", b"mom\xffntum")
    assert_rejected(check(body), r.MALFORMED_JSON, codes.ENVELOPE_INVALID, None)


@pytest.mark.parametrize("body", [b"[]", b'[{"corr_id": "abc"}]', b"42", b"1.5", b'"req_abc123"', b"null", b"true"])
def test_json_that_is_not_an_object_is_rejected(body: bytes) -> None:
    assert_rejected(check(body), r.NOT_OBJECT, codes.ENVELOPE_INVALID, None)


# -- schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, code",
    [
        ("corr_id", codes.CORR_ID_INVALID),
        ("strategy_id", codes.SCHEMA_INVALID),
        ("agent_id", codes.SCHEMA_INVALID),
        ("timestamp", codes.SCHEMA_INVALID),
        ("instrument", codes.INSTRUMENT_INVALID),
        ("side", codes.SCHEMA_INVALID),
        ("order_type", codes.ORDER_TYPE_INVALID),
        ("quantity", codes.QUANTITY_INVALID),
        ("confidence", codes.SCHEMA_INVALID),
    ],
)
def test_each_missing_required_field(field: str, code: str) -> None:
    result = assert_rejected(check(example_intent(**{field: ...})), r.SCHEMA, code, None if field == "corr_id" else CORR_ID)
    assert field in result.detail


def test_unknown_field_is_schema_invalid_and_its_odd_name_is_not_echoed() -> None:
    result = assert_rejected(check(example_intent(venue="x", **{"<script>\n": 1})), r.SCHEMA, codes.SCHEMA_INVALID, CORR_ID)
    assert "venue" in result.detail
    assert "<script>" not in result.detail


@pytest.mark.parametrize(
    "field, value",
    [
        ("strategy_id", 5),
        ("strategy_id", "has space"),
        ("agent_id", "a" * 65),
        ("side", "hold"),
        ("side", "BUY"),
        ("confidence", "high"),
        ("confidence", 1.01),
        ("confidence", -0.1),
        ("timestamp", "yesterday"),
        ("timestamp", 1_705_314_660),
        ("timestamp", "2024-01-15T10:31:00"),  # naive: no offset
        ("timestamp", "2024-01-15 10:31:00Z"),
        ("timestamp", "2024-02-30T10:31:00Z"),
        ("reasoning", "x" * 501),
        ("risk_score", 10.5),
        ("signal_refs", "sig_1"),
        ("signal_refs", ["sig_1", 2]),
        ("metadata", ["not", "an", "object"]),
        ("price", 0),
        ("stop_price", -1),
    ],
)
def test_other_bad_values_are_schema_invalid(field: str, value: Any) -> None:
    assert_rejected(check(example_intent(**{field: value})), r.SCHEMA, codes.SCHEMA_INVALID, CORR_ID)


@pytest.mark.parametrize("value", [0, -1, -0.0, "abc", "10", None, True, [1], {"n": 1}])
def test_bad_quantity_is_exec_009(value: Any) -> None:
    assert_rejected(check(example_intent(quantity=value)), r.SCHEMA, codes.QUANTITY_INVALID, CORR_ID)


@pytest.mark.parametrize("value", ["eurusd", "EU", "EUR USD", "EUR//USD", "A" * 21, "EURUSD\n", 123, None])
def test_bad_instrument_is_exec_004(value: Any) -> None:
    assert_rejected(check(example_intent(instrument=value)), r.SCHEMA, codes.INSTRUMENT_INVALID, CORR_ID)


@pytest.mark.parametrize("value", ["iceberg", "MARKET", "", None, 1])
def test_unsupported_order_type_is_exec_005(value: Any) -> None:
    assert_rejected(check(example_intent(order_type=value)), r.SCHEMA, codes.ORDER_TYPE_INVALID, CORR_ID)


@pytest.mark.parametrize("value", ["bad id", "", "a" * 129, "req_abc123\n", "ré", 42, None, ["req_abc123"]])
def test_bad_corr_id_is_exec_003_and_never_echoed(value: Any) -> None:
    assert_rejected(check(example_intent(corr_id=value)), r.SCHEMA, codes.CORR_ID_INVALID, None)


def test_longest_valid_corr_id_is_echoed() -> None:
    corr_id = "a" * 128
    assert_rejected(check(example_intent(corr_id=corr_id, quantity=0)), r.SCHEMA, codes.QUANTITY_INVALID, corr_id)


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"corr_id": "bad id", "instrument": "x", "order_type": "x", "quantity": 0}, codes.CORR_ID_INVALID),
        ({"side": "x", "instrument": "x", "order_type": "x", "quantity": 0}, codes.INSTRUMENT_INVALID),
        ({"side": "x", "quantity": 0, "order_type": "x"}, codes.ORDER_TYPE_INVALID),
        ({"side": "x", "quantity": 0}, codes.QUANTITY_INVALID),
        # The price rule does not hide a field error.
        ({"order_type": "limit", "quantity": -5}, codes.QUANTITY_INVALID),
    ],
)
def test_field_codes_take_precedence_in_a_fixed_order(changes: dict[str, Any], code: str) -> None:
    corr_id = None if "corr_id" in changes else CORR_ID
    result = assert_rejected(check(example_intent(**changes)), r.SCHEMA, code, corr_id)
    assert "more)" in result.detail


# -- price rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, missing",
    [
        ({"order_type": "limit"}, "price"),
        ({"order_type": "limit", "stop_price": 1.0}, "price"),
        ({"order_type": "stop"}, "stop_price"),
        ({"order_type": "stop", "price": 1.0}, "stop_price"),
        ({"order_type": "stop_limit", "stop_price": 1.0}, "price"),
        ({"order_type": "stop_limit", "price": 1.0}, "stop_price"),
        ({"order_type": "stop_limit"}, "price and stop_price"),
    ],
)
def test_missing_price_names_what_is_missing(changes: dict[str, Any], missing: str) -> None:
    result = assert_rejected(check(example_intent(**changes)), r.MISSING_PRICE, codes.SCHEMA_INVALID, CORR_ID)
    assert result.detail == f"{changes['order_type']} order without {missing}"


# -- replay window --------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [300_000, -300_000, 0])
def test_window_edge_is_accepted(offset_ms: int) -> None:
    assert isinstance(check(example_intent(), received_at_ms=EXAMPLE_MS + offset_ms), AcceptedIntent)


@pytest.mark.parametrize(
    "changes, received_at_ms",
    [
        ({}, EXAMPLE_MS + 300_001),  # too old
        ({}, EXAMPLE_MS - 300_001),  # too far ahead
        ({"timestamp": "2999-01-01T00:00:00Z"}, EXAMPLE_MS),
        ({"timestamp": "1970-01-01T00:00:00Z"}, EXAMPLE_MS),
    ],
)
def test_stale_intent_is_rejected(changes: dict[str, Any], received_at_ms: int) -> None:
    assert_rejected(check(example_intent(**changes), received_at_ms=received_at_ms), r.STALE, codes.SCHEMA_INVALID, CORR_ID)


def test_stale_detail_says_how_far_off() -> None:
    result = check(example_intent(), received_at_ms=EXAMPLE_MS - 400_000)
    assert isinstance(result, Rejection) and result.detail == "timestamp is -400.000 s old, outside ±300 s"


def test_window_follows_the_setting() -> None:
    settings = replace(DEFAULT, replay_window_s=1.5)
    assert isinstance(check(example_intent(), settings, received_at_ms=EXAMPLE_MS + 1500), AcceptedIntent)
    assert_rejected(check(example_intent(), settings, received_at_ms=EXAMPLE_MS + 1501), r.STALE, codes.SCHEMA_INVALID, CORR_ID)


@pytest.mark.parametrize(
    "settings",
    [replace(DEFAULT, simulation_clock="virtual"), replace(DEFAULT, replay_window_s=0)],
    ids=["virtual-clock", "window-0"],
)
def test_window_is_off_under_virtual_clock_or_zero(settings: Settings) -> None:
    for received_at_ms in (EXAMPLE_MS + 10**12, EXAMPLE_MS - 10**12):
        result = check(example_intent(), settings, received_at_ms=received_at_ms)
        assert isinstance(result, AcceptedIntent)
        assert result.timestamp_ms == EXAMPLE_MS


def test_schema_is_checked_before_the_window() -> None:
    result = check(example_intent(quantity=0), received_at_ms=EXAMPLE_MS + 10**9)
    assert_rejected(result, r.SCHEMA, codes.QUANTITY_INVALID, CORR_ID)


@pytest.mark.parametrize("fields", [
    {"order_type": "market"}, {"order_type": "stop_limit", "price": 1.085, "stop_price": 1.08},
    {"order_type": "limit", "price": 1.085, "metadata": {"time_in_force": "gtc"}},
])
def test_a_later_bus_pass_accepts_what_the_first_accepted_as_it_did(fields: dict[str, Any]) -> None:
    raw = RawIntent(7, orjson.dumps(example_intent(**fields)), None, EXAMPLE_MS + 1000)
    validator = IntentValidator(DEFAULT)
    first = validator.check(raw)
    assert isinstance(first, AcceptedIntent) and validator.check(raw, again=True) == first
