"""When each intent is due: a constant rate, or k6-style ramping stages of the arrival rate.

Pure, in the loadgen process (and tools/arguments.py while options are parsed).
Open loop: intent i is due when the expected number of arrivals so far reaches i,
whatever the service did with the earlier ones.

`--stages 10s:100,30s:1000,10s:0` is k6's ramping-arrival-rate: the rate moves in a
straight line from where the previous stage ended (0 before the first) to each
stage's target over the stage's duration. A stage of 0 s jumps (`0s:200,60s:200`
holds 200/s for a minute); a stage whose rate stays at 0 is a pause. Durations take
ms, s, m or h (a bare number is seconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
STAGES_HELP = "DURATION:RATE,... e.g. 10s:100,30s:1000,10s:0 (rate ramps linearly to each target)"


@dataclass(frozen=True)
class Stage:
    duration_s: float
    target_per_s: float


def parse_duration(text: str) -> float:
    """'10s', '250ms', '2m', '1h', '5' -> seconds (finite, 0 or more)."""
    text = text.strip().lower()
    for unit in sorted(UNITS_S, key=len, reverse=True):
        if text.endswith(unit):
            number, scale = text[: -len(unit)], UNITS_S[unit]
            break
    else:
        number, scale = text, 1.0
    try:
        value = float(number) * scale
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 500ms, 2m)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} is not a duration of 0 or more")
    return value


def parse_stages(text: str) -> tuple[Stage, ...]:
    stages = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        duration, sep, rate = part.partition(":")
        if not sep:
            raise ValueError(f"{part!r} is not DURATION:RATE")
        try:
            target = float(rate)
        except ValueError:
            raise ValueError(f"{part!r}: the rate must be a number of intents per second") from None
        if not math.isfinite(target) or target < 0:
            raise ValueError(f"{part!r}: the rate must be a finite number, 0 or more")
        stages.append(Stage(parse_duration(duration), target))
    if not stages:
        raise ValueError("needs at least one stage, DURATION:RATE")
    if sum(s.duration_s for s in stages) <= 0:
        raise ValueError("the stages last 0 s in all")
    if expected_count(stages) < 1:
        raise ValueError("the stages send no intent (every rate 0)")
    return tuple(stages)


def _segments(stages: tuple[Stage, ...] | list[Stage]) -> Iterator[tuple[float, float, float, float]]:
    """(start_s, duration_s, start_rate, end_rate) of every stage that lasts."""
    start, rate = 0.0, 0.0
    for stage in stages:
        if stage.duration_s > 0:
            yield start, stage.duration_s, rate, stage.target_per_s
        start, rate = start + stage.duration_s, stage.target_per_s


def expected_count(stages: tuple[Stage, ...] | list[Stage]) -> int:
    """Intents the stages send: the area under the rate, whole ones."""
    area = sum(d * (r0 + r1) / 2 for _, d, r0, r1 in _segments(stages))
    return int(area + 1e-9)


def total_s(stages: tuple[Stage, ...]) -> float:
    return sum(s.duration_s for s in stages)


def staged_due_times(stages: tuple[Stage, ...]) -> Iterator[float]:
    """Due time of intent i: the instant the arrivals so far, the integral of the rate, reach i."""
    count, i, done = expected_count(stages), 0, 0.0
    for start, duration, r0, r1 in _segments(stages):
        slope = (r1 - r0) / duration
        area = duration * (r0 + r1) / 2
        if area <= 0:
            continue  # a pause: nothing is due in it
        while i < count and i <= done + area + 1e-9:
            k = max(i - done, 0.0)
            # Solve r0*t + slope*t^2/2 = k in the stable form (no cancellation when slope ~ 0).
            root = math.sqrt(max(r0 * r0 + 2 * slope * k, 0.0))
            t = 2 * k / (r0 + root) if r0 + root > 0 else 0.0
            yield start + min(t, duration)
            i += 1
        done += area


def constant_due_times(count: int, rate_per_s: float) -> Iterator[float]:
    """Intent i at i / rate; all at 0 (as fast as possible) when the rate is 0."""
    for i in range(count):
        yield i / rate_per_s if rate_per_s > 0 else 0.0
