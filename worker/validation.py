"""The input path of an order intent: raw bytes in, an accepted intent or a typed rejection out.

Runs in the pool's worker processes (plain synchronous code: no NATS, no asyncio) and owns every
check an intent passes before it is simulated, in this order:

    size cap -> HMAC (API_KEY_HMAC_SECRET or the keyring's key: worker/signer.py) -> parse (orjson)
      -> no duplicate key -> JSON object -> schema (at-core decisions.order_intent, jsonschema-rs)
      -> agent_id owned by the signing key (with a keyring) -> price rules -> replay window
      -> directives (metadata.time_in_force, metadata.exec_sim_force: worker/directives.py)

`IntentValidator.check` never raises: each bad input becomes a `Rejection` (worker.rejections).
A later MARKET_DATA=bus pass of an intent (check(raw, again=True)) makes again only the
signature's checks, the keyring's to answer: the rest depend on the body and the settings alone,
and passed at its first pass.

| rejection type  | error_code | when |
|-----------------|------------|------|
| too_large       | EXEC-001   | body longer than MAX_INTENT_BYTES |
| bad_signature   | EXEC-001   | X-Signature missing, ambiguous, or not `sha256=<hex HMAC-SHA256(secret, body)>` (any hex case) |
| unknown_key     | EXEC-015   | with a keyring: X-Key-Id missing (and no shared-secret fallback), ambiguous, or not a key |
| agent_not_owned | EXEC-016   | with a keyring: the schema-valid intent's agent_id is not one of its key's agents |
| malformed_json  | EXEC-001   | not JSON (includes invalid UTF-8, NaN, numbers beyond a double), or a key twice in an object |
| not_object      | EXEC-001   | JSON, but not an object |
| schema          | EXEC-003   | corr_id missing or invalid (wins over every other field) |
| schema          | EXEC-004   | instrument missing or malformed |
| schema          | EXEC-005   | order_type missing or not supported |
| schema          | EXEC-009   | quantity missing, zero, negative or not a number |
| schema          | EXEC-001   | anything else the schema rejects, or a timestamp with no UTC instant |
| missing_price   | EXEC-001   | limit/stop_limit without price, stop/stop_limit without stop_price |
| stale           | EXEC-001   | timestamp further than REPLAY_WINDOW_SEC from receipt, either way |
| invalid_directive | EXEC-001 | metadata.time_in_force or metadata.exec_sim_force that cannot be honoured |

The DESIGN's table has no code of its own for a missing price or a stale intent, so both use
EXEC-001 (the intent is not acceptable as written); their `type` tells them apart. So does an
invalid directive.

corr_id in a rejection: the intent's own, whenever the body parses and its corr_id is valid per the
schema (a str of 1..128 [a-zA-Z0-9_-]), even when the rest is invalid or the signature is wrong;
otherwise None, so client text never reaches logs as a corr_id. Details name schema keywords and
fields, never echo client values.

Timestamps (RFC 3339, format-checked by jsonschema-rs) become epoch milliseconds UTC, fractions
truncated. Lowercase "t"/"z" are accepted (RFC 3339 5.6 note). A leap second counts as
hh:mm:59.999 and is only accepted at 23:59:60 UTC on the last day of a month (RFC 3339 5.7);
jsonschema-rs accepts it on any day. Year 0000 passes the format but has no datetime: rejected.
The replay window is skipped under the virtual clock (backtests replay old intents) and when
REPLAY_WINDOW_SEC is 0.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeGuard

import jsonschema_rs
import orjson

from common.config import Settings
from common.contracts import ORDER_INTENT, load_schema
from common.error_codes import (
    CORR_ID_INVALID,
    ENVELOPE_INVALID,
    INSTRUMENT_INVALID,
    INTERNAL_ERROR,
    ORDER_TYPE_INVALID,
    QUANTITY_INVALID,
    SCHEMA_INVALID,
    SIGNER_NOT_OWNER,
)
from common.keyring import Keyring, SigningKey
from common.messages import RawIntent, Rejection
from worker.directives import read_directives
from worker.duplicate_keys import duplicate_keys
from worker.intent import AcceptedIntent, OrderIntent
from worker.rejections import (
    AGENT_NOT_OWNED,
    INTERNAL,
    INVALID_DIRECTIVE,
    MALFORMED_JSON,
    MISSING_PRICE,
    NOT_OBJECT,
    SCHEMA,
    STALE,
    TOO_LARGE,
    reject,
)
from worker.signer import Refusal, Signer

# fullmatch, not "^...$": Python's "$" also matches before a trailing "\n", ECMA-262's does not.
_CORR_ID = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_PRINTABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")

# Fields an order type needs beyond the schema's required list.
_PRICE_FIELDS = {"limit": ("price",), "stop": ("stop_price",), "stop_limit": ("price", "stop_price")}
# A schema error on one of these fields gets its own code; the first listed wins.
_FIELD_CODES = {
    "corr_id": CORR_ID_INVALID,
    "instrument": INSTRUMENT_INVALID,
    "order_type": ORDER_TYPE_INVALID,
    "quantity": QUANTITY_INVALID,
}
_FIELD_RANK = {name: rank for rank, name in enumerate(_FIELD_CODES)}
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@cache
def _compiled_schema() -> Any:
    """The order-intent validator, compiled once per process."""
    return jsonschema_rs.validator_for(load_schema(ORDER_INTENT), validate_formats=True)


def schema_valid(obj: object) -> bool:
    """The hot path's schema verdict for a parsed intent (the schema alone, no price or time rules)."""
    valid: bool = _compiled_schema().is_valid(obj)
    return valid


class IntentValidator:
    """Checks raw intents against the settings it was built with; one per worker process."""

    def __init__(self, settings: Settings) -> None:
        self._max_bytes = settings.max_intent_bytes
        self._signer = Signer(settings.hmac_secret, settings.keyring, settings.keyring_allows_shared_secret)
        self._schema = _compiled_schema()
        self._is_valid = self._schema.is_valid
        off = settings.virtual_clock or settings.replay_window_s == 0
        self._window_ms: float | None = None if off else settings.replay_window_s * 1000
        self._forced_outcomes = settings.forced_outcomes

    def use_keyring(self, keyring: Keyring) -> None:
        """The keyring file changed: intents checked from now on use this one."""
        self._signer.use_keyring(keyring)

    def check(self, raw: RawIntent, again: bool = False) -> AcceptedIntent | Rejection:
        """again: a later MARKET_DATA=bus pass of an intent its first pass accepted (worker.process)."""
        try:
            return self._check_again(raw) if again else self._check(raw)
        except Exception as exc:  # a bug here must not crash-loop a worker on one poison message
            return reject(raw.stream_seq, INTERNAL, INTERNAL_ERROR, None, f"validator failed: {type(exc).__name__}")

    def _check(self, raw: RawIntent) -> AcceptedIntent | Rejection:
        seq, body = raw.stream_seq, raw.body
        if len(body) > self._max_bytes:
            return reject(seq, TOO_LARGE, ENVELOPE_INVALID, None, f"body of {len(body)} bytes exceeds {self._max_bytes}")
        signed_by = self._signed_by(raw)
        if isinstance(signed_by, Rejection):
            return signed_by
        try:
            intent = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return reject(seq, MALFORMED_JSON, ENVELOPE_INVALID, None, f"not JSON: {exc}")
        repeated = duplicate_keys(body, intent)
        if repeated is not None:
            return _duplicate_key_rejection(seq, intent, repeated)
        if type(intent) is not dict:
            kind = _JSON_TYPES.get(type(intent), "null")
            return reject(seq, NOT_OBJECT, ENVELOPE_INVALID, None, f"body is {kind}, not a JSON object")
        if not self._is_order_intent(intent):
            return self._schema_rejection(seq, intent)

        corr_id = intent["corr_id"]
        if signed_by is not None and intent["agent_id"] not in signed_by.agents:
            return _not_owned(seq, signed_by, corr_id)
        for name in _PRICE_FIELDS.get(intent["order_type"], ()):
            if name not in intent:
                return reject(seq, MISSING_PRICE, SCHEMA_INVALID, corr_id, _missing_price_detail(intent))
        timestamp_ms = _epoch_ms(intent["timestamp"])
        if timestamp_ms is None:
            return reject(
                seq, SCHEMA, SCHEMA_INVALID, corr_id,
                "timestamp has no UTC instant (year 0000, or a leap second not at 23:59:60 UTC on a month's last day)",
            )
        window_ms = self._window_ms
        if window_ms is not None and abs(raw.received_at_ms - timestamp_ms) > window_ms:
            age_s = (raw.received_at_ms - timestamp_ms) / 1000
            detail = f"timestamp is {age_s:+.3f} s old, outside ±{window_ms / 1000:g} s"
            return reject(seq, STALE, SCHEMA_INVALID, corr_id, detail)
        directives = read_directives(intent, self._forced_outcomes)
        if isinstance(directives, str):
            return reject(seq, INVALID_DIRECTIVE, SCHEMA_INVALID, corr_id, directives)
        return AcceptedIntent(seq, corr_id, intent, timestamp_ms, raw.received_at_ms, directives)

    def _check_again(self, raw: RawIntent) -> AcceptedIntent | Rejection:
        """What _check accepts, for an intent it accepted before: the checks that depend only on the
        body and the settings (size, JSON, duplicate keys, schema, prices, replay window, directives)
        passed then and would pass again, so only the signature's, which depend on the keyring (it
        may have changed since), are made again. A bus intent's second pass saves about half the
        validation."""
        seq = raw.stream_seq
        signed_by = self._signed_by(raw)
        if isinstance(signed_by, Rejection):
            return signed_by
        intent: OrderIntent = orjson.loads(raw.body)
        corr_id = intent["corr_id"]
        if signed_by is not None and intent["agent_id"] not in signed_by.agents:
            return _not_owned(seq, signed_by, corr_id)
        timestamp_ms = _epoch_ms(intent["timestamp"])
        directives = read_directives(intent, self._forced_outcomes)
        if timestamp_ms is None or isinstance(directives, str):  # never accepted: the whole check says why
            return self._check(raw)
        return AcceptedIntent(seq, corr_id, intent, timestamp_ms, raw.received_at_ms, directives)

    def _signed_by(self, raw: RawIntent) -> SigningKey | Rejection | None:
        """The key that signed the body (None: the shared secret, any agent, or no signing), or the
        signature's rejection."""
        if not self._signer.active:
            return None
        verdict = self._signer.verify(raw.body, raw.signature, raw.key_id)
        if isinstance(verdict, Refusal):
            return reject(raw.stream_seq, verdict.error_type, verdict.error_code, _peek_corr_id(raw.body), verdict.detail)
        return verdict

    def _is_order_intent(self, obj: dict[str, Any]) -> TypeGuard[OrderIntent]:
        """Schema-valid: the body has the shape OrderIntent describes."""
        valid: bool = self._is_valid(obj)
        return valid

    def _schema_rejection(self, seq: int, intent: dict[str, Any]) -> Rejection:
        corr_id = _readable_corr_id(intent)
        # The schema's if/then (limit and stop_limit need price) is a price rule, not a field error.
        errors = list(self._schema.iter_errors(intent))
        field_errors = [e for e in errors if e.schema_path[:1] != ["then"]]
        if not field_errors:
            return reject(seq, MISSING_PRICE, SCHEMA_INVALID, corr_id, _missing_price_detail(intent))
        error = min(field_errors, key=lambda e: _FIELD_RANK.get(_field_of(e) or "", len(_FIELD_RANK)))  # ties: first wins
        code = _FIELD_CODES.get(_field_of(error) or "", SCHEMA_INVALID)
        return reject(seq, SCHEMA, code, corr_id, _error_detail(error, len(errors)))


def _not_owned(seq: int, signed_by: SigningKey, corr_id: str) -> Rejection:
    return reject(seq, AGENT_NOT_OWNED, SIGNER_NOT_OWNER, corr_id, f"key {signed_by.key_id} does not sign for this agent_id")


def _field_of(error: Any) -> str | None:
    """The top-level property an error is about (a missing one included)."""
    if error.instance_path:
        return str(error.instance_path[0])
    return error.kind.property if error.kind.name == "required" else None


def _error_detail(error: Any, count: int) -> str:
    kind = error.kind
    if kind.name == "required":
        text = f"missing required property {kind.property}"
    elif kind.name == "additionalProperties":
        # Names are client text: show only plain ones.
        names = [n if _PRINTABLE_NAME.fullmatch(n) else "<unprintable>" for n in kind.unexpected[:3]]
        text = f"unknown properties: {', '.join(names)}"
    else:
        # kind.value comes from the schema (limit, pattern, enum, types), never from the intent.
        path = "/".join(str(p) for p in error.instance_path) or "intent"
        text = f"{path}: fails {kind.name} {kind.value}"
    return text if count == 1 else f"{text} (and {count - 1} more)"


def _readable_corr_id(obj: object) -> str | None:
    if type(obj) is dict:
        corr_id = obj.get("corr_id")
        if type(corr_id) is str and _CORR_ID.fullmatch(corr_id):
            return corr_id
    return None


def _duplicate_key_rejection(seq: int, intent: object, repeated: frozenset[str]) -> Rejection:
    # orjson's corr_id is the last of two: reported only when no object names corr_id twice.
    corr_id = None if "corr_id" in repeated or not repeated else _readable_corr_id(intent)
    names = sorted(n if _PRINTABLE_NAME.fullmatch(n) else "<unprintable>" for n in repeated)[:3]
    detail = f"duplicate key: {', '.join(names)}" if names else "keys could not be checked for duplicates"
    return reject(seq, MALFORMED_JSON, ENVELOPE_INVALID, corr_id, detail)


def _peek_corr_id(body: bytes) -> str | None:
    """corr_id of a body that failed before parsing (bad signature), for the log line only."""
    try:
        return _readable_corr_id(orjson.loads(body))
    except orjson.JSONDecodeError:
        return None


def _missing_price_detail(intent: Mapping[str, Any]) -> str:
    order_type = intent.get("order_type")
    # Reached only with a schema-valid order_type (a str); anything else has no price fields.
    fields = _PRICE_FIELDS.get(order_type, ()) if isinstance(order_type, str) else ()
    missing = [f for f in fields if f not in intent]
    return f"{order_type} order without {' and '.join(missing)}"


def _epoch_ms(timestamp: str) -> int | None:
    """Epoch ms UTC of an RFC 3339 date-time; None when it names no representable instant."""
    try:
        return (datetime.fromisoformat(timestamp) - _EPOCH) // _ONE_MS
    except (ValueError, TypeError, OverflowError):  # TypeError: a naive value minus an aware one
        return _epoch_ms_unusual(timestamp)


def _epoch_ms_unusual(timestamp: str) -> int | None:
    """Lowercase t/z and leap seconds, which datetime.fromisoformat (3.11) refuses."""
    text = timestamp.upper()
    leap = text[17:19] == "60"  # "YYYY-MM-DDTHH:MM:SS": seconds at a fixed offset
    if leap:
        text = text[:17] + "59" + text[19:]
    try:
        moment = datetime.fromisoformat(text)
        ms = (moment - _EPOCH) // _ONE_MS
        if leap:
            utc = moment.astimezone(UTC)
            if (utc.hour, utc.minute) != (23, 59) or utc.day != monthrange(utc.year, utc.month)[1]:
                return None
            ms = ms - ms % 1000 + 999
    except (ValueError, TypeError, OverflowError):
        return None
    return ms
