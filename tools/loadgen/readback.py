"""The service's answers, read back from the stream for the load generator.

Runs in the loadgen process, on its asyncio loop. Owns one pull consumer per
output subject (fills, reconciles, order updates) for the length of a run:
named loadgen-<random hex>, filtered on that subject, delivering what the stream
stores from its creation on (DeliverPolicy.NEW), without acks, deleted at the
end (the server removes it CONSUMER_INACTIVE_S after a run that died first).

Why named pull consumers: what is read is what the stream stored, so a publish
the stream dropped as a duplicate is not counted twice; and a named consumer's
create request names its filter ($JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>),
which is what deploy/nats.conf lets an agent user send for the outputs. An
unnamed consumer (nats-py's ordered consumers) could read any subject, so agents
may not create one; push flow control would need more rights still.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

FETCH_BATCH = 500
# A fetch returns as soon as a message is stored; this is only how long an idle one lingers.
FETCH_WAIT_S = 1.0
CONSUMER_INACTIVE_S = 60.0


class AnswerReader:
    """One output subject's stored messages, handed to `on_message` in stream order."""

    def __init__(self, js: Any, stream: str, name: str, sub: Any,
                 on_message: Callable[[Any], Awaitable[None]]) -> None:
        self._js, self._stream, self._name, self._sub = js, stream, name, sub
        self._on_message = on_message
        self._task = asyncio.create_task(self._read(), name=f"loadgen-read-{name}")

    @classmethod
    async def start(cls, js: Any, stream: str, subject: str,
                    on_message: Callable[[Any], Awaitable[None]]) -> AnswerReader:
        """Create the consumer (what is stored from now on) and start reading; nats-py errors raise."""
        name = f"loadgen-{secrets.token_hex(6)}"
        await js.add_consumer(stream, ConsumerConfig(
            name=name, filter_subject=subject, deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.NONE,
            inactive_threshold=CONSUMER_INACTIVE_S, mem_storage=True, num_replicas=1))
        sub = await js.pull_subscribe_bind(consumer=name, stream=stream)
        return cls(js, stream, name, sub, on_message)

    async def _read(self) -> None:
        while True:
            try:
                msgs = await self._sub.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                await self._on_message(msg)

    async def pending(self) -> int | None:
        """Messages stored on the subject and not yet fetched; None when the server does not say."""
        try:
            info = await self._js.consumer_info(self._stream, self._name, timeout=1.0)
        except Exception:
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        """Stop reading and delete the consumer; a failure here changes no figure."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):  # inactive_threshold removes it anyway
            await self._sub.unsubscribe()
            await self._js.delete_consumer(self._stream, self._name)
