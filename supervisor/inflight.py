"""One fetched intent as the supervisor tracks it, from fetch until its input is settled.

Runs in the supervisor's event loop. Also reads a JetStream message's stream
sequence and delivery count straight from its ack subject.
"""

from __future__ import annotations

from typing import Any

from common.messages import Execution


def delivery_of(msg: Any) -> tuple[int, int]:
    """(stream sequence, delivery count) from the ack subject, without nats-py's full
    metadata parse (a datetime per message)."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(tokens[5]), int(tokens[4])
    if len(tokens) >= 11:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>...
        return int(tokens[7]), int(tokens[6])
    metadata = msg.metadata
    return metadata.sequence.stream, metadata.num_delivered


class InFlight:
    """One fetched intent, from fetch until its input is acked or terminated."""

    __slots__ = ("msg", "stream_seq", "redelivered", "received_at", "execution", "next_event")

    def __init__(self, msg: Any, stream_seq: int, redelivered: bool, received_at: float) -> None:
        self.msg = msg
        self.stream_seq = stream_seq
        self.redelivered = redelivered
        self.received_at = received_at  # monotonic; release times count from here
        self.execution: Execution | None = None
        self.next_event = 0
