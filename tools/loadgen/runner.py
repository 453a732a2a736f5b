"""Drive a running at-exec-sim: publish the plan on schedule, follow the answers from the stream.

Runs in the loadgen process, on one asyncio loop. Answers are read back from
the stream on the fill, reconcile and order update subjects (readback.py,
answers.py), through consumers created before the first intent is sent. It
connects with the service's own NATS authentication settings, through the
service's own function (supervisor.nats_auth.connect_options), so it reaches
whatever server the service reaches. Beside the intents: the quote feed
(feed.py) and the service's word on the run (service_watch.py), both tasks
owned here and cancelled at the end.

The wait for answers after sending ends when every awaited intent is answered,
at --drain-timeout, or earlier when the service has handled every intent and
every answer stored has been read (explain.early_stop): what is still
unanswered then was rejected, and waiting would not change it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats

from common.config import Settings
from common.redact import redacted_urls
from supervisor.nats_auth import connect_options
from tools.loadgen.answers import Answers
from tools.loadgen.explain import early_stop, service_rejections
from tools.loadgen.feed import FeedOptions, FeedStats, QuoteMaker, check_storage, publish_feed
from tools.loadgen.plan import LoadOptions, planned, warm_up
from tools.loadgen.readback import AnswerReader
from tools.loadgen.service_watch import ServiceState, ServiceWatch
from tools.loadgen.stats import IntentRecord, summarize

CONNECT_TIMEOUT_S = 5.0
WATCH_EVERY_S = 1.0
# Answers after the last one seen: give a stray fill of an invalid intent a moment to show.
SETTLE_S = 0.2


class LoadgenError(RuntimeError):
    """NATS unreachable, or the stream the service uses does not exist."""


@dataclass(frozen=True)
class Target:
    """The service under load: its settings (stream, subjects, and how it authenticates to NATS,
    which the generator does the same way) and the servers to reach it at (--url, or NATS_URL)."""

    settings: Settings
    nats_urls: tuple[str, ...]
    metrics_url: str | None = None


@dataclass
class Progress:
    """What the live view shows, every quarter second."""

    records: list[IntentRecord]
    elapsed_s: float
    service: ServiceState
    quotes: int = 0


@dataclass
class LoadRun:
    records: list[IntentRecord]
    summary: dict[str, Any]
    service: dict[str, Any] = field(default_factory=dict)
    feed: dict[str, Any] | None = None
    started_at: str = ""
    finished_at: str = ""
    warnings: list[str] = field(default_factory=list)
    stopped_early: bool = False


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def run_load(
    target: Target, options: LoadOptions, drain_timeout_s: float = 30.0,
    on_progress: Callable[[Progress], None] | None = None, feed: FeedOptions | None = None,
) -> LoadRun:
    """Long because it is the run's script, step by step: connect, read, send, wait, stop."""
    nc = await _connect(target)
    tasks: list[asyncio.Task[Any]] = []
    try:
        js = nc.jetstream()
        settings = target.settings
        if options.total:  # a feed alone needs no stream of ours (and a `feed` user may not ask)
            try:
                await js.stream_info(settings.nats_stream)
            except nats.js.errors.NotFoundError:
                raise LoadgenError(f"stream {settings.nats_stream!r} not found: "
                                   "is at-exec-sim running against this server?") from None
        answers = Answers()
        readers = await _readers(js, settings, answers) if options.total else []
        watch = ServiceWatch(js, settings.nats_stream, settings.nats_durable, target.metrics_url)
        await watch.poll()  # the counters' values before the first intent
        run = LoadRun([], {}, started_at=utc_now())
        feed_stats = FeedStats()
        if feed is not None:
            run.warnings += await check_storage(js, feed.instruments, feed_stats)
            maker = QuoteMaker(settings.seed, settings.instruments, rng_seed=options.seed)
            maker.warm_up(feed.instruments)
            tasks.append(asyncio.create_task(publish_feed(nc, maker, feed, feed_stats), name="loadgen-feed"))
        warm_up(options)
        if feed is not None:
            await _primed(tasks[0], feed_stats)
        answers.started = time.monotonic()
        tasks.append(asyncio.create_task(_watch(watch), name="loadgen-watch"))
        if on_progress is not None:
            tasks.append(asyncio.create_task(_report_progress(answers, watch, feed_stats, on_progress),
                                             name="loadgen-progress"))
        await _send(nc, target, options, answers)
        send_s = time.monotonic() - answers.started
        if options.total:
            run.stopped_early = await _wait_for_answers(answers, readers, watch, drain_timeout_s)
        elif feed is not None:
            await _feed_ends(tasks[0], endless=feed.duration_s is None)
        elapsed = time.monotonic() - answers.started
        await _cancel(tasks)
        await watch.poll()
        if on_progress is not None:
            on_progress(Progress(list(answers.records.values()), elapsed, watch.state, feed_stats.total))
        for reader in readers:
            await reader.close()
        run.records = list(answers.records.values())
        run.summary = summarize(run.records, options, elapsed, send_s)
        run.service = watch.state.as_dict()
        run.feed = feed_stats.as_dict(feed.rate_per_s) if feed is not None else None
        run.finished_at = utc_now()
        return run
    finally:
        await _cancel(tasks)
        await nc.close()


async def _primed(feed_task: asyncio.Task[Any], stats: FeedStats) -> None:
    """Once the feed's first round (a quote of every instrument) is out; its error if it failed first."""
    primed = asyncio.ensure_future(stats.primed.wait())
    try:
        await asyncio.wait([primed, feed_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        primed.cancel()
    if not stats.primed.is_set():
        feed_task.result()  # raises what stopped the feed


async def _feed_ends(feed_task: asyncio.Task[Any], endless: bool) -> None:
    """A feed-only run ends with its --duration, or, with none, at SIGINT or SIGTERM (a container's
    stop): the feed stops and the run's summary is still printed."""
    if not endless:
        await feed_task
        return
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stopped.set)
    stop = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait([stop, feed_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        for signum in signals:
            loop.remove_signal_handler(signum)
    if feed_task.done():
        feed_task.result()  # raises what stopped the feed


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _readers(js: Any, settings: Settings, answers: Answers) -> list[AnswerReader]:
    """One reader per output subject, created before the first intent is sent."""
    readers: list[AnswerReader] = []
    for subject, handler in ((settings.subject_fill, answers.on_fill),
                             (settings.subject_reconcile, answers.on_reconcile),
                             (settings.subject_order_update, answers.on_order_update)):
        try:
            readers.append(await AnswerReader.start(js, settings.nats_stream, subject, handler))
        except nats.errors.Error as exc:
            for reader in readers:
                await reader.close()
            # A create the user's permissions refuse is never answered: it times out.
            raise LoadgenError(f"cannot read {subject} from stream {settings.nats_stream!r}: "
                               f"{str(exc) or type(exc).__name__} (may this NATS user create consumers of it?)") from None
    return readers


async def _connect(target: Target) -> Any:
    """Connected and authenticated as the service is (supervisor.nats_auth, the same settings)."""
    try:
        credentials = connect_options(target.settings)
        # nats-py can retry an unreachable server for ever: the deadline is ours.
        return await asyncio.wait_for(
            nats.connect(servers=list(target.nats_urls), connect_timeout=3, allow_reconnect=False,
                         max_reconnect_attempts=0, error_cb=_quiet, **credentials),
            timeout=CONNECT_TIMEOUT_S,
        )
    except Exception as exc:
        reason = (f"no answer within {CONNECT_TIMEOUT_S:g} s" if isinstance(exc, asyncio.TimeoutError)
                  else str(exc) or type(exc).__name__)
        raise LoadgenError(f"cannot connect to NATS at {', '.join(redacted_urls(target.nats_urls))}: {reason}") from None


async def _send(nc: Any, target: Target, options: LoadOptions, answers: Answers) -> None:
    """Each intent at its due time; its record exists before it is published (an answer may be quick)."""
    records, started = answers.records, answers.started
    start_ms = int(time.time() * 1000)
    for intent in planned(options, start_ms):
        wait_s = intent.due_s - (time.monotonic() - started)
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        record = records[intent.corr_id] = IntentRecord(
            intent.corr_id, intent.order_type, intent.expected_rejection, intent.due_s, tif=intent.tif,
            force=intent.force, instrument=intent.instrument, expect_rest=intent.expect_rest)
        await nc.publish(target.settings.subject_order_intent, intent.payload, headers=intent.headers)
        record.sent_s = time.monotonic() - started
        if intent.due_s == 0.0 and not (options.rate_per_s or options.stages):
            record.due_s = record.sent_s  # as fast as possible: the send time is the schedule
        if intent.index % 256 == 255:
            await asyncio.sleep(0)  # let answers in while sending flat out
    await nc.flush(timeout=10)


async def _wait_for_answers(answers: Answers, readers: list[AnswerReader], watch: ServiceWatch,
                            drain_timeout_s: float) -> bool:
    """Until every awaited intent is answered, the deadline, or an early stop (True)."""
    awaited = [r for r in answers.records.values() if r.awaited]
    spoiled = Counter(r.expected_rejection for r in answers.records.values() if not r.valid)
    deadline = time.monotonic() + drain_timeout_s
    since: float | None = None  # since when the service has looked done
    while time.monotonic() < deadline:
        waiting = sum(1 for r in awaited if not r.complete)
        if not waiting:
            break
        await asyncio.sleep(0.1)
        state = watch.state
        beyond = service_rejections({"rejections_sent_by_type": spoiled}, state.as_dict())
        pending, ack_pending = state.backlog or (None, None)
        if early_stop(waiting, pending, ack_pending, beyond, readers_drained=True):
            since = since if since is not None else time.monotonic()
            # Held over two polls of the service, and then every stored answer read.
            if time.monotonic() - since >= 2 * WATCH_EVERY_S and await _readers_drained(readers):
                await asyncio.sleep(SETTLE_S)
                return True
        else:
            since = None
    await asyncio.sleep(SETTLE_S)
    return False


async def _readers_drained(readers: list[AnswerReader]) -> bool:
    pending = await asyncio.gather(*(reader.pending() for reader in readers))
    return all(p == 0 for p in pending)


async def _watch(watch: ServiceWatch) -> None:
    while True:
        await asyncio.sleep(WATCH_EVERY_S)
        await watch.poll()


async def _quiet(exc: Exception) -> None:
    """nats-py prints every connection error with a traceback; the caller reports the one that matters."""


async def _report_progress(answers: Answers, watch: ServiceWatch, feed: FeedStats,
                           on_progress: Callable[[Progress], None]) -> None:
    while True:
        on_progress(Progress(list(answers.records.values()), time.monotonic() - answers.started, watch.state,
                             feed.total))
        await asyncio.sleep(0.25)
