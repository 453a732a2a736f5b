"""Prometheus metric definitions, multiprocess mode, all in one place.

prometheus_client decides at import time whether it writes per-process files,
so `prepare_multiproc_dir` must run before anything imports it: the supervisor
calls it first thing, and `build_metrics` imports the client lazily. Every
metric is recorded by the supervisor only (workers return data, not counts), so
each event is counted once. Gauges name their multiprocess_mode. Label values
come from closed sets; no client-controlled value is ever a label.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ORDER_STATUSES = ("accepted", "invalid", "duplicate", "refused")
# The rooms intents in flight hold (supervisor/long_orders.py, supervisor/agent_shares.py),
# and why a long order is refused.
ROOMS = ("executing", "long_orders", "over_share")
LONG_ORDER_REFUSALS = ("room", "agent_share")
FILL_TYPES = ("full", "partial", "cancelled", "rejected")
# Terminal statuses of an executions.order_update (orders that did not fill in full).
ORDER_UPDATE_STATUSES = ("cancelled", "rejected", "expired")
KEYRING_RELOAD_RESULTS = ("loaded", "failed")
MARKET_DATA_SOURCES = ("quote", "signal", "tick")  # exec_sim_market_data_received_total{source}

SIMULATION_BUCKETS_S = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
INTAKE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
LATENESS_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
PUBLISH_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def prepare_multiproc_dir(path: str, wipe: bool) -> None:
    """Point prometheus_client at `path`; with `wipe`, remove the metric files an earlier run left.

    A stale or empty .db file from an earlier run breaks every scrape, hence the wipe at service start.
    """
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    if wipe:
        # Only the metric files: the directory may be shared or mis-set (/tmp, say).
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


@dataclass(frozen=True)
class Metrics:
    orders_received: Any
    fills_generated: Any
    reconciles_generated: Any
    order_updates_generated: Any
    simulation_duration: Any
    intake_duration: Any
    release_lateness: Any
    validation_errors: Any
    duplicate_orders: Any
    faults_injected: Any
    events_deduplicated: Any
    publish_errors: Any
    publish_ack_latency: Any
    pending_events: Any
    intents_in_flight: Any
    long_orders: Any
    intents_over_share: Any
    room_exhausted: Any
    long_orders_refused: Any
    nats_connected: Any
    workers_alive: Any
    worker_restarts: Any
    heartbeat: Any
    consumer_backlog: Any
    started: Any
    keyring_reloads: Any
    market_data_rejected: Any
    market_data_received: Any
    market_data_age: Any
    market_data_missing: Any
    awaiting_market_data: Any


def build_metrics() -> Metrics:
    """Create the service's metrics; call after prepare_multiproc_dir.

    Long because it is the service's one table of metric definitions (name, help, labels,
    buckets, multiprocess mode), read top to bottom like the metrics table of docs/operations.md."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        raise RuntimeError("prepare_multiproc_dir must run before build_metrics")
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        orders_received=Counter(
            "exec_sim_orders_received_total", "Intents taken from the stream, by outcome", ["status"]
        ),
        fills_generated=Counter("exec_sim_fills_generated_total", "Fill events published, by fill type", ["fill_type"]),
        reconciles_generated=Counter("exec_sim_reconciles_generated_total", "Reconcile events published"),
        order_updates_generated=Counter(
            "exec_sim_order_updates_generated_total", "Order update events published, by terminal status", ["status"]
        ),
        simulation_duration=Histogram(
            "exec_sim_simulation_duration_seconds",
            "Worker CPU time to simulate one intent",
            buckets=SIMULATION_BUCKETS_S,
        ),
        intake_duration=Histogram(
            "exec_sim_intake_duration_seconds",
            "Stream stored time to simulated result in the supervisor: "
            "the part of the simulated delay the pipeline used",
            buckets=INTAKE_BUCKETS_S,
        ),
        release_lateness=Histogram(
            "exec_sim_release_lateness_seconds",
            "Event handed to the connection minus its simulated time (stored time + delay), per event",
            buckets=LATENESS_BUCKETS_S,
        ),
        validation_errors=Counter(
            "exec_sim_validation_errors_total", "Rejected intents, by rejection type", ["type"]
        ),
        duplicate_orders=Counter("exec_sim_duplicate_orders_total", "Intents whose corr_id was already filled"),
        faults_injected=Counter(
            "exec_sim_faults_injected_total",
            "Seeded venue faults injected into accepted intents (FAULT_*), by fault, once per intent each",
            ["fault"],
        ),
        events_deduplicated=Counter(
            "exec_sim_events_deduplicated_total",
            "Events the stream already had under their message id (a redelivery, or another instance's copy), by kind",
            ["kind"],
        ),
        publish_errors=Counter(
            "exec_sim_nats_publish_errors_total", "Failed or timed-out publishes (each retried)", ["subject"]
        ),
        publish_ack_latency=Histogram(
            "exec_sim_publish_ack_latency_seconds", "Publish to PubAck", buckets=PUBLISH_BUCKETS_S
        ),
        # DESIGN.md names this exec_sim_pending_events_count, but promtool rejects a gauge
        # ending in _count (reserved for histograms and summaries); this is the lint-clean name.
        pending_events=Gauge(
            "exec_sim_pending_events", "Events published and awaiting their PubAck", multiprocess_mode="livesum"
        ),
        intents_in_flight=Gauge(
            "exec_sim_intents_in_flight", "Intents fetched and not yet acked", multiprocess_mode="livesum"
        ),
        long_orders=Gauge(
            "exec_sim_long_orders", "Intents in flight held in the long-order room (MAX_LONG_ORDERS)",
            multiprocess_mode="livesum",
        ),
        intents_over_share=Gauge(
            "exec_sim_intents_over_share",
            "Intents in flight beyond their agent's share of MAX_IN_FLIGHT (MAX_QUEUED_OVER_SHARE)",
            multiprocess_mode="livesum",
        ),
        room_exhausted=Gauge(
            "exec_sim_room_exhausted",
            "1 while a room is full: executing (MAX_IN_FLIGHT: fetching waits), long_orders "
            "(MAX_LONG_ORDERS: new long orders are refused) or over_share (MAX_QUEUED_OVER_SHARE: "
            "fetching waits)", ["room"], multiprocess_mode="livemax",
        ),
        long_orders_refused=Counter(
            "exec_sim_long_orders_refused_total",
            "Long orders refused (EXEC-017), by reason: room (MAX_LONG_ORDERS) or agent_share (MAX_LONG_ORDERS_PER_AGENT)",
            ["reason"],
        ),
        nats_connected=Gauge(
            "exec_sim_nats_connected", "1 while the supervisor is connected to NATS", multiprocess_mode="livemax"
        ),
        workers_alive=Gauge("exec_sim_workers_alive", "Simulator worker processes alive", multiprocess_mode="livesum"),
        worker_restarts=Counter("exec_sim_worker_restarts_total", "Simulator workers replaced after dying"),
        heartbeat=Gauge(
            "exec_sim_supervisor_heartbeat_timestamp_seconds",
            "Last time the supervisor's loop ran (unix seconds); /healthz calls it stopped when stale",
            multiprocess_mode="livemax",
        ),
        consumer_backlog=Gauge(
            "exec_sim_consumer_backlog", "Intents in the stream not yet fetched by the durable consumer (every 5 s)",
            multiprocess_mode="livemax",
        ),
        started=Gauge(
            "exec_sim_supervisor_start_timestamp_seconds", "When the supervisor started (unix seconds)",
            multiprocess_mode="livemax",
        ),
        keyring_reloads=Counter(
            "exec_sim_keyring_reloads_total", "INTENT_KEYRING_FILE changes: loaded, or failed (old keys kept)",
            ["result"],
        ),
        market_data_rejected=Counter(
            "exec_sim_market_data_rejected_total", "Market data rows or messages skipped, by type", ["type"]
        ),
        market_data_received=Counter(
            "exec_sim_market_data_received_total",
            "MARKET_DATA=bus: market messages read and kept (quote, signal) or watermark ticks (tick)", ["source"],
        ),
        market_data_age=Gauge(
            "exec_sim_market_data_age_seconds",
            "MARKET_DATA=bus: seconds since the newest record of any instrument of the asset class (stored time)",
            ["asset_class"], multiprocess_mode="livemax",
        ),
        market_data_missing=Counter(
            "exec_sim_market_data_missing_total",
            "MARKET_DATA=bus: orders answered no_market_data (no fresh record at their arrival), by asset class",
            ["asset_class"],
        ),
        awaiting_market_data=Gauge(
            "exec_sim_intents_awaiting_market_data",
            "MARKET_DATA=bus: intents waiting for the bus to store the data they are priced from",
            multiprocess_mode="livesum",
        ),
    )


def mark_process_dead(pid: int) -> None:
    """Drop a reaped process's live gauges from the aggregate."""
    from prometheus_client import multiprocess

    # prometheus_client leaves this function unannotated; the alias gives it its real type.
    mark_dead: Callable[[int], None] = multiprocess.mark_process_dead
    mark_dead(pid)


class MetricTally:
    """Counts and observations kept in plain Python, written to the metric files in one go.

    Every write to a multiprocess metric takes a lock and touches an mmap
    (measured: ~15% of the supervisor's CPU at full rate when done per event);
    the supervisor records into this tally on the hot path and flushes it a few
    times a second, so a scrape lags by at most one flush interval.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[Any, str | None], float] = {}
        self._observations: dict[Any, list[float]] = {}

    def inc(self, counter: Any, label: str | None = None, amount: float = 1.0) -> None:
        key = (counter, label)
        self._counts[key] = self._counts.get(key, 0.0) + amount

    def observe(self, histogram: Any, value: float) -> None:
        observed = self._observations.get(histogram)
        if observed is None:
            observed = self._observations[histogram] = []
        observed.append(value)

    def flush(self) -> None:
        counts, self._counts = self._counts, {}
        for (counter, label), amount in counts.items():
            (counter.labels(label) if label is not None else counter).inc(amount)
        observations, self._observations = self._observations, {}
        for histogram, values in observations.items():
            _observe_many(histogram, values)


def _observe_many(histogram: Any, values: list[float]) -> None:
    """Histogram.observe for many values with one write per bucket touched."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:  # prometheus_client changed: the slow, public way
        for value in values:
            histogram.observe(value)
        return
    per_bucket = [0] * len(bounds)
    for value in values:
        # observe() counts a value in the first bucket whose bound is >= it (non-cumulative storage).
        per_bucket[bisect_left(bounds, value)] += 1
    total.inc(sum(values))
    for index, count in enumerate(per_bucket):
        if count:
            buckets[index].inc(count)
