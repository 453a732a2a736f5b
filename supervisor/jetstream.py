"""JetStream topology: the stream and the durable pull consumer, created or bound.

Runs in the supervisor at start. Creates what is missing with the settings the
service's promises need (duplicate window >= IDEMPOTENCY_TTL_SEC for
exactly-once outputs, max_ack_pending = MAX_IN_FLIGHT, ack_wait and
max_deliver for redelivery), binds to what exists, and warns where an existing
stream or consumer is configured so that a promise cannot hold.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable


from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from common.config import Settings

log = logging.getLogger("at_exec_sim.jetstream")

# The stream's duplicate window is what drops a re-published event after a crash.
MIN_DUPLICATE_WINDOW_S = 120.0


def stream_subjects(settings: Settings) -> list[str]:
    """decisions.* and executions.* for the default subjects; a wildcard per subject root otherwise.

    A root with any subject of three or more tokens gets root.>, which covers its
    two-token subjects too (JetStream refuses overlapping subjects in one stream).
    """
    depth: dict[str, int] = {}
    for subject in (settings.subject_order_intent, *settings.output_subjects.values()):
        root = subject.split(".")[0]
        depth[root] = max(depth.get(root, 0), subject.count(".") + 1)
    return [root if d == 1 else f"{root}.*" if d == 2 else f"{root}.>" for root, d in depth.items()]


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=settings.nats_durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
        max_ack_pending=settings.max_in_flight,
        filter_subject=settings.subject_order_intent,
    )


async def ensure_stream(js: JetStreamContext, settings: Settings) -> None:
    duplicate_window_s = max(MIN_DUPLICATE_WINDOW_S, settings.idempotency_ttl_s)
    try:
        info = await js.stream_info(settings.nats_stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=settings.nats_stream,
                subjects=stream_subjects(settings),
                duplicate_window=duplicate_window_s,
            )
        )
        log.info(
            "stream created",
            extra={"stream": settings.nats_stream, "subjects": stream_subjects(settings),
                   "duplicate_window_s": duplicate_window_s},
        )
        return
    window = info.config.duplicate_window or 0.0
    if window < settings.idempotency_ttl_s:
        log.warning(
            "existing stream's duplicate window is shorter than IDEMPOTENCY_TTL_SEC: "
            "a redelivered intent after that window may be filled again",
            extra={"stream": settings.nats_stream, "duplicate_window_s": window,
                   "idempotency_ttl_s": settings.idempotency_ttl_s},
        )
    log.info("stream bound", extra={"stream": settings.nats_stream, "subjects": info.config.subjects})


async def ensure_consumer(js: JetStreamContext, settings: Settings) -> None:
    """The durable consumer, created when missing. Nothing binds to it: the supervisor's
    pull requests name it (supervisor/puller.py)."""
    try:
        info = await js.consumer_info(settings.nats_stream, settings.nats_durable)
        if info.config.max_ack_pending is not None and 0 < info.config.max_ack_pending < settings.max_in_flight:
            log.warning(
                "existing consumer's max_ack_pending caps intents in flight below MAX_IN_FLIGHT",
                extra={"max_ack_pending": info.config.max_ack_pending, "max_in_flight": settings.max_in_flight},
            )
        log.info("consumer bound", extra={"durable": settings.nats_durable})
    except NotFoundError:
        await js.add_consumer(settings.nats_stream, consumer_config(settings))
        log.info("consumer created", extra={"durable": settings.nats_durable})


class TopologyKeeper:
    """The stream and the consumer, kept in place.

    They are made at start; if they vanish later (a server restarted on an empty
    store, a deleted consumer) `keep` makes them again: it checks every few
    seconds, and at once after `suspect` (a publish that found no stream).
    """

    CHECK_S = 5.0

    def __init__(self, js: JetStreamContext, settings: Settings) -> None:
        self._js = js
        self._settings = settings
        self._suspect = asyncio.Event()

    async def establish(self) -> None:
        await ensure_stream(self._js, self._settings)
        await ensure_consumer(self._js, self._settings)

    def suspect(self) -> None:
        self._suspect.set()

    async def keep(self, connected: Callable[[], bool], on_backlog: Callable[[int], None] | None = None) -> None:
        """Check on the topology until cancelled; `on_backlog` gets the consumer's unfetched count."""
        s = self._settings
        while True:
            try:
                await asyncio.wait_for(self._suspect.wait(), timeout=self.CHECK_S)
            except asyncio.TimeoutError:
                pass
            self._suspect.clear()
            if not connected():
                continue
            try:
                info = await self._js.consumer_info(s.nats_stream, s.nats_durable, timeout=5)
                if on_backlog is not None:
                    on_backlog(info.num_pending or 0)
                continue
            except NotFoundError:
                pass
            except Exception as exc:
                log.debug("topology check failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                continue
            log.error("stream or consumer missing; creating them again",
                      extra={"stream": s.nats_stream, "durable": s.nats_durable})
            try:
                await self.establish()
            except Exception as exc:
                log.error("could not restore the stream or consumer", extra={"error": f"{type(exc).__name__}: {exc}"})
            await asyncio.sleep(self.CHECK_S)  # at most one repair per interval
