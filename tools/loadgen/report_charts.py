"""The load report's charts, drawn from the run's per-intent records.

Runs in the loadgen process after the run (report.py calls it), and in the unit
tests, which inspect the figures rather than their pixels. matplotlib's object
API only (Figure + the Agg canvas): no pyplot, so no global figure state and no
backend to choose.

What each chart is for, after locust's report (requests per second and response
time percentiles over time) and the usual reading of a latency tail:

    throughput over time     sent and answered intents per second, the target rate: did the
                             generator keep its rate, did the service keep up
    latency over time        every answered intent (faint) and per-interval p50/p99 of the
                             end-to-end latency and of the overhead, on a log axis: a stall or
                             a slow drift shows where it happened
    latency, overhead        histograms on log-spaced bins and a log axis, with the run's
                             p50/p90/p99/p99.9 as lines: the tail is visible, not one bar
    outcomes                 horizontal bars (long labels never overlap), each with its count
    slippage                 counts on a log axis (a few large slips stay visible), p50/p99

Overhead is an intent's end-to-end latency minus the simulated delay the service
reported for it: what the service itself cost, queueing included.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tools.loadgen.stats import IntentRecord, percentiles

# The percentiles drawn as lines, with their colours: the same names as the tables'.
PERCENTILE_LINES = (("p50", "tab:green"), ("p90", "tab:olive"), ("p99", "tab:orange"), ("p99.9", "tab:red"))
# Log axes cannot show 0: faster answers are drawn at this floor (and said so in the caption).
FLOOR_MS = 0.1
# Time charts aim at about this many intervals, whatever the run's length.
INTERVALS = 60
NICE_WIDTHS_S = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class Chart:
    slug: str  # file name without .png
    title: str
    caption: str
    figure: Figure


@dataclass(frozen=True)
class Samples:
    """What the charts need of each answered valid intent, in the run's seconds and milliseconds."""

    sent_s: list[float]
    answered_s: list[float]
    latency_ms: list[float]
    overhead_ms: list[float]
    answer_sent_s: list[float]  # the send time of each answered intent, beside its latency

    @classmethod
    def of(cls, records: Sequence[IntentRecord]) -> Samples:
        answered = [r for r in records if r.valid and r.final_s is not None and r.latency_ms is not None]
        return cls(
            sent_s=[r.sent_s for r in records if r.sent_s is not None],
            answered_s=[r.final_s for r in answered if r.final_s is not None],
            latency_ms=[r.latency_ms for r in answered if r.latency_ms is not None],
            overhead_ms=[(r.latency_ms or 0.0) - (r.simulated_delay_ms or 0) for r in answered],
            answer_sent_s=[r.sent_s if r.sent_s is not None else r.due_s for r in answered],
        )


def charts(records: Sequence[IntentRecord], outcomes: dict[str, int], target_rate_per_s: float | None) -> list[Chart]:
    samples = Samples.of(records)
    slippage = [bps for r in records if r.valid and r.answered for bps in r.slippage_bps]
    return [
        _chart("throughput-over-time", "Throughput over time",
               f"Intents per second in {interval_label(samples)} intervals.",
               lambda ax: throughput_over_time(ax, samples, target_rate_per_s)),
        _chart("latency-over-time", "Latency and overhead over time",
               f"Each dot is one answered intent (end-to-end latency, by send time); lines are the p50 and p99 "
               f"of each {interval_label(samples)} interval. Log scale; values under {FLOOR_MS} ms drawn at it.",
               lambda ax: latency_over_time(ax, samples)),
        _chart("latency-histogram", "End-to-end latency",
               "Scheduled send to final fill seen, what an agent waits. Log-spaced bins on a log axis.",
               lambda ax: log_histogram(ax, samples.latency_ms, "end-to-end latency (ms)")),
        _chart("overhead-histogram", "Overhead (latency minus the simulated delay)",
               "What the service itself cost each intent, queueing included. Log-spaced bins on a log axis.",
               lambda ax: log_histogram(ax, samples.overhead_ms, "overhead (ms)")),
        _chart("outcomes", "Outcomes of the valid intents", "Each bar is labelled with its count.",
               lambda ax: outcome_bars(ax, outcomes), height=max(2.4, 0.9 + 0.35 * len(outcomes))),
        _chart("slippage-histogram", "Slippage of market and stop orders",
               "Against the mid, in basis points (positive is worse for the trader). Counts on a log axis.",
               lambda ax: slippage_histogram(ax, slippage)),
    ]


def _chart(slug: str, title: str, caption: str, draw: Callable[[Axes], None], height: float = 3.6) -> Chart:
    figure = Figure(figsize=(9, height), dpi=100, layout="constrained")
    ax = figure.add_subplot()
    draw(ax)
    ax.set_title(title)
    return Chart(slug, title, caption, figure)


def interval_s(samples: Samples) -> float:
    """The time charts' interval: a round width giving about INTERVALS intervals over the run."""
    span = max([*samples.sent_s, *samples.answered_s], default=0.0)
    return next((w for w in NICE_WIDTHS_S if span / w <= INTERVALS), NICE_WIDTHS_S[-1])


def interval_label(samples: Samples) -> str:
    return f"{interval_s(samples):g} s"


def per_interval(times: Sequence[float], width_s: float) -> tuple[list[float], list[float]]:
    """(interval start, events per second in it) for every interval from 0 to the last event."""
    if not times:
        return [], []
    counts = [0] * (int(max(times) // width_s) + 1)
    for t in times:
        counts[int(max(t, 0.0) // width_s)] += 1
    return [i * width_s for i in range(len(counts))], [c / width_s for c in counts]


def throughput_over_time(ax: Axes, samples: Samples, target_rate_per_s: float | None) -> None:
    width = interval_s(samples)
    for times, label in ((samples.sent_s, "sent"), (samples.answered_s, "answered (final fill)")):
        starts, rates = per_interval(times, width)
        if starts:
            # One step per interval, drawn over its whole width.
            ax.step([*starts, starts[-1] + width], [*rates, rates[-1]], where="post", label=label)
    if target_rate_per_s:
        ax.axhline(target_rate_per_s, linestyle="--", color="grey", label=f"target {target_rate_per_s:,.0f}/s")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("intents per second")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10))
    _legend_or_empty(ax, bool(samples.sent_s))


def latency_over_time(ax: Axes, samples: Samples) -> None:
    ax.set_yscale("log")
    ax.set_xlabel("send time since start (s)")
    ax.set_ylabel("ms")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10))
    if not samples.latency_ms:
        _legend_or_empty(ax, False)
        return
    ax.scatter(samples.answer_sent_s, _floored(samples.latency_ms), s=3, alpha=0.25, color="tab:blue",
               label="end-to-end, each intent")
    width = interval_s(samples)
    for values, name, colour in ((samples.latency_ms, "end-to-end", "tab:blue"),
                                 (samples.overhead_ms, "overhead", "tab:purple")):
        buckets: dict[int, list[float]] = {}
        for t, value in zip(samples.answer_sent_s, values, strict=True):
            buckets.setdefault(int(max(t, 0.0) // width), []).append(value)
        starts = [(i + 0.5) * width for i in sorted(buckets)]
        figures = [percentiles(buckets[i]) for i in sorted(buckets)]
        for q, style in (("p50", "-"), ("p99", "--")):
            ax.plot(starts, _floored([f[q] or 0.0 for f in figures]), style, color=colour, marker=".",
                    label=f"{name} {q}")
    _legend(ax)


def log_histogram(ax: Axes, values_ms: Sequence[float], xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("intents")
    if not values_ms:
        _legend_or_empty(ax, False)
        return
    floored = _floored(values_ms)
    low, high = min(floored), max(floored)
    high = high * 1.01 if high > low else low * 10
    edges = [low * (high / low) ** (i / 50) for i in range(51)]
    ax.hist(floored, bins=edges, color="tab:blue", alpha=0.7)
    _percentile_lines(ax, values_ms, "ms", vertical=True)


def slippage_histogram(ax: Axes, values_bps: Sequence[float]) -> None:
    ax.set_yscale("log")
    ax.set_xlabel("slippage vs mid (bps, positive = worse for the trader)")
    ax.set_ylabel("fills")
    if not values_bps:
        _legend_or_empty(ax, False)
        return
    ax.hist(values_bps, bins=40, color="tab:blue", alpha=0.7)
    _percentile_lines(ax, values_bps, "bps", vertical=True, names=("p50", "p99"))


def outcome_bars(ax: Axes, outcomes: dict[str, int]) -> None:
    ax.set_xlabel("intents")
    if not outcomes:
        _legend_or_empty(ax, False)
        return
    ordered = sorted(outcomes.items(), key=lambda item: (item[1], item[0]))
    # The export's snake_case keys, read as words on the axis.
    bars = ax.barh([name.replace("_", " ") for name, _ in ordered], [count for _, count in ordered], color="tab:blue")
    ax.bar_label(bars, labels=[f"{count:,}" for _, count in ordered], padding=3)
    ax.set_xlim(0, max(outcomes.values()) * 1.15 or 1)  # room for the count past the longest bar
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))


def _percentile_lines(ax: Axes, values: Sequence[float], unit: str, vertical: bool,
                      names: Sequence[str] = ("p50", "p90", "p99", "p99.9")) -> None:
    """The run's percentiles (stats.percentiles, so the tables agree) as labelled lines."""
    figures = percentiles(list(values))
    for name, colour in PERCENTILE_LINES:
        value = figures.get(name)
        if name not in names or value is None:
            continue
        label = f"{name} {value:,.1f} {unit}"
        if vertical:
            ax.axvline(max(value, FLOOR_MS) if ax.get_xscale() == "log" else value, color=colour,
                       linestyle="--", label=label)
        else:
            ax.axhline(value, color=colour, linestyle="--", label=label)
    _legend(ax)


def _legend(ax: Axes) -> None:
    """Beside the plot, never over it: inside, it hid the tail it is meant to explain."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize="small")


def _floored(values: Sequence[float]) -> list[float]:
    return [v if v >= FLOOR_MS and math.isfinite(v) else FLOOR_MS for v in values]


def _legend_or_empty(ax: Axes, has_data: bool) -> None:
    if has_data:
        _legend(ax)
    else:
        ax.text(0.5, 0.5, "no data in this run", transform=ax.transAxes, ha="center", va="center")
