"""One X-Signature reader for the service and `at-exec-sim replay` (issue 18).

The service reads each delivery's raw header block with supervisor.headers.signature_of;
the replay reads stored intents through nats-py (RawHeadersClient), and must see the same
value on the same bytes. Before, the service took the first of two X-Signature lines (and
none with a space before the colon) while the replay took nats-py's dict's last.
"""

from __future__ import annotations

import asyncio

import pytest

from common.messages import AMBIGUOUS_KEY_ID, AMBIGUOUS_SIGNATURE
from supervisor.headers import credentials_of, key_id_of, signature_of

GOOD = "sha256=" + "ab" * 32
OTHER = "sha256=" + "cd" * 32
ACK = "$JS.ACK.EXEC.replay-consumer.1.7.7.1764079000000000000.0"

# (header block as the server sends it, the signature both must read)
BLOCKS = [
    (None, None),
    (b"NATS/1.0\r\nNats-Msg-Id: a1\r\n\r\n", None),  # absent
    (b"NATS/1.0\r\nX-Signature: " + GOOD.encode() + b"\r\n\r\n", GOOD),
    (b"NATS/1.0\r\nX-Signature:  " + GOOD.encode() + b" \r\n\r\n", GOOD),  # whitespace around the value
    (b"NATS/1.0\r\nx-signature: " + GOOD.encode() + b"\r\n\r\n", GOOD),  # case
    (b"NATS/1.0\r\nX-SIGNATURE: " + GOOD.encode() + b"\r\n\r\n", GOOD),
    (b"NATS/1.0\r\nX-Signature-Old: " + OTHER.encode() + b"\r\n\r\n", None),  # another name
    (b"NATS/1.0\r\nX-Signature: " + OTHER.encode() + b"\r\nX-Signature: " + GOOD.encode() + b"\r\n\r\n",
     AMBIGUOUS_SIGNATURE),  # two values: neither
    (b"NATS/1.0\r\nX-Signature: " + GOOD.encode() + b"\r\nX-Signature: " + GOOD.encode() + b"\r\n\r\n",
     AMBIGUOUS_SIGNATURE),  # twice, even when equal
    (b"NATS/1.0\r\nX-Signature: " + GOOD.encode() + b"\r\nx-signature: " + OTHER.encode() + b"\r\n\r\n",
     AMBIGUOUS_SIGNATURE),  # twice in two cases
    (b"NATS/1.0\r\nX-Signature : " + GOOD.encode() + b"\r\n\r\n", AMBIGUOUS_SIGNATURE),  # space before the colon
    (b"NATS/1.0\r\nX-Signature: " + GOOD.encode() + b"\r\nX-Signature : " + OTHER.encode() + b"\r\n\r\n",
     AMBIGUOUS_SIGNATURE),
]


@pytest.mark.parametrize(("block", "expected"), BLOCKS)
def test_the_reader_takes_one_unambiguous_value_or_none(block: bytes | None, expected: str | None) -> None:
    assert signature_of(block) == expected


def test_the_ambiguous_sentinel_never_verifies() -> None:
    from dataclasses import replace

    from common.config import Settings
    from common.messages import RawIntent, Rejection
    from worker.validation import IntentValidator

    validator = IntentValidator(replace(Settings(), hmac_secret=b"k", replay_window_s=0))
    result = validator.check(RawIntent(1, b'{"corr_id": "c1"}', AMBIGUOUS_SIGNATURE, 0))
    assert isinstance(result, Rejection) and result.error_type == "bad_signature"
    assert "more than once" in (result.detail or "")


def _replay_reads(block: bytes | None) -> str | None:
    """The signature the replay reads for a stored intent whose header block is `block`."""
    from nats.aio.subscription import Subscription

    from tools.replay.source import RawHeadersClient, _raw_intent

    async def through_the_client() -> str | None:
        client = RawHeadersClient()
        sub = Subscription(client, 1, "decisions.order_intent")  # a plain one: the pull's path for its messages
        client._subs[1] = sub
        await client._process_msg(1, b"decisions.order_intent", ACK.encode(), b"{}", block)  # type: ignore[arg-type]
        return _raw_intent(sub._pending_queue.get_nowait()).signature

    return asyncio.run(through_the_client())


@pytest.mark.parametrize(("block", "expected"), BLOCKS)
def test_replay_reads_what_the_service_reads(block: bytes | None, expected: str | None) -> None:
    assert _replay_reads(block) == signature_of(block) == expected


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (None, None),
        (b"NATS/1.0\r\nX-Signature: sha256=ab\r\n\r\n", None),
        (b"NATS/1.0\r\nX-Key-Id: desk-a\r\n\r\n", "desk-a"),
        (b"NATS/1.0\r\nx-key-id:  desk-a \r\n\r\n", "desk-a"),
        (b"NATS/1.0\r\nX-Key-Id: desk-a\r\nX-KEY-ID: desk-b\r\n\r\n", AMBIGUOUS_KEY_ID),
        (b"NATS/1.0\r\nX-Key-Id : desk-a\r\n\r\n", AMBIGUOUS_KEY_ID),
    ],
)
def test_key_id_is_read_by_the_signature_rule(block: bytes | None, expected: str | None) -> None:
    assert key_id_of(block) == expected


KEY_BLOCKS = [
    b"NATS/1.0\r\nX-Key-Id: desk-a\r\n\r\n",
    b"NATS/1.0\r\nX-Key-Id: desk-a\r\nX-KEY-ID: desk-b\r\nX-Signature: " + GOOD.encode() + b"\r\n\r\n",
    b"NATS/1.0\r\nX-Key-Id : desk-a\r\nx-signature: " + GOOD.encode() + b"\r\n\r\n",
    b"NATS/1.0\r\nX-Signature: " + GOOD.encode() + b"\r\nX-Key-Id: k\r\nX-Signature: " + OTHER.encode() + b"\r\n\r\n",
    b"NATS/1.0\r\nX-Key-Id: a\r\nX-Key-Id: b\r\nX-Key-Id: c\r\n\r\n",
]


@pytest.mark.parametrize("block", [b for b, _ in BLOCKS] + KEY_BLOCKS)
def test_the_one_pass_read_agrees_with_each_header_read_alone(block: bytes | None) -> None:
    assert credentials_of(block) == (signature_of(block), key_id_of(block))
