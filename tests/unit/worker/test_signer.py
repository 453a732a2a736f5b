"""Per-agent keys in the worker: worker/signer.py through IntentValidator.check, with a keyring as data."""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any

import orjson
import pytest

from common import error_codes as codes
from common.config import Settings
from common.keyring import Keyring, SigningKey
from common.messages import AMBIGUOUS_KEY_ID, RawIntent, Rejection
from tests.builders import example_intent
from worker import rejections as r
from worker.intent import AcceptedIntent
from worker.validation import IntentValidator

EXAMPLE_MS = 1_705_314_660_123
SHARED = b"shared-secret-0123456789"
KEY_A = SigningKey("desk-a", b"alpha-secret-0123456789", frozenset({"agent_a"}))
KEY_B = SigningKey("desk-b", b"bravo-secret-0123456789", frozenset({"agent_b", "agent_b2"}))
KEYRING = Keyring({k.key_id: k for k in (KEY_A, KEY_B)})
WITH_KEYRING = replace(Settings(), keyring=KEYRING)


def body_for(agent_id: str, **fields: Any) -> bytes:
    return orjson.dumps({**example_intent(), "agent_id": agent_id, **fields})


def sign(body: bytes, secret: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, "sha256").hexdigest()


def check(settings: Settings, body: bytes, signature: str | None, key_id: str | None) -> AcceptedIntent | Rejection:
    return IntentValidator(settings).check(RawIntent(7, body, signature, EXAMPLE_MS + 1000, key_id))


def rejected(result: object) -> tuple[str, str, str | None]:
    assert isinstance(result, Rejection), result
    return result.error_type, result.error_code, result.corr_id


def test_a_key_signs_for_its_own_agents() -> None:
    for key, agent in ((KEY_A, "agent_a"), (KEY_B, "agent_b"), (KEY_B, "agent_b2")):
        body = body_for(agent)
        assert isinstance(check(WITH_KEYRING, body, sign(body, key.secret), key.key_id), AcceptedIntent)


def test_a_key_cannot_sign_for_another_agent() -> None:
    body = body_for("agent_b")
    result = check(WITH_KEYRING, body, sign(body, KEY_A.secret), "desk-a")
    assert rejected(result) == (r.AGENT_NOT_OWNED, codes.SIGNER_NOT_OWNER, "req_abc123")
    assert isinstance(result, Rejection) and "desk-a" in result.detail and "agent_b" not in result.detail


def test_another_key_named_with_the_right_signature_of_the_wrong_key_is_a_bad_signature() -> None:
    body = body_for("agent_b")
    result = check(WITH_KEYRING, body, sign(body, KEY_A.secret), "desk-b")  # claims B's key, signs with A's
    assert rejected(result) == (r.BAD_SIGNATURE, codes.ENVELOPE_INVALID, "req_abc123")


@pytest.mark.parametrize("key_id", [None, "desk-c", "", "DESK-A", AMBIGUOUS_KEY_ID])
def test_a_missing_unknown_or_ambiguous_key_id_is_refused(key_id: str | None) -> None:
    body = body_for("agent_a")
    result = check(WITH_KEYRING, body, sign(body, KEY_A.secret), key_id)
    assert rejected(result) == (r.UNKNOWN_KEY, codes.KEY_UNKNOWN, "req_abc123")
    assert isinstance(result, Rejection) and (key_id or "\r") not in result.detail  # client text not echoed


def test_the_shared_secret_passes_without_a_key_id_only_when_allowed() -> None:
    body = body_for("agent_b")
    both = replace(WITH_KEYRING, hmac_secret=SHARED)
    assert rejected(check(both, body, sign(body, SHARED), None))[0] == r.UNKNOWN_KEY
    allowed = replace(both, keyring_allows_shared_secret=True)
    assert isinstance(check(allowed, body, sign(body, SHARED), None), AcceptedIntent)
    assert rejected(check(allowed, body, sign(body, KEY_A.secret), None))[0] == r.BAD_SIGNATURE
    # A key id, when given, is always the keyring's business: the shared secret does not sign for it.
    assert rejected(check(allowed, body, sign(body, SHARED), "desk-b"))[0] == r.BAD_SIGNATURE


def test_without_a_keyring_the_shared_secret_rules_as_before_and_a_key_id_is_ignored() -> None:
    body = body_for("agent_b")
    shared = replace(Settings(), hmac_secret=SHARED)
    assert isinstance(check(shared, body, sign(body, SHARED), "desk-a"), AcceptedIntent)
    assert rejected(check(shared, body, sign(body, KEY_A.secret), "desk-a"))[0] == r.BAD_SIGNATURE
    assert isinstance(check(Settings(), body, None, "anything"), AcceptedIntent)


def test_ownership_is_checked_after_the_schema() -> None:
    body = body_for("agent_b", quantity=-1)
    assert rejected(check(WITH_KEYRING, body, sign(body, KEY_A.secret), "desk-a"))[1] == codes.QUANTITY_INVALID


def test_a_new_keyring_replaces_the_old_one() -> None:
    validator = IntentValidator(WITH_KEYRING)
    rotated = SigningKey("desk-a-2", b"alpha-rotated-0123456789", frozenset({"agent_a"}))
    validator.use_keyring(Keyring({"desk-a-2": rotated, "desk-b": KEY_B}))
    body = body_for("agent_a")
    old = validator.check(RawIntent(7, body, sign(body, KEY_A.secret), EXAMPLE_MS + 1000, "desk-a"))
    assert rejected(old)[0] == r.UNKNOWN_KEY
    new = validator.check(RawIntent(7, body, sign(body, rotated.secret), EXAMPLE_MS + 1000, "desk-a-2"))
    assert isinstance(new, AcceptedIntent)


def test_a_later_bus_pass_checks_the_signature_against_the_keyring_of_now() -> None:
    body = body_for("agent_a")
    raw = RawIntent(7, body, sign(body, KEY_A.secret), EXAMPLE_MS + 1000, "desk-a")
    validator = IntentValidator(WITH_KEYRING)
    assert isinstance(validator.check(raw), AcceptedIntent)
    validator.use_keyring(Keyring({"desk-b": KEY_B}))  # the key went between the passes
    assert validator.check(raw, again=True) == validator.check(raw)
    assert rejected(validator.check(raw, again=True))[0] == r.UNKNOWN_KEY
    validator.use_keyring(Keyring({"desk-a": replace(KEY_A, agents=frozenset({"agent_b"}))}))
    assert rejected(validator.check(raw, again=True)) == (r.AGENT_NOT_OWNED, codes.SIGNER_NOT_OWNER, "req_abc123")
