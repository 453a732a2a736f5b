"""common/keyring.py: the keyring file's format, its errors, and that no secret is ever printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.config import ConfigError, load_settings
from common.keyring import KeyringError, load_keyring, stamp_of

SECRET_A = "alpha-secret-0123456789"
GOOD = f"""
[keys.desk-a]
secret = "{SECRET_A}"
agents = ["agent_a", "agent_a2"]

[keys."desk-b.2026"]
secret = "bravo-secret-0123456789"
agents = ["agent_b"]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "keyring.toml"
    path.write_bytes(text.encode(errors="surrogateescape"))  # "\udcff": the byte 0xff
    return str(path)


def test_a_keyring_maps_key_ids_to_secret_and_agents(tmp_path: Path) -> None:
    keyring = load_keyring(write(tmp_path, GOOD))
    assert set(keyring.keys) == {"desk-a", "desk-b.2026"}
    assert keyring.keys["desk-a"].secret == SECRET_A.encode()
    assert keyring.keys["desk-a"].agents == {"agent_a", "agent_a2"}


def test_no_secret_in_the_keyring_repr_nor_in_at_exec_sim_config(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    keyring = load_keyring(path)
    assert SECRET_A not in repr(keyring) and SECRET_A not in repr(keyring.keys["desk-a"])
    settings = load_settings({"INTENT_KEYRING_FILE": path, "API_KEY_HMAC_SECRET": "shared-secret-xyz"})
    shown = repr(settings)
    assert "desk-a" in shown and "agent_a2" in shown
    assert SECRET_A not in shown and "bravo-secret" not in shown and "shared-secret-xyz" not in shown


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not toml [", "is not TOML"),
        ("\udcff", "is not UTF-8 text"),
        ("[other]\nx = 1\n", "no [keys.<key id>] table"),
        ('[keys."bad id"]\nsecret = "0123456789abcdef0"\nagents = ["a"]\n', "is not 1-64"),
        ('[keys.k]\nsecret = "short"\nagents = ["a"]\n', "at least 16 bytes"),
        ('[keys.k]\nsecret = "0123456789abcdef0"\nagents = []\n', "non-empty list"),
        ('[keys.k]\nsecret = "0123456789abcdef0"\nagents = ["no spaces"]\n', "not a valid agent_id"),
        ('[keys.k]\nsecret = "0123456789abcdef0"\n', "exactly `secret` and `agents`"),
    ],
)
def test_a_bad_keyring_says_what_is_wrong_and_never_its_secret(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(KeyringError, match=re.escape(problem)) as caught:
        load_keyring(write(tmp_path, text))
    assert "0123456789abcdef0" not in str(caught.value)


def test_a_bad_keyring_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"INTENT_KEYRING_FILE": str(tmp_path / "missing.toml")})
    assert caught.value.variable == "INTENT_KEYRING_FILE"


def test_shared_secret_fallback_needs_a_shared_secret(tmp_path: Path) -> None:
    env = {"INTENT_KEYRING_FILE": write(tmp_path, GOOD), "INTENT_KEYRING_ALLOW_SHARED_SECRET": "on"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.variable == "INTENT_KEYRING_ALLOW_SHARED_SECRET"
    assert load_settings({**env, "API_KEY_HMAC_SECRET": "shared-secret-xyz"}).keyring_allows_shared_secret


def test_the_stamp_changes_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    before = stamp_of(path)
    replacement = tmp_path / "next.toml"
    replacement.write_text(GOOD)
    replacement.replace(path)
    assert stamp_of(path) != before
    assert stamp_of(str(tmp_path / "absent")) is None
