"""Duplicate keys in an intent body: the check orjson cannot make.

Runs in the pool's worker processes, called by worker/validation.py on a body
orjson has already parsed. Owns one question: does any object in the body, at
any depth, name the same key twice? orjson keeps the last value, while a signer
or a gateway in front of us may read the first: `{"quantity": -1, "quantity": 1}`
would be one order there and another here. Such a body is malformed_json.

Two steps, so a typical intent pays about a microsecond:

1. Pre-check, when the body has no backslash. Then no string in it has an
   escape, so orjson writes every string back byte for byte, and the colons
   outside strings are one per key occurrence: the body has one per key it
   names, orjson's output of the parsed value one per key it kept. Equal
   counts of ":" in both mean no key was dropped, so none was given twice.
   Whitespace and the colons inside strings (a timestamp's, a note reading
   quantity: 5) are the same on both sides and cancel out.
2. Otherwise (a colon count that differs, or any backslash, since
   "quant\\u0069ty" is "quantity", and a value may hold an escaped
   '\\"quantity\\": 5'; or orjson refusing to write back its own nesting past
   255 levels): the exact check, json.loads with an
   object_pairs_hook that notes each object's repeated keys.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import orjson

# orjson parses up to 1024 levels of nesting; json's scanner takes a level of the recursion
# limit for each, so the exact check raises the limit by this much while it runs.
_NESTING_ROOM = 1100


def duplicate_keys(body: bytes, parsed: object) -> frozenset[str] | None:
    """The keys some object in `body` names more than once; None when there are none.

    `parsed` is orjson.loads(body): the body is valid JSON.

    A body json's parser cannot check (it never happens: orjson refuses
    deeper nesting than the room given here) counts as duplicated, with an
    empty set: what cannot be checked is not accepted.
    """
    if b"\\" not in body:
        try:
            if body.count(b":") == orjson.dumps(parsed).count(b":"):
                return None
        except orjson.JSONEncodeError:
            pass  # deeper than orjson writes: the exact check decides
    repeated: set[str] = set()

    def note_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    repeated.add(key)
                seen.add(key)
        return obj

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + _NESTING_ROOM)  # a worker process is one thread: nothing else sees it
    try:
        json.loads(body, object_pairs_hook=note_repeats)
    except (ValueError, RecursionError):
        return frozenset()
    finally:
        sys.setrecursionlimit(limit)
    return frozenset(repeated) if repeated else None
