"""What the service says about a run besides its events: its rejection counters and its backlog.

Runs in the loadgen process, on its asyncio loop, polled once a second while the
run goes on. A rejected intent (a duplicate corr_id, a bad signature, a stale
timestamp...) is acked with no event at all, so the answers alone cannot tell a
rejection from a loss. Two things can, and the generator reads both when it may:

- the service's /metrics (`--metrics-url`, by default http://localhost:PORT/metrics):
  exec_sim_validation_errors_total{type}, exec_sim_orders_received_total{status="refused"}
  and exec_sim_faults_injected_total{fault}, as increases since the run began. They are
  the service's own counts, every agent's traffic included: on a shared service
  they are an upper bound on this run's.
- the service's durable consumer (NATS_DURABLE): intents stored and not yet taken
  (num_pending) and taken but not yet acked (num_ack_pending). When none is left to
  take, and none is in hand either (or those in hand are fewer than the rejections
  the metrics counted beyond this run's invalid intents: resting orders of earlier
  runs, say), and this run's readers have read everything stored, every intent has
  been handled: one still unanswered was rejected, and waiting would not change that.
  An agent user under deploy/nats.conf may not read that consumer's state: the
  request goes unanswered, and the run then waits for --drain-timeout as before.

Either source that does not answer is left alone for the rest of the run (one
try each), and the summary says which sources were read.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

INFO_TIMEOUT_S = 1.0
SCRAPE_TIMEOUT_S = 1.0

# metric (without _total) -> the label whose values are counted
WATCHED = {"exec_sim_validation_errors": "type", "exec_sim_faults_injected": "fault",
           "exec_sim_orders_received": "status"}


def read_counters(text: str) -> dict[str, Counter[str]]:
    """The watched counters in a Prometheus text exposition, by metric and label value."""
    found: dict[str, Counter[str]] = {name: Counter() for name in WATCHED}
    for family in text_string_to_metric_families(text):
        name = family.name.removesuffix("_total")  # untyped families keep the suffix
        label = WATCHED.get(name)
        if label is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and label in sample.labels:
                found[name][sample.labels[label]] += int(sample.value)
    return found


@dataclass
class ServiceState:
    """The service's word on the run so far (increases since it began)."""

    metrics_url: str | None = None
    metrics_read: bool = False
    rejections: Counter[str] = field(default_factory=Counter)  # validation errors by type, and "refused"
    faults_injected: Counter[str] = field(default_factory=Counter)
    consumer_read: bool = False
    backlog: tuple[int, int] | None = None  # (num_pending, num_ack_pending) of the service's consumer

    def as_dict(self) -> dict[str, Any]:
        return {
            "metrics_url": self.metrics_url, "metrics_read": self.metrics_read,
            "rejections_by_type": dict(self.rejections), "faults_injected": dict(self.faults_injected),
            "consumer_read": self.consumer_read,
            "consumer_pending": None if self.backlog is None else self.backlog[0],
            "consumer_ack_pending": None if self.backlog is None else self.backlog[1],
        }


class ServiceWatch:
    def __init__(self, js: Any, stream: str, durable: str, metrics_url: str | None) -> None:
        self._js, self._stream, self._durable = js, stream, durable
        self.state = ServiceState(metrics_url=metrics_url)
        self._baseline: dict[str, Counter[str]] | None = None
        self._scrape_on = metrics_url is not None
        self._consumer_on = True

    async def poll(self) -> ServiceState:
        await asyncio.gather(self._scrape(), self._backlog())
        return self.state

    async def _scrape(self) -> None:
        url = self.state.metrics_url
        if not self._scrape_on or url is None:
            return
        try:
            text = await asyncio.to_thread(_get, url)
            counters = read_counters(text)
        except Exception:
            self._scrape_on = self._baseline is not None  # never answered: stop asking; else a blip
            return
        if self._baseline is None:
            self._baseline = counters
        base = self._baseline
        self.state.metrics_read = True
        errors = counters["exec_sim_validation_errors"] - base["exec_sim_validation_errors"]
        refused = counters["exec_sim_orders_received"]["refused"] - base["exec_sim_orders_received"]["refused"]
        self.state.rejections = errors + (Counter({"refused": refused}) if refused > 0 else Counter())
        self.state.faults_injected = counters["exec_sim_faults_injected"] - base["exec_sim_faults_injected"]

    async def _backlog(self) -> None:
        if not self._consumer_on:
            return
        try:
            info = await self._js.consumer_info(self._stream, self._durable, timeout=INFO_TIMEOUT_S)
        except Exception:
            # Not allowed (an agent user), or no such consumer (the service never ran): once is enough.
            self._consumer_on = self.state.consumer_read
            self.state.backlog = None
            return
        self.state.consumer_read = True
        self.state.backlog = (int(info.num_pending or 0), int(info.num_ack_pending or 0))


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:  # noqa: S310 (the user's URL)
        text: str = response.read().decode()
        return text
