"""k6-style pass/fail criteria on a run's figures: `--threshold 'overhead_p99<20ms'`.

Pure, in the loadgen process (and tools/arguments.py while options are parsed).
An expression is METRIC OP VALUE[UNIT]: OP one of < <= > >= ==, the unit the
metric's own (ms also as s; % for percentages; /s for rates; bps) or x, a ratio to
the same metric of --baseline. A threshold whose metric has no value in the run
(no answers, no baseline) fails: a criterion that cannot be checked is not met.
Without any --threshold the run is judged by the default ones, DEFAULT_THRESHOLDS:
every awaited intent answered, no invalid one filled (a feed-only run: a quote published).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.loadgen.metrics import METRICS, metric_value

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "<": operator.lt, ">": operator.gt,
}
_EXPRESSION = re.compile(r"^\s*([a-z0-9_.]+)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*(ms|s|%|/s|bps|x)?\s*$")
DEFAULT_THRESHOLDS = ("answered==100%", "invalid_filled==0")
DEFAULT_FEED_ONLY_THRESHOLDS = ("quotes_published>0",)
THRESHOLD_HELP = ("METRIC OP VALUE[UNIT], e.g. 'overhead_p99<20ms', 'answered>=99.9%', 'latency_p99<1.2x' "
                  "(x: ratio to --baseline); repeatable; metrics listed below")


@dataclass(frozen=True)
class Threshold:
    expression: str
    metric: str
    op: str
    value: float  # in the metric's unit (or a ratio when relative)
    unit: str  # the metric's unit, or "x"

    @property
    def relative(self) -> bool:
        return self.unit == "x"


def parse_threshold(text: str) -> Threshold:
    match = _EXPRESSION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not METRIC OP VALUE[UNIT] (e.g. overhead_p99<20ms, answered>=99.9%)")
    name, op, number, unit = match.groups()
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r} (known: {', '.join(METRICS)})")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r}: {number!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r}: the value must be finite")
    own = METRICS[name].unit
    if unit == "x":
        return Threshold(text.strip(), name, op, value, "x")
    if unit == "s" and own == "ms":
        value, unit = value * 1000, "ms"
    if (unit or "") != own:
        raise ValueError(f"{text!r}: {name} is in {own or 'a plain count'}, not {unit or 'a plain count'}")
    return Threshold(text.strip(), name, op, value, own)


def evaluate(thresholds: list[Threshold], results: dict[str, Any],
             baseline: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per threshold: expression, metric, observed, unit, passed (and baseline when relative)."""
    rows = []
    for t in thresholds:
        observed = metric_value(t.metric, results)
        row: dict[str, Any] = {"expression": t.expression, "metric": t.metric}
        if t.relative:
            base = metric_value(t.metric, baseline) if baseline is not None else None
            ratio = observed / base if observed is not None and base not in (None, 0) else None
            row.update(observed=None if ratio is None else round(ratio, 4), unit="x",
                       baseline=base, observed_value=observed)
            compared = ratio
        else:
            row.update(observed=observed, unit=t.unit)
            compared = observed
        row["passed"] = compared is not None and OPERATORS[t.op](compared, t.value)
        rows.append(row)
    return rows


def verdict(rows: list[dict[str, Any]]) -> str:
    return "passed" if all(row["passed"] for row in rows) else "failed"
