"""One fetched intent as the supervisor tracks it, from fetch until its input is settled.

Runs in the supervisor's event loop. Also reads a JetStream delivery's stream
sequence, delivery count and stored time straight from its ack subject.
"""

from __future__ import annotations

from typing import Any

from common.messages import Execution


def delivery_of_reply(reply: str) -> tuple[int, int, int]:
    """(stream sequence, delivery count, stored time in epoch ms) from a JetStream ack subject,
    without nats-py's full metadata parse (a datetime per message); ValueError for anything else.

    The stored time is when the stream took the intent in: the venue's receipt
    time. It is the same on every delivery and in a replay, so the wall clock's
    event timestamps (receipt + delay) repeat exactly too.
    """
    tokens = reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[5]), int(tokens[4]), int(tokens[7]) // 1_000_000
    if len(tokens) >= 11:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>...
        return int(tokens[7]), int(tokens[6]), int(tokens[9]) // 1_000_000
    raise ValueError(f"not a JetStream ack subject: {reply[:120]!r}")


def delivery_of(msg: Any) -> tuple[int, int, int]:
    """delivery_of_reply for a nats-py message, with its metadata parse as the fallback."""
    try:
        return delivery_of_reply(msg.reply)
    except ValueError:
        metadata = msg.metadata
        return metadata.sequence.stream, metadata.num_delivered, int(metadata.timestamp.timestamp() * 1000)


class InFlight:
    """One fetched intent, from fetch until its input is acked or terminated."""

    __slots__ = ("reply", "stream_seq", "redelivered", "receipt_at", "execution", "next_event", "previous_stored_at",
                 "progress_at", "held_event", "agent")

    def __init__(self, reply: str, stream_seq: int, redelivered: bool, receipt_at: float,
                 delivered_at: float = 0.0) -> None:
        self.reply = reply  # the newest delivery's ack subject: what the ack answers
        self.stream_seq = stream_seq
        self.redelivered = redelivered
        # The venue's receipt (the stream's stored time) on the monotonic clock: release
        # times count from here, as the events' timestamps (receipt + delay) do.
        self.receipt_at = receipt_at
        self.execution: Execution | None = None
        self.next_event = 0
        # When the previous event's PubAck came (0.0 before the first): the next one waits for it.
        self.previous_stored_at = 0.0
        # Monotonic: the delivery, or the last progress ack sent for it (supervisor/keepalive.py).
        self.progress_at = delivered_at
        # Index of the event whose reconcile_delayed hold is over (supervisor/holds.py); -1: none yet.
        self.held_event = -1
        # The raw agent_id its place in the executing room is counted under (supervisor/agent_shares.py);
        # None once it has left the room (answered, or moved to the long-order room) or was never counted.
        self.agent: bytes | None = None
