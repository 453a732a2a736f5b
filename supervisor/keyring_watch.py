"""Key rotation without a restart: INTENT_KEYRING_FILE watched, each new version sent to the workers.

Runs in the supervisor process, as the `keyring` step of its event loop
(Service.run; without INTENT_KEYRING_FILE the step only waits to be cancelled).
Every KEYRING_POLL_S it compares the file's stamp (inode, size, mtime) with the
one it last read. On a change it parses the file off the loop (common/keyring.py)
and hands the new Keyring to the pool, which queues it into every worker's inbox
ahead of any later batch: an intent dispatched after the "keyring reloaded" log
line is checked with the new keys. A file that cannot be used (removed, half
written, invalid) changes nothing: the keys in force stay, the failure is logged
(never a secret) and counted, and the next change is tried again. Replace the
file by a rename (write a new one, `mv` it over) so a reader never sees half of it.
"""

from __future__ import annotations

import asyncio
import logging

from common.keyring import FileStamp, KeyringError, load_keyring, stamp_of
from common.metrics import Metrics
from supervisor.pool import WorkerPool

log = logging.getLogger("at_exec_sim.supervisor")

KEYRING_POLL_S = 1.0


class KeyringWatch:
    def __init__(self, path: str, pool: WorkerPool, metrics: Metrics) -> None:
        self._path = path
        self._pool = pool
        self._metrics = metrics
        # The settings' keyring was read from this version at start.
        self._stamp: FileStamp | None = stamp_of(path) if path else None
        if path:
            for result in ("loaded", "failed"):
                metrics.keyring_reloads.labels(result)  # both series exist, at zero

    async def loop(self) -> None:
        if not self._path:
            await asyncio.Event().wait()  # nothing to watch: wait for the cancellation
        while True:
            await asyncio.sleep(KEYRING_POLL_S)
            stamp = stamp_of(self._path)
            if stamp == self._stamp:
                continue
            self._stamp = stamp
            if stamp is None:
                self._failed("keyring file is gone")
            else:
                await self._reload()

    async def _reload(self) -> None:
        try:
            keyring = await asyncio.get_running_loop().run_in_executor(None, load_keyring, self._path)
        except KeyringError as exc:
            self._failed(str(exc))
            return
        except Exception as exc:  # a bug in the reader must not end the service; its text could quote the file
            self._failed(f"unexpected {type(exc).__name__} while reading it")
            return
        self._pool.update_keyring(keyring)
        self._metrics.keyring_reloads.labels("loaded").inc()
        log.info("keyring reloaded", extra={"path": self._path, "keys": sorted(keyring.keys)})

    def _failed(self, error: str) -> None:
        self._metrics.keyring_reloads.labels("failed").inc()
        log.error("keyring file changed but cannot be used; the keys in force stay",
                  extra={"path": self._path, "error": error})
