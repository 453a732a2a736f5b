"""The named figures of a run that thresholds and --baseline compare: one table, one reading rule.

Pure, in the loadgen process. Each name reads one number from a run's results
(stats.summarize) with its unit; `higher_is_better` tells the baseline table
which way a change goes. Latency is end to end (scheduled send to final fill),
overhead the same with the simulated delay taken out (the service's own time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    unit: str  # "ms", "%", "/s", "bps" or "" (a count)
    read: Callable[[dict[str, Any]], float | None]
    help: str
    higher_is_better: bool = False


def _path(*keys: str) -> Callable[[dict[str, Any]], float | None]:
    def read(results: dict[str, Any]) -> float | None:
        value: Any = results
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return None if value is None else float(value)
    return read


def _sum(key: str) -> Callable[[dict[str, Any]], float | None]:
    """The sum of a {name: count} figure (0 when the run has it empty)."""
    def read(results: dict[str, Any]) -> float | None:
        value = results.get(key)
        return float(sum(value.values())) if isinstance(value, dict) else None
    return read


METRICS: dict[str, Metric] = {}
for _q in ("p50", "p90", "p99", "p99.9", "max", "mean"):
    _name = _q.replace(".", "_")
    METRICS[f"latency_{_name}"] = Metric("ms", _path("latency_ms", "end_to_end", _q), f"end-to-end latency {_q}")
    METRICS[f"overhead_{_name}"] = Metric("ms", _path("latency_ms", "without_simulated_delay", _q),
                                          f"latency with the simulated delay taken out, {_q}")
METRICS.update({
    "answered": Metric("%", _path("answered_pct"), "awaited valid intents answered", higher_is_better=True),
    "unanswered": Metric("", _path("outstanding"), "awaited valid intents not answered"),
    "invalid_filled": Metric("", _path("invalid_answered_with_a_fill"), "invalid intents answered with a fill"),
    "send_rate": Metric("/s", _path("achieved_send_rate_per_s"), "intents sent per second", higher_is_better=True),
    "send_lag_p99": Metric("ms", _path("send_lag_ms", "p99"), "how late sends were against the schedule, p99"),
    "slippage_p99": Metric("bps", _path("slippage_bps", "p99"), "slippage vs mid of market and stop orders, p99"),
    "faults": Metric("", _sum("faults"), "intents an injected fault touched (by fault, summed)"),
    "duplicate_fills": Metric("", _path("duplicate_fills"), "fills received twice (injected duplicates)"),
    "quotes_published": Metric("", _path("feed", "published"), "quotes the feed published", higher_is_better=True),
    "quote_rate": Metric("/s", _path("feed", "achieved_rate_per_s"), "quotes published per second",
                         higher_is_better=True),
    "service_rejections": Metric("", _path("service_rejections"),
                                 "rejections the service counted beyond the invalid intents sent"),
})


def metric_value(name: str, results: dict[str, Any] | None) -> float | None:
    if results is None:
        return None
    value = METRICS[name].read(results)
    return None if value is None else round(value, 4)


def metrics_help() -> str:
    return "\n".join(f"  {name:<20} {m.unit or 'count':<6} {m.help}" for name, m in METRICS.items())
