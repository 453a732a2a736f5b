"""The hot path's schema verdict (jsonschema-rs) against the reference (python-jsonschema), and a fuzz of check.

Known divergences, each pinned by an explicit test below and left out of the agreement property:
- Trailing newline: Python's "$" matches before a final "\\n", so the reference accepts "abc\\n" for
  ^[a-zA-Z0-9_-]+$ and "...Z\\n" as a date-time; ECMA-262 (JSON Schema's regex dialect) and
  jsonschema-rs reject both. The hot path is right.
- Leap seconds: rfc3339-validator rejects every ":60"; RFC 3339 5.7 allows 23:59:60 UTC at a month's
  end, and jsonschema-rs accepts 23:59:60 UTC on any day. The hot path is right for the month's end;
  check() itself rejects the other days (see test_validation.py).
- Year 0000: RFC 3339's grammar allows it and jsonschema-rs accepts it, the reference does not;
  check() rejects it because it has no datetime.
- NaN and infinities: the reference takes them as numbers, jsonschema-rs does not; JSON has neither
  and orjson refuses them, so they never reach the schema.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from common.config import Settings
from common.contracts import ORDER_INTENT, load_schema
from common.messages import RawIntent, Rejection
from worker.intent import AcceptedIntent
from worker.rejections import INTERNAL, REJECTION_TYPES
from worker.validation import IntentValidator, schema_valid

SCHEMA = load_schema(ORDER_INTENT)
REFERENCE = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
PROPERTIES = tuple(SCHEMA["properties"])
PATTERN_FIELDS = ("corr_id", "strategy_id", "agent_id", "instrument", "timestamp")
LEAP_OR_YEAR_ZERO = re.compile(r"(0000-|\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:60)", re.ASCII)

FAST = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -----------------------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ID_CHARS = ALNUM + ALNUM.lower() + "_-"


def ids(max_size: int) -> st.SearchStrategy[str]:
    return st.text(ID_CHARS, min_size=1, max_size=max_size)


instruments = st.builds(
    lambda s, cut, sep: s[:cut] + sep + s[cut:],
    st.text(ALNUM, min_size=3, max_size=19),
    st.integers(1, 2),
    st.sampled_from(["", "", "/", "_", "-"]),
)


def two(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map("{:02d}".format)


secfrac = st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=12).map(lambda d: "." + d))
good_offsets = st.one_of(
    st.sampled_from(["Z", "z"]),
    st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), two(0, 23), two(0, 59)),
)
valid_timestamps = st.builds(
    lambda d, sep, h, m, s, f, o: f"{d:%Y-%m-%d}{sep}{h}:{m}:{s}{f}{o}",
    st.dates(),
    st.sampled_from("Tt"),
    two(0, 23),
    two(0, 59),
    two(0, 59),
    secfrac,
    good_offsets,
)
# Near misses and oddities: out-of-range parts, missing colons, other separators, leap seconds.
odd_timestamps = st.builds(
    lambda y, mo, d, sep, h, mi, s, f, o: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{f}{o}",
    st.one_of(st.integers(0, 9999).map("{:04d}".format), st.sampled_from(["+2024", "24", "20240", "２０２４"])),
    two(0, 13),
    two(0, 32),
    st.sampled_from(["T", "t", " ", "_", "", "TT"]),
    two(0, 25),
    two(0, 61),
    two(0, 61),
    st.one_of(secfrac, st.sampled_from([".", ",5", ".5.5", ".٣"])),
    st.one_of(
        good_offsets,
        st.sampled_from(["", "ZZ", "+24:00", "-24:00", "+00:60", "+0100", "-08", "+5:30", "UTC", "+01:00Z", " Z"]),
    ),
)
timestamps = st.one_of(valid_timestamps, odd_timestamps, st.text(max_size=30))

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
edge_numbers = st.sampled_from([0, -0.0, 5e-324, -5e-324, 1, 1.0, 1.0000000000000002, 0.9999999999999999, 10, 10.5, -1, 2**63])
edge_strings = st.one_of(
    st.sampled_from(["", "a", "A" * 20, "A" * 21, "a" * 64, "a" * 65, "a" * 128, "a" * 129, "x" * 500, "x" * 501]),
    st.sampled_from(["market", "limit", "stop", "stop_limit", "MARKET", "buy", "sell", "Buy", "iceberg"]),
    st.builds(lambda s, i, c: s[:i] + c + s[i:], ids(20), st.integers(0, 20), st.sampled_from(" .é/\t\n\x00😀٣")),
    instruments.map(str.lower),
    st.text(max_size=30),
)
field_values = st.one_of(json_values, edge_numbers, edge_strings, timestamps, instruments, ids(128))


@st.composite
def valid_intents(draw: st.DrawFn) -> dict[str, Any]:
    order_type = draw(st.sampled_from(["market", "limit", "stop", "stop_limit"]))
    positive = st.floats(min_value=5e-324, max_value=1e12) | st.integers(1, 10**9)
    intent: dict[str, Any] = {
        "corr_id": draw(ids(128)),
        "strategy_id": draw(ids(64)),
        "agent_id": draw(ids(64)),
        "timestamp": draw(valid_timestamps),
        "instrument": draw(instruments),
        "side": draw(st.sampled_from(["buy", "sell"])),
        "order_type": order_type,
        "quantity": draw(positive),
        "confidence": draw(st.floats(0, 1) | st.sampled_from([0, 1])),
    }
    if order_type in ("limit", "stop_limit"):
        intent["price"] = draw(positive)
    if order_type in ("stop", "stop_limit"):
        intent["stop_price"] = draw(positive)
    optional = {
        "reasoning": st.text(max_size=40) | st.just("r" * 500),
        "risk_score": st.floats(0, 10) | st.integers(0, 10),
        "signal_refs": st.lists(st.text(max_size=10), max_size=3),
        "metadata": st.dictionaries(st.text(max_size=5), json_scalars | st.lists(json_scalars, max_size=2), max_size=3),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            intent[name] = draw(values)
    return intent


@st.composite
def candidates(draw: st.DrawFn) -> dict[str, Any]:
    """A valid intent, then 0-3 mutations."""
    intent = draw(valid_intents())
    for _ in range(draw(st.integers(0, 3))):
        mutation = draw(st.sampled_from(["drop", "unknown", "replace", "order_type"]))
        if mutation == "drop" and intent:
            intent.pop(draw(st.sampled_from(sorted(intent))))
        elif mutation == "unknown":
            intent[draw(st.text(max_size=8).filter(lambda k: k not in PROPERTIES))] = draw(json_values)
        elif mutation == "replace":
            intent[draw(st.sampled_from(PROPERTIES))] = draw(field_values)
        else:
            intent["order_type"] = draw(st.sampled_from(["market", "limit", "stop", "stop_limit"]))
            for price in ("price", "stop_price"):
                if draw(st.booleans()):
                    intent.pop(price, None)
    return intent


def trailing_newline(intent: dict[str, Any]) -> bool:
    return any(isinstance(intent.get(f), str) and intent[f].endswith("\n") for f in PATTERN_FIELDS)


# -- agreement ------------------------------------------------------------------------------------


@settings(FAST, max_examples=1500)
@given(candidates())
def test_hot_path_schema_verdict_agrees_with_reference(intent: dict[str, Any]) -> None:
    hot = schema_valid(intent)
    event("valid" if hot else "invalid")
    if trailing_newline(intent):
        assert not hot  # ECMA-262: "$" is the end of input; the reference's Python "$" is not
        return
    timestamp = intent.get("timestamp")
    if isinstance(timestamp, str) and LEAP_OR_YEAR_ZERO.match(timestamp):
        return  # documented divergence, pinned below
    assert hot == REFERENCE.is_valid(intent)


def test_strategies_reach_both_verdicts_and_every_order_type() -> None:
    # Guards the property against a strategy that only ever produces one kind of example.
    # Derandomized: a coverage count over random draws failed by chance about once in a few
    # dozen runs; with a fixed seed it fails only when the strategies change.
    seen: set[tuple[bool, Any]] = set()

    @settings(FAST, max_examples=400, derandomize=True)
    @given(candidates())
    def collect(intent: dict[str, Any]) -> None:
        seen.add((schema_valid(intent), intent.get("order_type")))

    collect()
    for order_type in ("market", "limit", "stop", "stop_limit"):
        assert (True, order_type) in seen and (False, order_type) in seen


EXAMPLE = SCHEMA["examples"][0]


@pytest.mark.parametrize("field", ["corr_id", "strategy_id", "agent_id", "instrument", "timestamp"])
def test_trailing_newline_is_rejected_by_the_hot_path_only(field: str) -> None:
    intent = dict(EXAMPLE, **{field: EXAMPLE[field] + "\n"})
    assert REFERENCE.is_valid(intent)  # Python's "$" matches before the final "\n"
    assert not schema_valid(intent)


@pytest.mark.parametrize("timestamp", ["1998-12-31T23:59:60Z", "1998-12-31T15:59:60.123-08:00", "2016-06-30t23:59:60z"])
def test_leap_second_at_month_end_is_valid_rfc3339_but_the_reference_refuses_it(timestamp: str) -> None:
    intent = dict(EXAMPLE, timestamp=timestamp)
    assert schema_valid(intent)
    assert not REFERENCE.is_valid(intent)


@pytest.mark.parametrize("timestamp", ["1998-12-31T23:59:61Z", "1998-12-31T23:58:60Z", "1998-12-31T22:59:60Z"])
def test_misplaced_leap_second_is_rejected_by_both(timestamp: str) -> None:
    intent = dict(EXAMPLE, timestamp=timestamp)
    assert not schema_valid(intent)
    assert not REFERENCE.is_valid(intent)


def test_leap_second_on_an_ordinary_day_passes_the_hot_path_schema_only() -> None:
    intent = dict(EXAMPLE, timestamp="2024-01-15T23:59:60Z")
    assert schema_valid(intent)  # RFC 3339 5.7 says no; check() rejects it after the schema
    assert not REFERENCE.is_valid(intent)


def test_year_zero_passes_the_hot_path_schema_only() -> None:
    intent = dict(EXAMPLE, timestamp="0000-03-01T00:00:00Z")
    assert schema_valid(intent)  # RFC 3339's date-fullyear is any 4DIGIT; check() rejects it
    assert not REFERENCE.is_valid(intent)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_numbers_cannot_arrive_through_json(value: float) -> None:
    intent = dict(EXAMPLE, quantity=value)
    assert not schema_valid(intent)
    assert REFERENCE.is_valid(intent)  # differs, but JSON cannot carry the value:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b'{"quantity": %s}' % (b"NaN" if value != value else b"1e400"))


# -- fuzz: check never raises ---------------------------------------------------------------------

SECRET = b"fuzz-secret"
VALIDATORS = {
    (hmac_on, clock): IntentValidator(replace(Settings(), hmac_secret=SECRET if hmac_on else b"", simulation_clock=clock))
    for hmac_on in (False, True)
    for clock in ("wall", "virtual")
}
CORR_ID = re.compile(r"[a-zA-Z0-9_-]{1,128}")


def assert_well_formed(result: object) -> None:
    assert isinstance(result, (AcceptedIntent, Rejection))
    if isinstance(result, Rejection):
        assert result.error_type in REJECTION_TYPES and result.error_type != INTERNAL, result
        assert result.error_code.startswith("EXEC-") and len(result.detail) <= 300
        assert result.corr_id is None or CORR_ID.fullmatch(result.corr_id)
    else:
        assert schema_valid(result.intent) and result.corr_id == result.intent["corr_id"]


def corrupt(body: bytes, cut: int, junk: bytes) -> bytes:
    return body[:cut] + junk + body[cut + 1 :]


bodies = st.one_of(
    st.binary(max_size=600),
    candidates().map(orjson.dumps),
    st.builds(corrupt, candidates().map(orjson.dumps), st.integers(0, 400), st.binary(max_size=3)),
    json_values.map(orjson.dumps),
)
RIGHT = "<the body's own signature>"
signatures = st.one_of(
    st.just(RIGHT),
    st.none(),
    st.text(max_size=80),
    st.text(max_size=70).map("sha256=".__add__),
    st.text("0123456789abcdefABCDEF", min_size=64, max_size=64).map("sha256=".__add__),
)


@settings(FAST, max_examples=2000)
@given(bodies, signatures, st.integers(-(2**62), 2**62), st.booleans(), st.sampled_from(["wall", "virtual"]))
def test_check_never_raises(body: bytes, signature: str | None, received_at_ms: int, hmac_on: bool, clock: str) -> None:
    if signature == RIGHT:
        signature = "sha256=" + hmac.new(SECRET, body, "sha256").hexdigest()
    result = VALIDATORS[(hmac_on, clock)].check(RawIntent(1, body, signature, received_at_ms))
    event(type(result).__name__ if isinstance(result, AcceptedIntent) else result.error_type)
    assert_well_formed(result)
