"""Entry point of a simulator worker process: one loop, batches in, results out.

Runs in each pool worker. `worker_main` does all setup in one place (signals
reset, validator and simulator built), announces itself with WorkerReady, then
answers every IntentBatch from its own input queue with one BatchResult on its
own result pipe (never a shared one: a worker killed mid-write would leave a
shared pipe holding half a message and its lock taken, stalling every other
worker and the reader). A KeyringUpdate on the input queue replaces the
validator's keyring for every batch after it; a None means stop. An unexpected
exception is sent back as WorkerCrashed data and the process exits, so the
supervisor can repair it; nothing here touches NATS or asyncio.
"""

from __future__ import annotations

import logging
import os
import signal
import traceback
from typing import Any

from common.config import Settings
from common.error_codes import INSTRUMENT_NOT_LISTED, INTERNAL_ERROR
from common.gc_policy import settle_after_start
from common.instruments import normalize
from common.keyring import Keyring
from common.lifetime import die_with_parent
from common.logs import configure_logging
from common.messages import (
    AwaitingMarket,
    BatchResult,
    IntentBatch,
    KeyringUpdate,
    Outcome,
    RawIntent,
    Rejection,
    WorkerCrashed,
    WorkerReady,
)
from worker.intent import AcceptedIntent
from worker.market_slice import slice_market
from worker.recorded_market import MarketNotKnown
from worker.rejections import INTERNAL, UNLISTED_INSTRUMENT, reject
from worker.simulator import ExecutionSimulator
from worker.validation import IntentValidator

log = logging.getLogger("at_exec_sim.worker")


class IntentProcessor:
    """The whole pure input path: validate one raw intent, refuse an unlisted instrument when the
    operator asks for it (SIMULATION_UNLISTED_INSTRUMENTS=reject), then simulate it (under
    MARKET_DATA=bus over the slice it came with, or send it back to wait for more data)."""

    def __init__(self, settings: Settings, seed: bytes) -> None:
        self._validator = IntentValidator(settings)
        self._simulator = ExecutionSimulator(settings, seed)
        self._book = settings.instruments
        self._unlisted_rejected = settings.unlisted_instruments == "reject"
        self._bus = settings.market_data == "bus"
        self._max_age_ms = settings.market_data_max_age_ms
        self._fallback_synthetic = settings.market_data_fallback == "synthetic"

    def use_keyring(self, keyring: Keyring) -> None:
        self._validator.use_keyring(keyring)

    def process(self, raw: RawIntent) -> Outcome:
        # An intent sent back by an earlier pass was accepted then: the checks of its body alone are not made twice.
        checked = self._validator.check(raw, again=raw.accepted)
        if isinstance(checked, Rejection):
            return checked
        instrument = checked.intent["instrument"]
        if self._unlisted_rejected and not self._book.is_listed(instrument):
            return reject(raw.stream_seq, UNLISTED_INSTRUMENT, INSTRUMENT_NOT_LISTED, checked.corr_id,
                          f"instrument {instrument!r} is not listed in the instruments file")
        try:
            if self._bus:
                return self._on_the_bus(raw, checked, normalize(instrument))
            return self._simulator.simulate(checked)
        except Exception as exc:  # a bug; re-dispatching the batch would only crash again
            log.exception("simulation failed", extra={"corr_id": checked.corr_id, "error_code": INTERNAL_ERROR})
            return reject(raw.stream_seq, INTERNAL, INTERNAL_ERROR, checked.corr_id, f"internal error: {exc!r}")

    def _on_the_bus(self, raw: RawIntent, checked: AcceptedIntent, key: str) -> Outcome:
        """A pass over the market data its slice holds: priced, or sent back to wait for more."""
        if raw.market is None:  # a first pass knows nothing: it asks for the market up to the arrival
            return AwaitingMarket(raw.stream_seq, _sent_back(raw), key, self._simulator.arrival_ms(checked))
        market = slice_market(raw.market, key, self._simulator.synthetic_view, self._max_age_ms,
                              self._fallback_synthetic)
        try:
            return self._simulator.simulate(checked, market)
        except MarketNotKnown as wait:
            return AwaitingMarket(raw.stream_seq, _sent_back(raw), key, wait.need_ms, wait.watch)

    def process_batch(self, batch: IntentBatch, worker_id: int) -> BatchResult:
        return BatchResult(batch.batch_id, worker_id, tuple(self.process(raw) for raw in batch.intents))


def _sent_back(raw: RawIntent) -> RawIntent:
    """The intent an AwaitingMarket carries: accepted, without its slice (the next pass's is built anew).
    Built whole: dataclasses.replace cost a tenth of a first pass."""
    return RawIntent(raw.stream_seq, raw.body, raw.signature, raw.received_at_ms, raw.key_id, None, True)


def yield_cpu_to_supervisor(niceness: int) -> None:
    """Make this process the one that waits when the CPUs are contended.

    A worker's lateness is hidden inside the simulated delay (the supervisor
    releases each event at receipt + delay), but the supervisor's is not: every
    millisecond it waits for a core is a millisecond a fill goes out late. So
    workers run niced and as SCHED_BATCH (no wake-up preemption of others);
    when the CPUs are idle they still get all of them. Both are allowed to any
    user; where the platform lacks them the worker runs as it is.
    """
    if niceness <= 0:
        return
    try:
        os.nice(niceness)
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError) as exc:
        log.warning("could not lower the worker's CPU priority", extra={"error": str(exc)})


def worker_main(worker_id: int, settings: Settings, seed: bytes, inbox: Any, outbox: Any, parent_pid: int) -> None:
    # SIGKILL, not SIGTERM: this process ignores SIGTERM, and must not outlive the supervisor.
    die_with_parent(parent_pid, signal.SIGKILL)
    # The supervisor owns shutdown: a Ctrl-C on the terminal, or a SIGTERM to the whole
    # process group (systemd's default KillMode, `kill -TERM -<pgid>`), reaches the workers
    # too, and they must keep answering until the supervisor tells them to stop (a None on
    # the inbox; SIGKILL past its deadline).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    yield_cpu_to_supervisor(settings.worker_niceness)
    try:
        configure_logging(settings.service_name, settings.log_level)
        processor = IntentProcessor(settings, seed)
    except Exception:
        outbox.send(WorkerCrashed(worker_id, None, traceback.format_exc(limit=5)))
        raise SystemExit(3) from None
    settle_after_start()
    outbox.send(WorkerReady(worker_id, os.getpid()))
    while True:
        batch = inbox.get()
        if batch is None:
            return
        if type(batch) is KeyringUpdate:
            processor.use_keyring(batch.keyring)
            continue
        try:
            result = processor.process_batch(batch, worker_id)
        except Exception:
            outbox.send(WorkerCrashed(worker_id, batch.batch_id, traceback.format_exc(limit=5)))
            raise SystemExit(1) from None
        outbox.send(result)
