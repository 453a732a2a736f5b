"""Key rotation without a restart: INTENT_KEYRING_FILE watched, each new version sent to the workers.

Runs in the supervisor process, as the `keyring` step of its event loop
(Service.run; without INTENT_KEYRING_FILE the step only waits to be cancelled).
Every KEYRING_POLL_S it compares the file's stamp (inode, size, mtime, ctime)
with that of the version in force, which starts as the one the settings read
at start (a change made while the service was connecting is not missed). A
changed file is read once its stamp has stayed the same for one poll: a file
rewritten in place is not read between two of its writer's writes, where the
first tables alone may parse as a smaller keyring. It is then parsed off the
loop (common/keyring.py) and the new Keyring handed to the pool, which queues
it into every worker's inbox ahead of any later batch: an intent dispatched
after the "keyring reloaded" log line is checked with the new keys. A file
that cannot be used (removed, unreadable, invalid) changes nothing: the keys
in force stay, the failure is logged (never a secret) and counted, and the
next change (a chmod too) is tried again. Replacing the file by a rename
(write a new one, `mv` it over) is still the way to never expose half of it:
a writer slower than a poll can be read half way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from common.keyring import FileStamp, Keyring, KeyringError, load_keyring, stamp_of
from common.metrics import Metrics

log = logging.getLogger("at_exec_sim.supervisor")

KEYRING_POLL_S = 1.0


class KeyringHolder(Protocol):
    """The pool (supervisor/pool.py), as far as the watch uses it."""

    def update_keyring(self, keyring: Keyring) -> None: ...


class KeyringWatch:
    def __init__(self, path: str, in_force: Keyring | None, pool: KeyringHolder, metrics: Metrics) -> None:
        self._path = path
        self._pool = pool
        self._metrics = metrics
        # The version whose keys the workers hold: the settings' at start.
        self._stamp: FileStamp | None = in_force.stamp if in_force is not None else None
        # What the previous poll saw: a change is read once two polls agree.
        self._seen = self._stamp

    async def loop(self) -> None:
        if not self._path:
            await asyncio.Event().wait()  # nothing to watch: wait for the cancellation
        while True:
            await asyncio.sleep(KEYRING_POLL_S)
            await self.poll()

    async def poll(self) -> None:
        """Look at the file once; reload it if it changed and has stayed so since the last look."""
        stamp = stamp_of(self._path)
        settled, self._seen = stamp == self._seen, stamp
        if stamp == self._stamp or not settled:
            return
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
        # The version read: a change made since the look above is read at a later poll.
        self._stamp = self._seen = keyring.stamp
        self._pool.update_keyring(keyring)
        self._metrics.keyring_reloads.labels("loaded").inc()
        log.info("keyring reloaded", extra={"path": self._path, "keys": sorted(keyring.keys)})

    def _failed(self, error: str) -> None:
        self._metrics.keyring_reloads.labels("failed").inc()
        log.error("keyring file changed but cannot be used; the keys in force stay",
                  extra={"path": self._path, "error": error})
