"""The Flask app behind gunicorn: GET /metrics and GET /healthz.

Runs in the gunicorn worker processes, never in the supervisor or the pool.
Both routes read the multiprocess metric files afresh on every request (a new
registry with a MultiProcessCollector each time, as prometheus_client's
multiprocess mode requires), so they see every process's values.
"""

from __future__ import annotations

import time

import orjson
from flask import Flask, Response

from common.config import Settings
from common.version import package_version
from supervisor.http.health import assess

LIVE_GAUGES = (
    "exec_sim_supervisor_heartbeat_timestamp_seconds",
    "exec_sim_supervisor_start_timestamp_seconds",
    "exec_sim_nats_connected",
    "exec_sim_workers_alive",
    "exec_sim_pending_events",
    "exec_sim_intents_in_flight",
    "exec_sim_long_orders",
    "exec_sim_intents_over_share",
    "exec_sim_room_exhausted",
)


def create_app(settings: Settings) -> Flask:
    """App factory; prometheus_client is imported here, after the multiprocess directory is set."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    app = Flask("at_exec_sim")
    service_version = package_version()
    metrics_dir = settings.prometheus_multiproc_dir

    def registry() -> CollectorRegistry:
        fresh = CollectorRegistry()
        MultiProcessCollector(fresh, path=metrics_dir)
        return fresh

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> Response:
        gauges: dict[str, float] = {}
        for family in registry().collect():
            if family.name in LIVE_GAUGES:
                for sample in family.samples:
                    room = sample.labels.get("room")  # exec_sim_room_exhausted{room}: one value per room
                    gauges[sample.name if room is None else f"{sample.name}:{room}"] = sample.value
        health = assess(gauges, time.time(), settings.workers, service_version)
        return Response(orjson.dumps(health.body), status=health.status_code, mimetype="application/json")

    return app
