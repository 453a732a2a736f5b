"""The fast reference the service is measured against: a do-nothing pass-through consumer.

One process, one asyncio loop (uvloop), no validation and no simulation: fetch a
batch from a durable pull consumer, publish two messages per input (the input's
body, as a "fill" and a "reconcile") with pipelined PubAcks (js.publish_async),
and ack each input once both of its PubAcks are back. It keeps what makes the
service's outputs exactly-once, a Nats-Msg-Id per output (from the input's
stream sequence), and it acks only after its outputs are stored, so it is the
least a correct consumer has to do on the NATS side: the floor the service's
NATS handling is compared with (issue 8).
"""

from __future__ import annotations

import nats
from nats.js.api import AckPolicy, ConsumerConfig

BATCH = 500
MAX_PENDING_PUBLISHES = 4000


def stream_sequence(msg: object) -> str:
    """The input's stream sequence, from its ack subject ($JS.ACK.<stream>.<consumer>.<n>.<sseq>...)."""
    return msg.reply.split(".")[5]  # type: ignore[attr-defined]


async def drain(url: str, stream: str, intent_subject: str, fill_subject: str, reconcile_subject: str,
                expected: int) -> int:
    """Consume `expected` intents; return how many were handled."""
    nc = await nats.connect(url.split(","))  # one server, or a cluster's comma-separated urls
    js = nc.jetstream(publish_async_max_pending=MAX_PENDING_PUBLISHES)
    sub = await js.pull_subscribe(
        intent_subject, durable="passthrough", stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000),
    )
    handled = 0
    try:
        while handled < expected:
            try:
                msgs = await sub.fetch(BATCH, timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            answers = []
            for msg in msgs:
                seq = stream_sequence(msg)
                fill = await js.publish_async(fill_subject, msg.data, headers={"Nats-Msg-Id": f"{seq}:1"})
                reconcile = await js.publish_async(reconcile_subject, msg.data,
                                                   headers={"Nats-Msg-Id": f"{seq}:2"})
                answers.append((msg, fill, reconcile))
            for msg, fill, reconcile in answers:
                await fill
                await reconcile
                await msg.ack()
            handled += len(msgs)
    finally:
        await nc.close()
    return handled
