"""`--baseline run.json`: this run's figures beside an earlier run's, metric by metric.

Pure, in the loadgen process (the file is read once, before the run starts, so a
bad file is an error before anything is sent). A baseline is a file `--json`
wrote: its `results`; a file from before the JSON had `results` (the figures at
the top level) is read the same way. Ratios are this run / the baseline; the
`change` column says whether that is better or worse for the metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tools.loadgen.metrics import METRICS, metric_value


def load_baseline(path: Path) -> dict[str, Any]:
    """The document at `path` (ValueError when it is not a loadgen JSON export)."""
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"--baseline {path}: {exc}") from None
    results = document.get("results", document) if isinstance(document, dict) else None
    if not isinstance(results, dict) or not isinstance(results.get("sent"), dict):
        raise ValueError(f"--baseline {path}: not a file written by at-exec-sim loadgen --json")
    return document


def baseline_results(document: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = document.get("results", document)
    return results


def compare(baseline: dict[str, Any], results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric either run has: metric, unit, baseline, this_run, ratio, change."""
    rows = []
    for name, metric in METRICS.items():
        before, now = metric_value(name, baseline), metric_value(name, results)
        if before is None and now is None:
            continue
        ratio = round(now / before, 4) if before not in (None, 0) and now is not None else None
        change = None
        if before is not None and now is not None and now != before:
            change = "better" if (now > before) == metric.higher_is_better else "worse"
        elif before is not None and now is not None:
            change = "same"
        rows.append({"metric": name, "unit": metric.unit, "baseline": before, "this_run": now,
                     "ratio": ratio, "change": change})
    return rows
