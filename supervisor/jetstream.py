"""JetStream topology: the stream and the durable pull consumer, created or bound.

Runs in the supervisor at start. Creates what is missing with the settings the
service's promises need (duplicate window >= IDEMPOTENCY_TTL_SEC for
exactly-once outputs, NATS_STREAM_REPLICAS, NATS_MAX_ACK_PENDING, ack_wait and
max_deliver for redelivery), binds to what exists, and warns where an existing
stream or consumer is configured so that a promise cannot hold; it never
changes or deletes what exists.

Several instances share one stream and one durable: the first to start creates
them, the others bind. Two starting at once may both create, which JetStream
takes as one creation when their settings are equal. When they differ, a
refused creation binds to what the other made (with the warnings) instead of
failing the start; nats-py's durable create updates a consumer that differs
only in fields JetStream can change (ack_wait, max_ack_pending, max_deliver),
so in that race the later start's values stand. The consumer's replica count
is left to follow the stream's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from common.config import Settings
from common.contracts import MARKET_TICK_PREFIX

log = logging.getLogger("at_exec_sim.jetstream")

def stream_subjects(settings: Settings) -> list[str]:
    """decisions.* and executions.* for the default subjects; a wildcard per subject root otherwise.

    A root with any subject of three or more tokens gets root.>, which covers its
    two-token subjects too (JetStream refuses overlapping subjects in one stream).
    """
    depth: dict[str, int] = {}
    for subject in (settings.subject_order_intent, *settings.output_subjects.values(), *market_subjects(settings)):
        root = subject.split(".")[0]
        tokens = subject.count(".") + 1
        depth[root] = max(depth.get(root, 0), 3 if subject.endswith(".>") else tokens)
    return [root if d == 1 else f"{root}.*" if d == 2 else f"{root}.>" for root, d in depth.items()]


def market_subjects(settings: Settings) -> list[str]:
    """MARKET_DATA=bus: the subjects the market reader reads (quotes, signals, the service's ticks)."""
    if settings.market_data != "bus":
        return []
    subjects = list(settings.market_quote_subjects)
    if settings.market_signal_subject:
        subjects.append(settings.market_signal_subject)
    tick = tick_prefix(settings)
    if not matches_any(subjects, tick + ".x"):
        subjects.append(tick + ".>")
    return subjects


def covering_filter(subjects: list[str]) -> str | None:
    """One filter subject that covers all of `subjects` (their common leading literal tokens, then `>`),
    or None when there are fewer than two or they share no leading token.

    The market reader's consumer filters on it instead of on the list: nats-server serves a consumer
    with several filter subjects at about twice its cost per message for one (measured: 27 against
    10 us a message reading back a stream of quotes and intents), and while a reader catches up that
    way, the stream's PubAcks to the service's events waited seconds (bench/profile_market_bus.py).
    The reader then drops what the list would not have delivered (`matches_any`)."""
    if len(subjects) < 2:
        return None
    split = [s.split(".") for s in subjects]
    prefix: list[str] = []
    for tokens in zip(*split, strict=False):
        if len(set(tokens)) != 1 or tokens[0] in ("*", ">"):
            break
        prefix.append(tokens[0])
    if not prefix or any(len(tokens) <= len(prefix) for tokens in split):
        return None
    return ".".join(prefix) + ".>"


def matches_any(subjects: list[str], subject: str) -> bool:
    """Whether a message's subject is one a consumer filtered on `subjects` delivers."""
    return any(_covers(s, subject) for s in subjects)


def tick_prefix(settings: Settings) -> str:
    """Where the service's watermark ticks go: beside the first quote subject (market.quote.> gives
    market.tick), so a deployment that moves its market subjects moves the ticks with them."""
    first = settings.market_quote_subjects[0]
    if first.endswith(".quote.>"):
        return first[: -len(".quote.>")] + ".tick"
    return MARKET_TICK_PREFIX


def _covers(wildcard: str, subject: str) -> bool:
    """Whether `wildcard` matches `subject` (NATS rules: `*` one token, `>` the rest)."""
    pattern, tokens = wildcard.split("."), subject.split(".")
    for i, p in enumerate(pattern):
        if p == ">":
            return len(tokens) > i
        if i >= len(tokens) or (p != "*" and p != tokens[i]):
            return False
    return len(pattern) == len(tokens)


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=settings.nats_durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
        max_ack_pending=settings.nats_max_ack_pending,
        filter_subject=settings.subject_order_intent,
    )


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.nats_stream,
        subjects=stream_subjects(settings),
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.nats_stream_replicas,
    )


async def _existing_or_create(read: Callable[[], Awaitable[Any]], create: Callable[[], Awaitable[Any]]) -> Any:
    """The info of what exists, or None once `create` made it.

    A creation refused because another instance made it meanwhile, with other
    settings, reads what that instance made; one refused for its own sake
    (replicas beyond the servers, say) raises.
    """
    try:
        return await read()
    except NotFoundError:
        pass
    try:
        await create()
    except BadRequestError as refused:
        try:
            return await read()
        except NotFoundError:
            raise refused from None
    return None


async def ensure_stream(js: JetStreamContext, settings: Settings) -> None:
    config = stream_config(settings)
    info = await _existing_or_create(lambda: js.stream_info(settings.nats_stream), lambda: js.add_stream(config))
    if info is None:
        log.info(
            "stream created",
            extra={"stream": settings.nats_stream, "subjects": config.subjects,
                   "duplicate_window_s": config.duplicate_window, "replicas": config.num_replicas},
        )
        return
    replicas = info.config.num_replicas or 1
    if replicas != settings.nats_stream_replicas:
        log.warning(
            "existing stream's replica count differs from NATS_STREAM_REPLICAS; left as it is",
            extra={"stream": settings.nats_stream, "replicas": replicas,
                   "nats_stream_replicas": settings.nats_stream_replicas},
        )
    window = info.config.duplicate_window or 0.0
    if window < settings.idempotency_ttl_s:
        log.warning(
            "existing stream's duplicate window is shorter than IDEMPOTENCY_TTL_SEC: "
            "a redelivered intent after that window may be filled again",
            extra={"stream": settings.nats_stream, "duplicate_window_s": window,
                   "idempotency_ttl_s": settings.idempotency_ttl_s},
        )
    missing = uncovered_market_subjects(settings, info.config.subjects or [])
    if missing:
        log.warning(
            "existing stream does not store the market subjects: MARKET_DATA=bus reads no quotes from it and "
            "every order is no_market_data; add them (nats stream edit <stream> --subjects ...)",
            extra={"stream": settings.nats_stream, "subjects": info.config.subjects, "missing": missing},
        )
    log.info("stream bound", extra={"stream": settings.nats_stream, "subjects": info.config.subjects})


def uncovered_market_subjects(settings: Settings, stream_subjects: list[str]) -> list[str]:
    """The market subjects (MARKET_DATA=bus) no subject of an existing stream covers: an example
    subject of each (its wildcards as one token) is tested against the stream's."""
    missing = []
    for subject in market_subjects(settings):
        example = ".".join("x" if token in ("*", ">") else token for token in subject.split("."))
        if not matches_any(stream_subjects, example):
            missing.append(subject)
    return missing


async def ensure_consumer(js: JetStreamContext, settings: Settings) -> float:
    """The durable consumer, created when missing; returns its ack_wait in seconds (an
    existing consumer keeps its own). Nothing binds to it: the supervisor's pull
    requests name it (supervisor/puller.py)."""
    info = await _existing_or_create(
        lambda: js.consumer_info(settings.nats_stream, settings.nats_durable),
        lambda: js.add_consumer(settings.nats_stream, consumer_config(settings)),
    )
    if info is None:
        log.info("consumer created", extra={"durable": settings.nats_durable,
                                            "max_ack_pending": settings.nats_max_ack_pending})
        return settings.ack_wait_s
    cap = info.config.max_ack_pending or 0
    if 0 < cap < settings.max_in_flight:
        log.warning(
            "existing consumer's max_ack_pending caps intents in flight below MAX_IN_FLIGHT",
            extra={"max_ack_pending": cap, "max_in_flight": settings.max_in_flight},
        )
    elif cap > 0 and cap != settings.nats_max_ack_pending:
        # Not a fault, but the cap is shared: N instances each at MAX_IN_FLIGHT need N times it.
        log.info(
            "existing consumer's max_ack_pending caps the intents in flight of all its instances together",
            extra={"max_ack_pending": cap, "max_in_flight": settings.max_in_flight,
                   "instances_at_max_in_flight": cap // settings.max_in_flight},
        )
    ack_wait = info.config.ack_wait or settings.ack_wait_s
    if ack_wait != settings.ack_wait_s:
        log.info("existing consumer's ack_wait differs from ACK_WAIT_SEC; its own is what counts",
                 extra={"ack_wait_s": ack_wait, "configured_s": settings.ack_wait_s})
    log.info("consumer bound", extra={"durable": settings.nats_durable})
    return ack_wait


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
        # The consumer's ack_wait as the server has it: what the progress acks must beat.
        self.ack_wait_s = settings.ack_wait_s

    async def establish(self) -> None:
        await ensure_stream(self._js, self._settings)
        self.ack_wait_s = await ensure_consumer(self._js, self._settings)

    def suspect(self) -> None:
        self._suspect.set()

    async def keep(self, connected: Callable[[], bool], on_backlog: Callable[[int], None] | None = None) -> None:
        """Check on the topology until cancelled; `on_backlog` gets the consumer's unfetched count."""
        s = self._settings
        while True:
            try:
                await asyncio.wait_for(self._suspect.wait(), timeout=self.CHECK_S)
            except TimeoutError:
                pass
            self._suspect.clear()
            if not connected():
                continue
            try:
                info = await self._js.consumer_info(s.nats_stream, s.nats_durable, timeout=5)
                self.ack_wait_s = info.config.ack_wait or self.ack_wait_s
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
