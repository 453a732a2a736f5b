"""What /healthz says, worked out from the supervisor's live gauges.

Runs in the gunicorn worker that serves /healthz. The HTTP process has no side
channel to the supervisor: it reads the multiprocess metric files, where the
supervisor keeps `exec_sim_nats_connected`, `exec_sim_workers_alive` and a
heartbeat (`exec_sim_supervisor_heartbeat_timestamp_seconds`, written four
times a second). A heartbeat older than HEARTBEAT_STALE_S means the supervisor
is stuck or gone, whatever the other gauges last said.

Until the first heartbeat the service is `starting` (503, `heartbeat_age_s`
null): the HTTP process is started first, then the workers boot, then NATS is
connected and the stream and consumer established, and only the running
service's loop beats. prometheus_client creates an unlabelled gauge's value at
zero in the metric files when the gauge is defined, so a heartbeat of 0 (or
less) is one never written, not one written in 1970.

`exec_sim_room_exhausted{room}` (read here as `exec_sim_room_exhausted:<room>`)
names the full rooms (supervisor/long_orders.py, supervisor/agent_shares.py).
A full long-order room means new long orders are refused (EXEC-017):
"degraded", 503. A full executing or over-share room is listed in
`room_exhausted` but stays "ok": fetching waits and the backlog waits in the
stream, which is how the service is meant to run at full load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.metrics import ROOMS

HEARTBEAT_STALE_S = 1.5
ROOM_GAUGE = "exec_sim_room_exhausted"


@dataclass(frozen=True)
class Health:
    ok: bool
    body: dict[str, Any]

    @property
    def status_code(self) -> int:
        return 200 if self.ok else 503


def assess(gauges: Mapping[str, float], now: float, workers_expected: int, version: str) -> Health:
    """Health from the gauge values (by metric name; absent when never written)."""
    written = gauges.get("exec_sim_supervisor_heartbeat_timestamp_seconds")
    heartbeat = written if written is not None and written > 0 else None
    started = gauges.get("exec_sim_supervisor_start_timestamp_seconds")
    workers = int(gauges.get("exec_sim_workers_alive", 0))
    connected = gauges.get("exec_sim_nats_connected", 0) >= 1
    beating = heartbeat is not None and now - heartbeat <= HEARTBEAT_STALE_S
    exhausted = [room for room in ROOMS if beating and gauges.get(f"{ROOM_GAUGE}:{room}", 0) >= 1]

    if heartbeat is None:
        status, processor = "starting", "stopped"
    elif not beating:
        status, processor = "unavailable", "stopped"
    elif not connected:
        status, processor = "unavailable", "stopped"  # fail-stop: nothing is fetched
    elif workers < workers_expected or "long_orders" in exhausted:
        status, processor = "degraded", "degraded"
    else:
        status, processor = "ok", "active"
    ok = status == "ok"
    body: dict[str, Any] = {
        "ok": ok,
        "status": status,
        # While starting, the gauge is this start's own (the supervisor wipes the files first).
        "nats": "connected" if connected and (beating or heartbeat is None) else "disconnected",
        "processor_status": processor,
        "uptime_s": round(now - started, 3) if started and beating else 0.0,
        "version": version,
        "pending_events": int(gauges.get("exec_sim_pending_events", 0)),
        "in_flight": int(gauges.get("exec_sim_intents_in_flight", 0)),
        "long_orders": int(gauges.get("exec_sim_long_orders", 0)),
        "room_exhausted": exhausted,
        "workers": workers,
        "workers_expected": workers_expected,
        "heartbeat_age_s": round(now - heartbeat, 3) if heartbeat is not None else None,
    }
    return Health(ok, body)
