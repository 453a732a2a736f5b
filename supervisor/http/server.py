"""The HTTP server process: gunicorn hosting the Flask app, started and stopped by the supervisor.

`HttpServer` runs in the supervisor: it spawns `serve` in a fresh process (no
event loop, no threads, no NATS connection to inherit), where gunicorn's
arbiter then forks its own worker. The child dies with the supervisor
(common.lifetime), so a supervisor killed with -9 does not leave a server
holding the port and answering for a dead service.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from typing import Any

from gunicorn.app.base import BaseApplication

from common.config import Settings
from common.lifetime import die_with_parent

log = logging.getLogger("at_exec_sim.http")

class HttpServer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ctx = mp.get_context("spawn")
        self._process: Any = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._process = self._ctx.Process(
            target=serve, args=(self._settings, os.getpid()), name="at-exec-sim-http", daemon=False
        )
        self._process.start()
        log.info("http server started", extra={"pid": self._process.pid, "port": self._settings.port})

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL after `timeout_s`. Blocking: call off the loop."""
        if self._process is None or not self._process.is_alive():
            return
        self._process.terminate()
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(2)


def serve(settings: Settings, parent_pid: int) -> None:
    """Entry point of the HTTP process."""
    die_with_parent(parent_pid)
    from common.metrics import prepare_multiproc_dir

    prepare_multiproc_dir(settings.prometheus_multiproc_dir, wipe=False)
    from common.logs import configure_logging

    configure_logging(settings.service_name, settings.log_level)
    _GunicornApp(settings).run()


def _gunicorn_logconfig(settings: Settings) -> dict[str, Any]:
    """gunicorn's own log lines as JSON lines too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "common.logs.JsonLineFormatter", "service_name": settings.service_name}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"level": settings.log_level, "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"handlers": ["stdout"], "level": settings.log_level, "propagate": False},
            "gunicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        },
    }


class _GunicornApp(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        from supervisor.http import gunicorn_conf

        for name in dir(gunicorn_conf):
            if name in self.cfg.settings and not name.startswith("_"):
                self.cfg.set(name, getattr(gunicorn_conf, name))
        self.cfg.set("bind", [f"{self._settings.http_host}:{self._settings.port}"])
        self.cfg.set("logconfig_dict", _gunicorn_logconfig(self._settings))

    def load(self) -> Any:
        from supervisor.http.app import create_app

        return create_app(self._settings)
