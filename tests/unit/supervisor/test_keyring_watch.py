"""The keyring watch (supervisor/keyring_watch.py): which version of INTENT_KEYRING_FILE reaches the workers.

Driven one poll at a time (`poll`, what the loop calls every KEYRING_POLL_S) on real files; the
pool is represented by the one method the watch calls, and the reload counter is a real
prometheus counter in a registry of its own.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, Counter

from common.config import load_settings
from common.keyring import Keyring, stamp_of
from supervisor.keyring_watch import KeyringWatch

DESK_A = '[keys.desk-a]\nsecret = "alpha-secret-0123456789"\nagents = ["agent_a"]\n\n'
DESK_B = '[keys.desk-b]\nsecret = "bravo-secret-0123456789"\nagents = ["agent_b"]\n\n'
DESK_A2 = '[keys.desk-a2]\nsecret = "alpha-rotated-012345678"\nagents = ["agent_a"]\n\n'


class Workers:
    """Stands for the pool: the keyrings sent to the workers, in order."""

    def __init__(self) -> None:
        self.sent: list[Keyring] = []

    def update_keyring(self, keyring: Keyring) -> None:
        self.sent.append(keyring)


def watch_of(path: Path) -> tuple[KeyringWatch, Workers, Counter]:
    settings = load_settings({"INTENT_KEYRING_FILE": str(path)})  # the start-up read
    reloads = Counter("exec_sim_keyring_reloads", "reloads", ["result"], registry=CollectorRegistry())
    workers = Workers()
    return KeyringWatch(str(path), settings.keyring, workers, SimpleNamespace(keyring_reloads=reloads)), workers, reloads


def replace(path: Path, text: str) -> None:
    draft = path.with_suffix(".new")
    draft.write_text(text)
    draft.replace(path)


def polls(watch: KeyringWatch, count: int) -> None:
    async def run() -> None:
        for _ in range(count):
            await watch.poll()
    asyncio.run(run())


def test_a_rotation_before_the_watch_starts_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "keyring.toml"
    replace(path, DESK_A)
    settings = load_settings({"INTENT_KEYRING_FILE": str(path)})
    replace(path, DESK_A2)  # while the service connects, before its keyring step runs
    reloads = Counter("exec_sim_keyring_reloads", "reloads", ["result"], registry=CollectorRegistry())
    workers = Workers()
    watch = KeyringWatch(str(path), settings.keyring, workers, SimpleNamespace(keyring_reloads=reloads))
    polls(watch, 2)
    assert [sorted(k.keys) for k in workers.sent] == [["desk-a2"]]


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "keyring.toml"
    replace(path, DESK_A)
    watch, workers, reloads = watch_of(path)
    polls(watch, 3)
    assert workers.sent == [] and reloads.labels("loaded")._value.get() == 0


def test_a_file_rewritten_in_place_is_not_read_half_way(tmp_path: Path) -> None:
    path = tmp_path / "keyring.toml"
    replace(path, DESK_A + DESK_B)
    watch, workers, _ = watch_of(path)
    with open(path, "w") as file:  # an editor or a script writing over the file itself
        file.write(DESK_A2)
        file.flush()
        polls(watch, 1)  # between two writes: desk-a2 alone is a valid keyring, without desk-b
        file.write(DESK_B)
    polls(watch, 1)
    assert workers.sent == []  # still changing: desk-a and desk-b stay in force
    polls(watch, 1)
    assert [sorted(k.keys) for k in workers.sent] == [["desk-a2", "desk-b"]]


def test_a_file_made_readable_by_a_chmod_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "keyring.toml"
    replace(path, DESK_A)
    before = stamp_of(str(path))
    os.chmod(path, 0o600)  # nothing but the mode changes: "cannot read ...: Permission denied" fixed
    assert stamp_of(str(path)) != before


def test_a_file_gone_then_back_fails_once_and_loads_once(tmp_path: Path) -> None:
    path = tmp_path / "keyring.toml"
    replace(path, DESK_A)
    watch, workers, reloads = watch_of(path)
    path.unlink()
    polls(watch, 3)
    assert reloads.labels("failed")._value.get() == 1 and workers.sent == []
    replace(path, DESK_A2)
    polls(watch, 3)
    assert reloads.labels("loaded")._value.get() == 1
    assert [sorted(k.keys) for k in workers.sent] == [["desk-a2"]]
