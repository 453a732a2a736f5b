"""What happened to each intent the load generator sent, and the figures drawn from it.

Pure, in the loadgen process: records are filled in by the runner as fills and reconciles arrive;
`summarize` turns them into the figures the live view, the summary table, the
JSON file and the HTML report all show, so the four never disagree.
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
        if not self.statuses:
            return "unanswered"
        ended = f" ({self.end_reason})" if self.end_reason else ""
        if self.statuses[0] == "partial":
            return "partial, rest filled" if self.statuses[-1] == "full" else f"partial, rest cancelled{ended}"
        if self.statuses[-1] == "full":
            return "filled in full"
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
    valid = [r for r in records if r.valid]
    sent = [r for r in records if r.sent_s is not None]
    answered = [r for r in valid if r.answered]
    latencies = [r.latency_ms for r in answered if r.latency_ms is not None]
    net = [r.latency_ms - (r.simulated_delay_ms or 0) for r in answered if r.latency_ms is not None]
    slippage = [bps for r in answered for bps in r.slippage_bps]
    fill_events = Counter(status for r in valid for status in r.statuses)
    behind = [(r.sent_s - r.due_s) * 1000 for r in sent if r.sent_s is not None]
    return {
        "target_rate_per_s": options.rate_per_s or None,
        "achieved_send_rate_per_s": round(len(sent) / send_s, 1) if send_s > 0 else None,
        "send_duration_s": round(send_s, 3),
        "elapsed_s": round(elapsed_s, 3),
        "sent": {"total": len(sent), "valid": sum(1 for r in sent if r.valid), "invalid": sum(1 for r in sent if not r.valid)},
        "answered": len(answered),
        "outstanding": len(valid) - len(answered),
        "outcomes": dict(Counter(r.outcome for r in valid)),
        "fill_events_by_status": dict(fill_events),
        "reconciles": sum(r.reconciles for r in valid),
        "order_updates_by_reason": dict(Counter(r.end_reason for r in valid if r.end_reason)),
        "rejections_sent_by_type": dict(Counter(r.expected_rejection for r in records if not r.valid)),
        "invalid_answered_with_a_fill": sum(1 for r in records if not r.valid and r.statuses),
        "latency_ms": {"end_to_end": percentiles(latencies), "without_simulated_delay": percentiles(net)},
        "send_lag_ms": percentiles(behind),
        "slippage_bps": percentiles(slippage),
    }
