"""What an intent's metadata asks of the venue: its time in force and a forced outcome.

Runs in the pool's worker processes, called by worker.validation on schema-valid
intents. The at-core intent schema leaves `metadata` open, so these two keys are
this simulator's documented extensions; anything else in metadata is the
strategy's own and ignored.

    metadata.time_in_force   "IOC" | "FOK" | "DAY" | "GTC" (any case). Absent: the
                             simulator's default (executes at arrival, a remainder
                             per SIMULATION_LIQUIDITY_REMAINDER, not marketable:
                             cancelled). DAY and GTC rest limit and stop orders; on
                             a market order they change nothing (it executes at once).
    metadata.exec_sim_force  {"outcome": "full" | "partial" | "reject",
                              "fill_ratio": (0, 1)   partial only, default 0.5,
                              "reason": "text"       reject only, at most 200 characters,
                              "delay_ms": 0..86,400,000   the arrival delay}
                             Every key is optional, but the object must ask for something.
                             Ignored entirely with SIMULATION_FORCED_OUTCOMES=off.

A value that cannot be honoured is a typed rejection (invalid_directive), never a
guess: an unknown time in force, an unknown key or outcome, a ratio outside (0, 1),
or a forced partial on a FOK order (which is never partially filled).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TIME_IN_FORCE_KEY = "time_in_force"
FORCE_KEY = "exec_sim_force"

IOC = "IOC"
FOK = "FOK"
DAY = "DAY"
GTC = "GTC"
TIMES_IN_FORCE = (IOC, FOK, DAY, GTC)
RESTING = (DAY, GTC)

FORCED_FULL = "full"
FORCED_PARTIAL = "partial"
FORCED_REJECT = "reject"
FORCED_OUTCOMES = (FORCED_FULL, FORCED_PARTIAL, FORCED_REJECT)

DEFAULT_FORCED_RATIO = 0.5
MAX_FORCED_DELAY_MS = 86_400_000
MAX_FORCED_REASON = 200
_FORCE_KEYS = ("outcome", "fill_ratio", "reason", "delay_ms")


@dataclass(frozen=True, slots=True)
class ForcedOutcome:
    """What a strategy's test scripted for this intent; None fields follow the simulation."""

    outcome: str | None = None  # one of FORCED_OUTCOMES
    fill_ratio: float = DEFAULT_FORCED_RATIO
    reason: str | None = None
    delay_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Directives:
    time_in_force: str | None = None  # None: the simulator's default
    force: ForcedOutcome | None = None


NONE = Directives()


def read_directives(intent: Mapping[str, Any], forced_outcomes: bool) -> Directives | str:
    """The intent's directives, or why they cannot be honoured (a rejection's detail)."""
    metadata = intent.get("metadata")
    if not metadata:
        return NONE
    tif = metadata.get(TIME_IN_FORCE_KEY)
    if tif is not None:
        if not isinstance(tif, str) or tif.upper() not in TIMES_IN_FORCE:
            return f"metadata.{TIME_IN_FORCE_KEY} must be one of {', '.join(TIMES_IN_FORCE)}"
        tif = tif.upper()
    raw_force = metadata.get(FORCE_KEY) if forced_outcomes else None
    if raw_force is None:
        return Directives(tif) if tif is not None else NONE
    force = _read_force(raw_force)
    if isinstance(force, str):
        return force
    if tif == FOK and force.outcome == FORCED_PARTIAL:
        return f"metadata.{FORCE_KEY}: a partial outcome contradicts time_in_force FOK (never partially filled)"
    return Directives(tif, force)


def _read_force(raw: object) -> ForcedOutcome | str:
    where = f"metadata.{FORCE_KEY}"
    if not isinstance(raw, dict) or not any(v is not None for v in raw.values()):
        return f"{where} must be an object that asks for something (null asks for nothing)"
    unknown = sorted(k for k in raw if k not in _FORCE_KEYS)
    if unknown:
        return f"{where} has unknown key(s) {', '.join(k[:40] for k in unknown[:3])}; known: {', '.join(_FORCE_KEYS)}"
    outcome = raw.get("outcome")
    if outcome is not None and outcome not in FORCED_OUTCOMES:
        return f"{where}.outcome must be one of {', '.join(FORCED_OUTCOMES)}"
    ratio = raw.get("fill_ratio", DEFAULT_FORCED_RATIO)
    if "fill_ratio" in raw and outcome != FORCED_PARTIAL:
        return f"{where}.fill_ratio applies to outcome partial only"
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        return f"{where}.fill_ratio must be a number strictly between 0 and 1"
    reason = raw.get("reason")
    if reason is not None:
        if outcome != FORCED_REJECT:
            return f"{where}.reason applies to outcome reject only"
        if not isinstance(reason, str) or not 0 < len(reason) <= MAX_FORCED_REASON:
            return f"{where}.reason must be a string of 1 to {MAX_FORCED_REASON} characters"
    delay = raw.get("delay_ms")
    if delay is not None:
        whole = isinstance(delay, int) or (isinstance(delay, float) and delay.is_integer())
        if isinstance(delay, bool) or not whole or not 0 <= delay <= MAX_FORCED_DELAY_MS:
            return f"{where}.delay_ms must be a whole number from 0 to {MAX_FORCED_DELAY_MS}"
        delay = int(delay)
    return ForcedOutcome(outcome, float(ratio), reason, delay)
