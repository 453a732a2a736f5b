"""NATS client authentication settings: read once, checked at load, secrets kept in their files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[3]
SEED = "SUAEXAMPLESEEDCONTENTNOTREAL"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    made = {}
    for name, text in (("creds", "-----BEGIN NATS USER JWT-----\neyJJWTBODY\n"), ("seed", SEED),
                       ("ca", "CA-PEM"), ("cert", "CERT-PEM"), ("key", "PRIVATE-KEY-PEM")):
        (tmp_path / name).write_text(text)
        made[name] = str(tmp_path / name)
    return made


def test_unset_means_not_used() -> None:
    s = load_settings({})
    assert (s.nats_creds_file, s.nats_nkey_seed_file, s.nats_tls_ca_file, s.nats_tls_cert_file,
            s.nats_tls_key_file) == ("", "", "", "", "")
    assert s.nats_inbox_prefix == "_INBOX"


def test_paths_are_read_once_into_settings(files: dict[str, str]) -> None:
    s = load_settings({"NATS_CREDS_FILE": files["creds"], "NATS_TLS_CA_FILE": files["ca"],
                       "NATS_TLS_CERT_FILE": files["cert"], "NATS_TLS_KEY_FILE": files["key"],
                       "NATS_INBOX_PREFIX": "_INBOX_exec_sim"})
    assert (s.nats_creds_file, s.nats_tls_ca_file) == (files["creds"], files["ca"])
    assert (s.nats_tls_cert_file, s.nats_tls_key_file) == (files["cert"], files["key"])
    assert s.nats_inbox_prefix == "_INBOX_exec_sim"
    assert load_settings({"NATS_NKEY_SEED_FILE": files["seed"]}).nats_nkey_seed_file == files["seed"]


@pytest.mark.parametrize("variable", ["NATS_CREDS_FILE", "NATS_NKEY_SEED_FILE", "NATS_TLS_CA_FILE"])
def test_a_missing_file_or_a_directory_is_a_configuration_error(variable: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: cannot read"):
        load_settings({variable: str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match=f"^{variable}: .* is a directory"):
        load_settings({variable: str(tmp_path)})


def test_certificate_and_key_come_together(files: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="^NATS_TLS_KEY_FILE: .*set together"):
        load_settings({"NATS_TLS_CERT_FILE": files["cert"]})
    with pytest.raises(ConfigError, match="^NATS_TLS_CERT_FILE: .*set together"):
        load_settings({"NATS_TLS_KEY_FILE": files["key"]})


def test_one_nkey_identity_at_a_time(files: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="^NATS_NKEY_SEED_FILE: set NATS_CREDS_FILE or"):
        load_settings({"NATS_CREDS_FILE": files["creds"], "NATS_NKEY_SEED_FILE": files["seed"]})


def test_inbox_prefix_is_a_plain_subject() -> None:
    with pytest.raises(ConfigError, match="^NATS_INBOX_PREFIX:"):
        load_settings({"NATS_INBOX_PREFIX": "_INBOX.>"})


def test_config_command_shows_the_paths_never_the_secrets(files: dict[str, str]) -> None:
    env = {**os.environ, "NATS_NKEY_SEED_FILE": files["seed"], "NATS_TLS_CA_FILE": files["ca"],
           "NATS_TLS_CERT_FILE": files["cert"], "NATS_TLS_KEY_FILE": files["key"]}
    done = subprocess.run([sys.executable, "-c", "import sys; from supervisor.cli import main; sys.exit(main(['config']))"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    out = done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert rows["NATS_NKEY_SEED_FILE"] == [files["seed"], "env"]
    assert rows["NATS_TLS_KEY_FILE"] == [files["key"], "env"]
    assert SEED not in out and "PRIVATE-KEY-PEM" not in out
