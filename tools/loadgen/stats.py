"""What happened to each intent the load generator sent, and the figures drawn from it.

Pure, in the loadgen process: records are filled in by the runner as fills and reconciles arrive;
`summarize` turns them into the figures the live view, the summary table, the
JSON file and the HTML report all show, so the four never disagree. Keys are
snake_case (an outcome is `<final status>[_<reason_code>]`, e.g.
`rejected_market_closed`, `partial_rest_cancelled_child_fill_limit`).

Faults the service injects on purpose (worker/faults.py) are read from the events'
metadata.faults and counted per intent; a duplicated fill (the same fill_id stored
twice) is counted once as an answer and once in duplicate_fills, never twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999))


@dataclass
class IntentRecord:
    corr_id: str
    order_type: str
    expected_rejection: str | None
    due_s: float
    sent_s: float | None = None
    first_fill_s: float | None = None
    final_s: float | None = None  # when the final fill (full, cancelled or rejected) was seen
    statuses: list[str] = field(default_factory=list)
    reconciles: int = 0
    simulated_delay_ms: int | None = None  # of the final fill, from receipt
    slippage_bps: list[float] = field(default_factory=list)
    # reason_code of the order update that ended an order not filled in full
    end_reason: str | None = None
    tif: str = "none"
    force: str = "none"
    instrument: str = ""
    expect_rest: bool = False  # a DAY/GTC order on a closed market: not awaited
    fill_ids: set[str] = field(default_factory=set)
    duplicate_fills: int = 0
    faults: set[str] = field(default_factory=set)
    fault_s: float | None = None  # when its first injected fault was seen

    @property
    def awaited(self) -> bool:
        """A valid intent the run waits for (a resting one may answer, but is not waited for)."""
        return self.expected_rejection is None and not self.expect_rest

    @property
    def valid(self) -> bool:
        return self.expected_rejection is None

    @property
    def answered(self) -> bool:
        return self.final_s is not None

    @property
    def complete(self) -> bool:
        """Final fill, a reconcile per fill, and the order update when it did not fill in full."""
        return (self.answered and self.reconciles == len(self.statuses)
                and (self.statuses[-1] == "full" or self.end_reason is not None))

    @property
    def latency_ms(self) -> float | None:
        """Scheduled send to final fill seen: what the agent waits, stalls included."""
        return None if self.final_s is None else (self.final_s - self.due_s) * 1000

    @property
    def outcome(self) -> str:
        """snake_case: filled_in_full, partial_rest_filled, partial_rest_cancelled_<reason>,
        cancelled_<reason>, rejected_<reason>, resting, unanswered."""
        if not self.statuses:
            return "resting" if self.expect_rest else "unanswered"
        ended = f"_{self.end_reason}" if self.end_reason else ""
        if self.statuses[0] == "partial":
            return "partial_rest_filled" if self.statuses[-1] == "full" else f"partial_rest_cancelled{ended}"
        if self.statuses[-1] == "full":
            return "filled_in_full"
        return f"{self.statuses[-1]}{ended}"  # cancelled or rejected, with the order update's reason


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        empty: dict[str, float | None] = {name: None for name, _ in PERCENTILES}
        return empty | {"max": None, "mean": None}
    ordered = sorted(values)
    figures: dict[str, float | None] = {
        name: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) for name, q in PERCENTILES
    }
    figures["max"] = round(ordered[-1], 3)
    figures["mean"] = round(sum(ordered) / len(ordered), 3)
    return figures


def summarize(records: list[IntentRecord], options: Any, elapsed_s: float, send_s: float) -> dict[str, Any]:
    """The run's figures (the JSON's `results`): every count, rate and distribution of the run."""
    valid = [r for r in records if r.valid]
    sent = [r for r in records if r.sent_s is not None]
    awaited = [r for r in valid if r.awaited]
    answered = [r for r in valid if r.answered]
    latencies = [r.latency_ms for r in answered if r.latency_ms is not None]
    net = [r.latency_ms - (r.simulated_delay_ms or 0) for r in answered if r.latency_ms is not None]
    slippage = [bps for r in answered for bps in r.slippage_bps]
    behind = [(r.sent_s - r.due_s) * 1000 for r in sent if r.sent_s is not None]
    answered_awaited = sum(1 for r in awaited if r.answered)
    return {
        "target_rate_per_s": options.rate_per_s or None,
        "achieved_send_rate_per_s": round(len(sent) / send_s, 1) if send_s > 0 else None,
        "send_duration_s": round(send_s, 3),
        "elapsed_s": round(elapsed_s, 3),
        "sent": {"total": len(sent), "valid": sum(1 for r in sent if r.valid), "invalid": sum(1 for r in sent if not r.valid)},
        "answered": len(answered),
        "answered_pct": round(100 * answered_awaited / len(awaited), 4) if awaited else None,
        "outstanding": len(awaited) - answered_awaited,
        "resting": sum(1 for r in valid if r.expect_rest and not r.answered),
        "outcomes": dict(Counter(r.outcome for r in valid)),
        "fill_events_by_status": dict(Counter(status for r in valid for status in r.statuses)),
        "reconciles": sum(r.reconciles for r in valid),
        "order_updates_by_reason": dict(Counter(r.end_reason for r in valid if r.end_reason)),
        "rejections_sent_by_type": dict(Counter(r.expected_rejection for r in records if not r.valid)),
        "invalid_answered_with_a_fill": sum(1 for r in records if not r.valid and r.statuses),
        "by_time_in_force": _by(valid, "tif"),
        "forced_outcomes": _forced(valid),
        "faults": dict(Counter(fault for r in records for fault in r.faults)),
        "duplicate_fills": sum(r.duplicate_fills for r in records),
        "latency_ms": {"end_to_end": percentiles(latencies), "without_simulated_delay": percentiles(net)},
        "send_lag_ms": percentiles(behind),
        "slippage_bps": percentiles(slippage),
    }


def _by(records: list[IntentRecord], attribute: str) -> dict[str, dict[str, Any]]:
    """Per value of `attribute`: sent, answered, and the outcomes."""
    groups: dict[str, list[IntentRecord]] = {}
    for r in records:
        groups.setdefault(getattr(r, attribute), []).append(r)
    return {name: {"sent": len(rs), "answered": sum(1 for r in rs if r.answered),
                   "outcomes": dict(Counter(r.outcome for r in rs))} for name, rs in sorted(groups.items())}


# What shows that the service honoured a forced outcome: the reason code that ended the order
# (worker/events.py; a forced partial too small for one lot ends cancelled with nothing filled), or
# for a forced full, the order filled in full.
FORCED_SIGNS = {"reject": "forced_reject", "partial": "forced_partial", "full": None}


def _forced(records: list[IntentRecord]) -> dict[str, dict[str, int]]:
    """Per forced outcome asked (metadata.exec_sim_force): sent, answered, and honoured (the outcome
    asked for; under SIMULATION_FORCED_OUTCOMES=off the service ignores the directive)."""
    out: dict[str, dict[str, int]] = {}
    for force, sign in FORCED_SIGNS.items():
        asked = [r for r in records if r.force == force]
        if asked:
            out[force] = {"sent": len(asked), "answered": sum(1 for r in asked if r.answered),
                          "honoured": sum(1 for r in asked if (r.end_reason == sign if sign
                                                               else r.outcome == "filled_in_full"))}
    return out
