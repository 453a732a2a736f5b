"""The operator's keyring: which key signs for which agents, read from INTENT_KEYRING_FILE.

Runs in the supervisor: once at start (common/config.py, a bad file is a
configuration error) and whenever the file changes (supervisor/keyring_watch.py,
which sends the new `Keyring` to the workers as data). The workers only ever
hold the parsed value (worker/signer.py checks intents against it); nothing in
a worker reads the file.

The file is TOML, one table per key id:

    [keys.desk-a-2026-12]
    secret = "a long random string"    # the HMAC-SHA256 key (its UTF-8 bytes)
    agents = ["agent_a", "agent_a_backup"]

A secret never leaves this object in text: `SigningKey` and `Keyring` print key
ids and agents only (`at-exec-sim config` prints the Settings, keyring included).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

# Key ids are the operator's, but they travel in a header and appear in logs: plain names only.
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# The order intent schema's agent_id.
_AGENT_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# Shorter keys are guessable; HMAC-SHA256 keys are usually 32 random bytes.
MIN_SECRET_BYTES = 16


class KeyringError(ValueError):
    """The keyring file cannot be used as it is (the message names the key, never its secret)."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    secret: bytes = field(repr=False)
    agents: frozenset[str]


@dataclass(frozen=True)
class Keyring:
    keys: Mapping[str, SigningKey]
    # The version of the file these keys were read from (None: not read from a file).
    stamp: FileStamp | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k.key_id}: {sorted(k.agents)}" for k in self.keys.values())
        return f"Keyring({{{shown}}})"


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What changes when the file is rewritten or replaced (a rename, a Kubernetes secret update).

    ctime too: a chmod that makes an unreadable file readable changes nothing else, and a
    copy that keeps the size and restores the old mtime (cp -p, rsync -t) changes only it."""

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int


def _stamp(st: os.stat_result) -> FileStamp:
    return FileStamp(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def stamp_of(path: str) -> FileStamp | None:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


def load_keyring(path: str) -> Keyring:
    """The keyring in `path`; KeyringError says what is wrong with it."""
    try:
        with open(path, "rb") as file:
            # Before the read: a file changed while it is read then differs from the stamp kept.
            stamp = _stamp(os.fstat(file.fileno()))
            document = tomllib.load(file)
    except OSError as exc:
        raise KeyringError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise KeyringError(f"{path} is not TOML: {exc}") from None
    except UnicodeDecodeError:
        raise KeyringError(f"{path} is not UTF-8 text") from None
    tables = document.get("keys")
    if not isinstance(tables, dict) or not tables:
        raise KeyringError(f"{path} has no [keys.<key id>] table")
    unknown = set(document) - {"keys"}
    if unknown:
        raise KeyringError(f"{path}: unknown top-level entries {sorted(unknown)}")
    return Keyring({key_id: _signing_key(key_id, entry) for key_id, entry in tables.items()}, stamp)


def _signing_key(key_id: str, entry: object) -> SigningKey:
    if not _KEY_ID.fullmatch(key_id):
        raise KeyringError(f"key id {key_id[:64]!r} is not 1-64 of A-Z a-z 0-9 _ . -")
    if not isinstance(entry, dict) or set(entry) != {"secret", "agents"}:
        raise KeyringError(f"key {key_id}: needs exactly `secret` and `agents`")
    secret, agents = entry["secret"], entry["agents"]
    if not isinstance(secret, str) or len(secret.encode()) < MIN_SECRET_BYTES:
        raise KeyringError(f"key {key_id}: secret must be a string of at least {MIN_SECRET_BYTES} bytes")
    if not isinstance(agents, list) or not agents:
        raise KeyringError(f"key {key_id}: agents must be a non-empty list of agent ids")
    for agent in agents:
        if not isinstance(agent, str) or not _AGENT_ID.fullmatch(agent):
            raise KeyringError(f"key {key_id}: agent {str(agent)[:64]!r} is not a valid agent_id")
    return SigningKey(key_id, secret.encode(), frozenset(agents))
