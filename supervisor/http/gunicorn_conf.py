"""gunicorn settings for the metrics and health server (a gunicorn config module).

Read by supervisor.http.server, which adds the bind address from Settings. One
worker with a few threads is plenty for scrapes and probes; the multiprocess
rules need `child_exit` to drop an exited worker's live gauges.
"""

from __future__ import annotations

from typing import Any

worker_class = "gthread"
workers = 1
threads = 4
timeout = 30
graceful_timeout = 5
keepalive = 5
accesslog = None
# No control socket: the supervisor owns this process's lifecycle.
control_socket_disable = True
proc_name = "at-exec-sim-http"


def child_exit(server: Any, worker: Any) -> None:
    from common.metrics import mark_process_dead

    mark_process_dead(worker.pid)
