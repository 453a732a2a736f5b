"""Fair dispatch: fetched intents wait here, one queue per agent, and go to the workers in turns.

Runs in the supervisor's event loop (plain bookkeeping: no NATS, no awaits).
One durable consumer delivers in stream order, so an agent that publishes
thirty thousand intents at once is ahead of everyone who publishes after it.
Intake (supervisor/intake.py) fetches ahead (supervisor/agent_shares.py says
how far) and keeps only a small window at the workers; what is fetched and not yet at the
workers waits here, in one FIFO per agent, and `take` hands it out one intent
per agent per turn. A quiet agent's intent then waits for one turn of the
agents with work queued, not for the flood ahead of it in the stream (once
the fetch has reached it).

The agent is the intent's top-level agent_id (`agent_key`), read without a
parse when that is safe: a body with no backslash and one `"agent_id"` in it
(every intent its agent writes plainly) has it as its only key of that name,
so the bytes after it are the agent's. Anything else (an escaped key or value,
the name twice, as when a metadata object names another agent to put a flood
in that agent's queue) is parsed, which costs only the sender of such a body.
It only picks a queue and a share: the worker's parse alone decides the
intent's fate. Queues hold at most what the fetch brought in,
so memory stays within MAX_IN_FLIGHT + MAX_QUEUED_OVER_SHARE intents whatever
the number of agents.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import orjson

T = TypeVar("T")

_AGENT_KEY = b'"agent_id"'
# Longer agent ids share a queue with whatever shares their first bytes.
MAX_KEY_BYTES = 64


def agent_key(body: bytes) -> bytes:
    """The top-level agent_id of a JSON intent, as raw bytes ("" when it has none)."""
    if b"\\" in body or body.count(_AGENT_KEY) != 1:
        return _parsed_agent_key(body)
    at = body.find(_AGENT_KEY)
    colon = body.find(b":", at + len(_AGENT_KEY))
    if colon < 0 or body[at + len(_AGENT_KEY) : colon].strip():
        return b""
    opening = body.find(b'"', colon + 1)
    if opening < 0 or body[colon + 1 : opening].strip():
        return b""
    closing = body.find(b'"', opening + 1, opening + 2 + MAX_KEY_BYTES)
    return body[opening + 1 : closing] if closing > 0 else body[opening + 1 : opening + 1 + MAX_KEY_BYTES]


def _parsed_agent_key(body: bytes) -> bytes:
    try:
        intent = orjson.loads(body)
    except orjson.JSONDecodeError:
        return b""
    agent_id = intent.get("agent_id") if isinstance(intent, dict) else None
    return agent_id.encode()[:MAX_KEY_BYTES] if isinstance(agent_id, str) else b""


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._queues: dict[bytes, deque[T]] = {}
        # Agents with something queued, in the order of their next turn.
        self._turns: deque[bytes] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def agents(self) -> int:
        return len(self._queues)

    def put(self, key: bytes, item: T) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._turns.append(key)
        queue.append(item)
        self._size += 1

    def take(self, limit: int) -> list[T]:
        """Up to `limit` items, one per agent per turn, each agent's in the order they came."""
        taken: list[T] = []
        queues, turns = self._queues, self._turns
        while turns and len(taken) < limit:
            if len(turns) == 1:  # one agent: its next items in one go
                key = turns[0]
                queue = queues[key]
                while queue and len(taken) < limit:
                    taken.append(queue.popleft())
                if not queue:
                    del queues[key]
                    turns.popleft()
                break
            key = turns.popleft()
            queue = queues[key]
            taken.append(queue.popleft())
            if queue:
                turns.append(key)
            else:
                del queues[key]
        self._size -= len(taken)
        return taken

    def clear(self) -> None:
        self._queues.clear()
        self._turns.clear()
        self._size = 0
