"""Who signed an intent: the shared secret, or a key of the operator's keyring, and for which agents.

Runs in the pool's worker processes (plain synchronous code), called by
worker/validation.py on the raw body before it is parsed. Owns the rule:

- No keyring (INTENT_KEYRING_FILE unset): exactly the shared secret's rule.
  API_KEY_HMAC_SECRET set: X-Signature must be `sha256=<hex HMAC-SHA256(secret, body)>`,
  and the intent may name any agent_id; empty: nothing is checked. X-Key-Id is ignored.
- A keyring: X-Key-Id names the key, X-Signature must be that key's HMAC of the body,
  and (checked by the validator once the body has passed the schema) the intent's
  agent_id must be one of the key's agents. An intent without X-Key-Id is refused
  (unknown_key), unless INTENT_KEYRING_ALLOW_SHARED_SECRET is on: then the shared
  secret verifies it as above, for any agent (a migration from one secret to keys).

`verify` answers with the key that bounds the intent's agent_id, None when none does,
or a `Refusal`. The keyring is data from the supervisor (`use_keyring`, on a
KeyringUpdate): nothing here reads a file. Details never echo what the client sent.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from common.error_codes import ENVELOPE_INVALID, KEY_UNKNOWN
from common.keyring import Keyring, SigningKey
from common.messages import AMBIGUOUS_KEY_ID, AMBIGUOUS_SIGNATURE
from worker.rejections import BAD_SIGNATURE, UNKNOWN_KEY

_SIGNATURE_PREFIX = "sha256="


@dataclass(frozen=True, slots=True)
class Refusal:
    error_type: str
    error_code: str
    detail: str


class Signer:
    def __init__(self, shared_secret: bytes, keyring: Keyring | None, allows_shared_secret: bool) -> None:
        self._shared_secret = shared_secret
        self._allows_shared_secret = allows_shared_secret
        self._keys: dict[str, SigningKey] | None = None
        self.use_keyring(keyring)

    def use_keyring(self, keyring: Keyring | None) -> None:
        self._keys = dict(keyring.keys) if keyring is not None else None
        # Off: no secret and no keyring, so the validator skips `verify` altogether.
        self.active = bool(self._shared_secret) or self._keys is not None

    def verify(self, body: bytes, signature: str | None, key_id: str | None) -> SigningKey | Refusal | None:
        keys = self._keys
        if keys is None or (key_id is None and self._allows_shared_secret):
            problem = _signature_problem(self._shared_secret, body, signature)
            return Refusal(BAD_SIGNATURE, ENVELOPE_INVALID, problem) if problem else None
        if key_id is None:
            return Refusal(UNKNOWN_KEY, KEY_UNKNOWN, "X-Key-Id header missing")
        key = keys.get(key_id)
        if key is None:
            detail = ("X-Key-Id header given more than once, or with whitespace before its colon"
                      if key_id == AMBIGUOUS_KEY_ID else "X-Key-Id names no key in the keyring")
            return Refusal(UNKNOWN_KEY, KEY_UNKNOWN, detail)
        problem = _signature_problem(key.secret, body, signature)
        return Refusal(BAD_SIGNATURE, ENVELOPE_INVALID, problem) if problem else key


def _signature_problem(secret: bytes, body: bytes, signature: str | None) -> str | None:
    if signature is None:
        return "X-Signature header missing"
    if signature == AMBIGUOUS_SIGNATURE:
        return "X-Signature header given more than once, or with whitespace before its colon"
    given = signature[len(_SIGNATURE_PREFIX):]
    # compare_digest refuses non-ASCII str; such a value cannot be the hex digest anyway.
    if not signature.startswith(_SIGNATURE_PREFIX) or not given.isascii():
        return "X-Signature is not sha256=<hex>"
    expected = hmac.digest(secret, body, "sha256").hex()
    if not hmac.compare_digest(expected, given.lower()):
        return "X-Signature does not match the body"
    return None
