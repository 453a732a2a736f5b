"""What /healthz concludes from the supervisor's gauges."""

from __future__ import annotations

from supervisor.http.health import HEARTBEAT_STALE_S, assess

NOW = 1_800_000_000.0
HEALTHY = {
    "exec_sim_supervisor_heartbeat_timestamp_seconds": NOW - 0.2,
    "exec_sim_supervisor_start_timestamp_seconds": NOW - 60,
    "exec_sim_nats_connected": 1.0,
    "exec_sim_workers_alive": 2.0,
    "exec_sim_pending_events": 3.0,
    "exec_sim_intents_in_flight": 40.0,
}


def test_healthy_service_is_200_with_the_fields_others_expect():
    health = assess(HEALTHY, NOW, workers_expected=2, version="1.2.3")
    assert health.status_code == 200 and health.ok
    body = health.body
    assert body["ok"] is True and body["status"] == "ok" and body["nats"] == "connected"
    assert body["processor_status"] == "active" and body["version"] == "1.2.3"
    assert body["uptime_s"] == 60.0 and body["pending_events"] == 3 and body["in_flight"] == 40
    assert body["workers"] == 2 and body["workers_expected"] == 2


def test_nats_disconnected_is_503():
    health = assess({**HEALTHY, "exec_sim_nats_connected": 0.0}, NOW, 2, "v")
    assert health.status_code == 503
    assert health.body["nats"] == "disconnected" and health.body["processor_status"] == "stopped"


def test_missing_worker_is_503_degraded():
    health = assess({**HEALTHY, "exec_sim_workers_alive": 1.0}, NOW, 2, "v")
    assert health.status_code == 503
    assert health.body["status"] == "degraded" and health.body["workers"] == 1


def test_stale_heartbeat_means_stopped_whatever_the_gauges_say():
    stale = {**HEALTHY, "exec_sim_supervisor_heartbeat_timestamp_seconds": NOW - HEARTBEAT_STALE_S - 0.1}
    health = assess(stale, NOW, 2, "v")
    assert health.status_code == 503
    assert health.body["nats"] == "disconnected" and health.body["processor_status"] == "stopped"


def test_no_heartbeat_yet_is_starting():
    health = assess({}, NOW, 2, "v")
    assert health.status_code == 503 and health.body["status"] == "starting"
    assert health.body["heartbeat_age_s"] is None


def test_a_heartbeat_gauge_still_at_its_initial_zero_is_starting_with_no_age():
    """prometheus_client writes an unlabelled gauge at 0 when it is defined: not a heartbeat."""
    booting = {"exec_sim_supervisor_heartbeat_timestamp_seconds": 0.0,
               "exec_sim_supervisor_start_timestamp_seconds": NOW - 3, "exec_sim_workers_alive": 2.0}
    health = assess(booting, NOW, 2, "v")
    assert health.status_code == 503 and not health.ok
    assert health.body["status"] == "starting" and health.body["processor_status"] == "stopped"
    assert health.body["heartbeat_age_s"] is None and health.body["nats"] == "disconnected"


def test_connected_but_not_yet_beating_is_still_starting_then_ok_at_the_first_heartbeat():
    connected = {**HEALTHY, "exec_sim_supervisor_heartbeat_timestamp_seconds": 0.0}
    health = assess(connected, NOW, 2, "v")
    assert health.status_code == 503 and health.body["status"] == "starting"
    assert health.body["nats"] == "connected" and health.body["heartbeat_age_s"] is None
    first_beat = assess({**connected, "exec_sim_supervisor_heartbeat_timestamp_seconds": NOW - 0.1}, NOW, 2, "v")
    assert first_beat.status_code == 200 and first_beat.body["status"] == "ok"
    assert first_beat.body["heartbeat_age_s"] == 0.1


def test_a_full_long_order_room_is_503_degraded_and_named():
    full = {**HEALTHY, "exec_sim_room_exhausted:long_orders": 1.0, "exec_sim_long_orders": 300.0}
    health = assess(full, NOW, 2, "v")
    assert health.status_code == 503
    assert health.body["status"] == "degraded" and health.body["processor_status"] == "degraded"
    assert health.body["room_exhausted"] == ["long_orders"] and health.body["long_orders"] == 300


def test_a_full_executing_room_is_named_but_ok_the_backlog_waits_in_the_stream():
    health = assess({**HEALTHY, "exec_sim_room_exhausted:executing": 1.0}, NOW, 2, "v")
    assert health.status_code == 200 and health.body["status"] == "ok"
    assert health.body["room_exhausted"] == ["executing"]
    assert assess(HEALTHY, NOW, 2, "v").body["room_exhausted"] == []
