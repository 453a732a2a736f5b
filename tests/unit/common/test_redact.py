"""Credentials never reach what the service prints or logs (issue 18): the redaction rule,
the reconnect log line and `at-exec-sim config`."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest

from common.redact import redacted_url

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("url", "shown"), [
    ("nats://adv:PW@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
    ("nats://s3cr3t-token@nats.internal:4222", "nats://***@nats.internal:4222"),
    ("tls://u:p@ss/w#rd@[::1]:4222", "tls://***@[::1]:4222"),  # raw "@", "/" and "#" in the password
    ("adv:PW@host:4222", "***@host:4222"),  # no scheme
    ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),  # nothing to hide
])
def test_redacted_url_hides_user_information_and_keeps_the_host(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_reconnect_log_line_names_the_host_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    from supervisor.connection import NatsConnection

    calls: list[str] = []
    connection = NatsConnection.__new__(NatsConnection)  # no client: only the callback's fields
    connection.nc = SimpleNamespace(connected_url=urlparse("nats://adv:PW@127.0.0.1:4222"))  # type: ignore[assignment]
    connection._metrics = SimpleNamespace(nats_connected=SimpleNamespace(set=lambda value: None))  # type: ignore[assignment]
    connection._pulls_lost = lambda: calls.append("pulls lost")
    connection._on_reconnected_hook = lambda: calls.append("hook")
    with caplog.at_level(logging.INFO, logger="at_exec_sim.supervisor"):
        asyncio.run(connection._on_reconnected())
    [record] = [r for r in caplog.records if r.getMessage().startswith("NATS reconnected")]
    shown = repr(record.__dict__)
    assert "PW" not in shown and "adv" not in shown
    assert record.server == "nats://***@127.0.0.1:4222"  # type: ignore[attr-defined]
    assert calls == ["pulls lost", "hook"]


def test_config_command_prints_no_password_or_secret() -> None:
    env = {**os.environ, "NATS_URL": "nats://adv:PW@127.0.0.1:4222,nats://T0KEN@10.0.0.2:4222",
           "API_KEY_HMAC_SECRET": "hmac-S3CRET"}
    done = subprocess.run([sys.executable, "-c", "import sys; from supervisor.cli import main; sys.exit(main(['config']))"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    out = done.stdout + done.stderr
    assert "127.0.0.1:4222" in out and "10.0.0.2:4222" in out
    for secret in ("PW", "adv:", "T0KEN", "S3CRET"):
        assert secret not in out
