"""The one reader of an intent's X-Signature and X-Key-Id headers, from the raw NATS header block.

Runs in the supervisor's event loop (supervisor/intake.py, on each delivery the
raw pull brings) and in `at-exec-sim replay` (tools/replay/source.py, on each
stored intent it reads). Both read the same bytes with the same function, so a
replay with --publish cannot fill an intent the service rejected, or the other
way round. Owns the rule for a header block that is ambiguous about the
signature; the worker's validator (worker/validation.py) decides what the value
is worth.
"""

from __future__ import annotations

from common.messages import AMBIGUOUS_KEY_ID, AMBIGUOUS_SIGNATURE

_NAME = b"x-signature"
_KEY_ID = b"x-key-id"


def credentials_of(headers: bytes | None) -> tuple[str | None, str | None]:
    """(signature_of, key_id_of) of one block in one pass: the service's read with a keyring."""
    if not headers:
        return None, None
    lowered = headers.lower()
    if _NAME not in lowered and _KEY_ID not in lowered:
        return None, None
    signature: str | None = None
    key_id: str | None = None
    for line in headers.split(b"\r\n")[1:]:
        if not line:
            break
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        wanted = name.strip().lower()
        if wanted == _NAME:
            ambiguous = signature is not None or name != name.strip()
            signature = AMBIGUOUS_SIGNATURE if ambiguous else value.strip().decode(errors="replace")
        elif wanted == _KEY_ID:
            ambiguous = key_id is not None or name != name.strip()
            key_id = AMBIGUOUS_KEY_ID if ambiguous else value.strip().decode(errors="replace")
    return signature, key_id


def key_id_of(headers: bytes | None) -> str | None:
    """The X-Key-Id value, by the rule `signature_of` states (AMBIGUOUS_KEY_ID where that says ambiguous)."""
    if not headers or _KEY_ID not in headers.lower():
        return None
    return _value_of(headers, _KEY_ID, AMBIGUOUS_KEY_ID)


def signature_of(headers: bytes | None) -> str | None:
    """The X-Signature value of a raw header block ("NATS/1.0" line, then "Name: value" lines).

    - No X-Signature line: None (the validator says "missing").
    - The name is matched without regard to case (NATS headers are HTTP-like):
      x-signature and X-SIGNATURE are X-Signature. The value is stripped of the
      whitespace around it.
    - Ambiguous: AMBIGUOUS_SIGNATURE, which never verifies. That is two or more
      X-Signature lines (in any case mix, with equal values or not), or one with
      whitespace between the name and the colon ("X-Signature : ..."), which
      HTTP/1.1 (RFC 9112 5.1) says to refuse. A careful venue picks neither the
      first nor the last: a gateway or signer in front of us may have read the
      other one, and so have approved another signature than the one we check.
    """
    if not headers or _NAME not in headers.lower():  # the common case: one find, no split
        return None
    return _value_of(headers, _NAME, AMBIGUOUS_SIGNATURE)


def _value_of(headers: bytes, wanted: bytes, ambiguous: str) -> str | None:
    found: str | None = None
    for line in headers.split(b"\r\n")[1:]:
        if not line:
            break  # the blank line that ends the block
        name, colon, value = line.partition(b":")
        if not colon or name.strip().lower() != wanted:
            continue
        if found is not None or name != name.strip():
            return ambiguous
        found = value.strip().decode(errors="replace")
    return found
