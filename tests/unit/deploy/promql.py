"""The metric names PromQL in deploy/ may use: those common/metrics.py defines, read from its source.

Shared by the dashboard and alert-rule tests (test process only). A histogram's series are its
name plus _bucket, _sum or _count; `up` is Prometheus' own scrape-health series.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
METRIC = re.compile(r"\bexec_sim_[a-z0-9_]+")
PROMETHEUS_OWN = {"up"}


def defined_metrics() -> set[str]:
    """Every series name the service exposes, from the definitions in common/metrics.py."""
    source = (ROOT / "common" / "metrics.py").read_text()
    names = set(re.findall(r'"(exec_sim_[a-z0-9_]+)"', source))
    histograms = set(re.findall(r'Histogram\(\s*"(exec_sim_[a-z0-9_]+)"', source))
    return names | {h + suffix for h in histograms for suffix in ("_bucket", "_sum", "_count")}


def unknown_metrics(expr: str) -> set[str]:
    """The exec_sim_* names in `expr` that the service does not expose."""
    return set(METRIC.findall(expr)) - defined_metrics()
