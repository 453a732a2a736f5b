"""The simulator worker pool, as seen from the supervisor process.

Data flow:

    supervisor (event loop)                     worker processes (spawned)
    ───────────────────────                     ──────────────────────────
    dispatch(IntentBatch) ──► inbox[w] (mp.Queue, one per worker) ──► worker_main
    update_keyring ─────────► (a KeyringUpdate into every inbox)
                                                                          │
    on_result(BatchResult)  ◄── call_soon_threadsafe ◄── bridge thread ◄──┘ results[w] (a pipe per worker)
    on_worker_exit(w)       ◄── call_soon_threadsafe ◄── bridge thread ◄── process sentinels

The pool remembers every batch a worker holds until its result arrives, so a
dead worker's batches are handed to the others (and its replacement). One
bridge thread waits on every result pipe and process sentinel together, so the
event loop never blocks on a queue read or a join. Each worker has its own
result pipe whose write end only the worker holds: if it dies mid-message, the
reader gets end-of-file instead of blocking for the rest, and no other worker
shares a lock it might have died holding. multiprocessing.Pool is
not used: it hangs for ever when a worker is killed (bpo-22393). Workers are
spawned, never forked, because the supervisor has threads and a NATS
connection by the time it replaces one.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for_ready
from typing import Any

from common.config import Settings
from common.keyring import Keyring
from common.messages import BatchResult, IntentBatch, KeyringUpdate, WorkerCrashed, WorkerReady
from worker.process import worker_main

log = logging.getLogger("at_exec_sim.pool")

# Exit code of the service when a worker cannot even boot: restarting it would loop.
WORKER_BOOT_ERROR = 3


class WorkerBootError(RuntimeError):
    """A worker died or failed before it was ready; the service must stop."""


@dataclass
class _Worker:
    worker_id: int
    process: Any
    inbox: Any
    results: Any  # read end of this worker's result pipe
    ready: bool = False
    # batch_id -> batch, for re-dispatch if this worker dies.
    holding: dict[int, IntentBatch] = field(default_factory=dict)
    held_intents: int = 0


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        seed: bytes,
        on_result: Callable[[BatchResult], None],
        on_worker_restart: Callable[[int], None],
        shutting_down: asyncio.Event | None = None,
    ) -> None:
        self._settings = settings
        # Once set (the first signal, or any other end of the run), a dead worker is not replaced:
        # its work goes to the workers left, and what none can finish is handed back.
        self._shutting_down = shutting_down or asyncio.Event()
        self._seed = seed
        self._on_result = on_result
        self._on_worker_restart = on_worker_restart
        self._ctx = mp.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._next_worker_id = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Built on the event loop that owns it: the bridge thread hands results to this loop.
        self._loop = asyncio.get_running_loop()
        self._bridge = threading.Thread(target=self._bridge_main, name="pool-bridge", daemon=True)
        self._backlog: deque[IntentBatch] = deque()
        self._unreplaced_pids: list[int] = []
        # The keyring the workers check with, once it differs from the settings' (a reload).
        self._keyring_update: KeyringUpdate | None = None
        # Set with a WorkerBootError when a worker fails while booting: the service stops.
        self.fatal: asyncio.Future[None] = self._loop.create_future()

    # -- lifecycle ------------------------------------------------------------

    async def start(self, boot_timeout_s: float = 60.0) -> None:
        """Start all workers and wait until each has booted."""
        for _ in range(self._settings.workers):
            self._spawn()
        self._bridge.start()
        deadline = self._loop.time() + boot_timeout_s
        while not all(w.ready for w in self._workers.values()):
            if self.fatal.done():
                self.fatal.result()
            if self._loop.time() > deadline:
                raise WorkerBootError(f"workers not ready after {boot_timeout_s:g} s")
            await asyncio.sleep(0.02)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Ask every worker to finish, join them off the loop, kill stragglers."""
        self._stopping.set()
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            w.inbox.put(None)
        loop = asyncio.get_running_loop()
        # The bridge first: it must not be waiting on a pipe while the pipe is closed.
        if self._bridge.ident is not None:  # started
            await loop.run_in_executor(None, self._bridge.join, 2.0)
        await loop.run_in_executor(None, self._join_all, workers, timeout_s)

    @staticmethod
    def _join_all(workers: list[_Worker], timeout_s: float) -> None:
        for w in workers:
            w.process.join(timeout_s)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)
            _discard_queues(w, close_results=True)

    def _spawn(self) -> _Worker:
        worker_id = self._next_worker_id
        self._next_worker_id += 1
        inbox = self._ctx.Queue()
        results, results_writer = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=worker_main,
            args=(worker_id, self._settings, self._seed, inbox, results_writer, os.getpid()),
            name=f"at-exec-sim-worker-{worker_id}",
            daemon=True,
        )
        process.start()
        if self._keyring_update is not None:
            inbox.put(self._keyring_update)  # a replacement checks with the keyring the others use
        # Only the worker may hold the write end, or its death would not end the pipe.
        results_writer.close()
        worker = _Worker(worker_id, process, inbox, results)
        with self._lock:
            self._workers[worker_id] = worker
        return worker

    def update_keyring(self, keyring: Keyring) -> None:
        """Every batch dispatched from now on is checked with `keyring` (each inbox is FIFO)."""
        self._keyring_update = KeyringUpdate(keyring)
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            w.inbox.put(self._keyring_update)

    # -- dispatch -------------------------------------------------------------

    @property
    def alive(self) -> int:
        return sum(1 for w in self._workers.values() if w.process.is_alive())

    @property
    def pids(self) -> list[int]:
        """Every worker process this pool still answers for (their metric files are marked dead at the end)."""
        return [w.process.pid for w in self._workers.values() if w.process.pid is not None] + self._unreplaced_pids

    def dispatch(self, batch: IntentBatch) -> None:
        """Hand a batch to the ready worker holding the fewest intents."""
        ready = [w for w in self._workers.values() if w.ready]
        if not ready:
            # Between a death and the replacement's boot: keep it until one is ready.
            self._backlog.append(batch)
            return
        worker = min(ready, key=lambda w: w.held_intents)
        worker.holding[batch.batch_id] = batch
        worker.held_intents += len(batch.intents)
        worker.inbox.put(batch)

    # -- bridge thread -> loop ------------------------------------------------

    def _bridge_main(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                watched = {w.process.sentinel: w for w in self._workers.values()}
                watched.update({w.results: w for w in self._workers.values() if not w.results.closed})
            # The timeout bounds how long a newly spawned worker goes unwatched.
            try:
                ready_list = wait_for_ready(list(watched), timeout=0.2)
            except (OSError, ValueError):  # a pipe closed meanwhile: look again
                continue
            for ready in ready_list:
                worker = watched[ready]
                if ready is worker.results:
                    self._read_results(worker, block=True)
                else:
                    # Deliver what it finished before it died, then report the death.
                    self._read_results(worker, block=False)
                    # A dead worker's sentinel stays readable until the loop drops
                    # it from _workers; _on_exit ignores the repeats.
                    self._loop.call_soon_threadsafe(self._on_exit, worker.worker_id)

    def _read_results(self, worker: _Worker, block: bool) -> None:
        """Forward one message (block) or every complete one waiting (not block) to the loop."""
        while not worker.results.closed and (block or worker.results.poll(0)):
            try:
                message = worker.results.recv()
            except (EOFError, OSError):  # the worker is gone, maybe mid-message
                worker.results.close()
                return
            self._loop.call_soon_threadsafe(self._on_message, message)
            block = False

    def _on_message(self, message: object) -> None:
        if isinstance(message, BatchResult):
            worker = self._workers.get(message.worker_id)
            if worker is not None:
                batch = worker.holding.pop(message.batch_id, None)
                if batch is None:
                    return  # already re-dispatched after a presumed death; the other copy answers
                worker.held_intents -= len(batch.intents)
            self._on_result(message)
        elif isinstance(message, WorkerReady):
            worker = self._workers.get(message.worker_id)
            if worker is not None:
                worker.ready = True
                log.info("worker ready", extra={"worker_id": message.worker_id, "pid": message.pid})
                while self._backlog:
                    self.dispatch(self._backlog.popleft())
        elif isinstance(message, WorkerCrashed):
            log.error(
                "worker crashed",
                extra={"worker_id": message.worker_id, "batch_id": message.batch_id, "error": message.error},
            )
            if message.batch_id is None:
                self._fail(WorkerBootError(f"worker {message.worker_id} failed to boot: {message.error}"))

    def _on_exit(self, worker_id: int) -> None:
        worker = self._workers.get(worker_id)
        if worker is None or self._stopping.is_set():
            return
        with self._lock:
            del self._workers[worker_id]
        exitcode = worker.process.exitcode
        if exitcode is None:
            # Its pipes close a moment before it can be reaped: wait that moment, or a zombie stays.
            worker.process.join(0.5)
            exitcode = worker.process.exitcode
        if not worker.ready:
            self._fail(WorkerBootError(f"worker {worker_id} exited with code {exitcode} while booting"))
            return
        # Its result pipe is the bridge thread's to close (at end of file).
        _discard_queues(worker, close_results=False)
        if self._shutting_down.is_set():
            log.error(
                "worker died during the shutdown; not replaced, its work goes to the workers left",
                extra={"worker_id": worker_id, "exitcode": exitcode, "batches": len(worker.holding)},
            )
            self._unreplaced_pids.append(worker.process.pid or 0)
        else:
            log.error(
                "worker died; replacing it and re-dispatching its work",
                extra={"worker_id": worker_id, "exitcode": exitcode, "batches": len(worker.holding)},
            )
            self._spawn()
            self._on_worker_restart(worker.process.pid or 0)
        for batch in worker.holding.values():
            self.dispatch(batch)

    @property
    def stranded(self) -> bool:
        """Work waits for a worker and no worker is left to take it (a death during the shutdown)."""
        if any(w.ready and w.process.is_alive() for w in self._workers.values()):
            return False
        return bool(self._backlog) or any(w.holding for w in self._workers.values())

    def _fail(self, error: Exception) -> None:
        if not self.fatal.done():
            self.fatal.set_exception(error)


def _discard_queues(worker: _Worker, close_results: bool) -> None:
    """Let go of a finished worker's queues without waiting on them.

    Batches queued for a worker that is gone may fill its pipe; the queue's
    feeder thread would then block for ever and, joined at interpreter exit,
    hang the supervisor. Its batches are re-dispatched from `holding` anyway.
    """
    worker.inbox.cancel_join_thread()
    worker.inbox.close()
    if close_results and not worker.results.closed:
        worker.results.close()
