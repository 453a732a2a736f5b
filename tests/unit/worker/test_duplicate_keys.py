"""Duplicate JSON keys make an intent malformed_json (issue 18): orjson keeps the last of two,
while a signer or gateway that reads the first sees another order."""

from __future__ import annotations

import orjson
import pytest

from common import error_codes as codes
from tests.builders import example_intent
from tests.unit.worker.test_validation import CORR_ID, assert_rejected, check
from worker import rejections as r
from worker.duplicate_keys import duplicate_keys
from worker.intent import AcceptedIntent


def body_with(head: bytes = b"", metadata: bytes = b'{"desk":"fx-1","note":"rebalance"}') -> bytes:
    """The schema's example as compact JSON, with `head` spliced in as its first members and a
    metadata object written as given."""
    text = orjson.dumps(example_intent(reasoning=...))
    return b"{" + head + text[1:-1] + b',"metadata":' + metadata + b"}"


def test_the_example_with_metadata_is_accepted() -> None:
    # The baseline every case below changes in one place.
    assert isinstance(check(body_with()), AcceptedIntent)


@pytest.mark.parametrize("head", [
    b'"quantity":-1,',  # {"quantity": -1, ..., "quantity": 10000}: filled for 10000 by orjson
    b'"quantity" :-1,',  # whitespace before the colon
    b'"quant\\u0069ty":-1,',  # the same key, escaped
    b'"side":"sell",',
])
def test_a_top_level_key_given_twice_is_malformed_json_with_its_corr_id(head: bytes) -> None:
    result = assert_rejected(check(body_with(head)), r.MALFORMED_JSON, codes.ENVELOPE_INVALID, CORR_ID)
    assert "duplicate key" in result.detail


@pytest.mark.parametrize("metadata", [
    b'{"desk":"fx-1","desk":"fx-2"}',
    b'{"desk":"fx-1","nested":{"a":1,"b":[{"x":1,"x":2}]}}',  # deeper, inside an array
    b'{"desk" : "fx-1" , "desk" : "fx-1"}',  # equal values and spaces: still twice
])
def test_a_key_given_twice_in_metadata_is_malformed_json_with_its_corr_id(metadata: bytes) -> None:
    assert_rejected(check(body_with(metadata=metadata)), r.MALFORMED_JSON, codes.ENVELOPE_INVALID, CORR_ID)


def test_a_corr_id_given_twice_is_not_reported() -> None:
    # orjson's corr_id is the last one: which of the two the client meant is unknown.
    assert_rejected(check(body_with(b'"corr_id":"other_id",')), r.MALFORMED_JSON, codes.ENVELOPE_INVALID, None)


@pytest.mark.parametrize("metadata", [
    b'{"desk":"fx-1","quantity":5}',  # the same name in another object is not a duplicate
    b'{"note":"\\"quantity\\": -1, \\"quantity\\": 1"}',  # "quantity": inside a value, twice
    b'{"note":"quantity: -1, quantity: 1","at":"10:31:00"}',  # colons inside values
    b'{"note":"caf\\u00e9 \\u00e9t\\u00e9","desk":"fx-1"}',  # escapes, no key twice
    b'{"d\\u0065sk":"fx-1","desks":"fx-2"}',
    b' { "desk" : "fx-1" , "note" : "quantity" } ',
])
def test_distinct_keys_are_accepted(metadata: bytes) -> None:
    assert isinstance(check(body_with(metadata=metadata)), AcceptedIntent)


@pytest.mark.parametrize(("body", "repeated"), [
    (b'{"a":1,"b":2}', None),
    (b'[{"a":1},{"a":2}]', None),
    (b'{"a":1,"a":2}', {"a"}),
    (b'{"a":{"b":1,"b":2},"c":[{"d":0,"d":0}]}', {"b", "d"}),
    (b'{"a":"\\"a\\":1","b":"x"}', None),
    (b'{"\\u0061":1,"a":2}', {"a"}),
    (b"[" * 300 + b"]" * 300, None),  # deeper than orjson writes back
    (b'{"a":' * 1000 + b'{"b":1,"b":2}' + b"}" * 1000, {"b"}),  # deeper than json's default recursion limit
])
def test_duplicate_keys_names_the_repeated_keys(body: bytes, repeated: set[str] | None) -> None:
    found = duplicate_keys(body, orjson.loads(body))
    assert (None if found is None else set(found)) == repeated
