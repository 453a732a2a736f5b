"""The trading clock: how much of a trading day's variance has accrued by each instant.

Runs in the pool's worker processes, inside worker.market.Market (one clock per
calendar, intraday shape, overnight share and volatility regime; built on first
use from the calendar's sessions, a few ms). Owns tau(t), the business time the
price paths (worker/brownian_path.py) run on: a Brownian motion B(tau(t)) has
variance tau(t1) - tau(t0) between two instants.

Each session of the calendar (worker.sessions; for 24/7, each UTC day) adds h,
the volatility regime's multiplier for the UTC day of its close
(worker.volatility_regime, mean 1):

    closed time before it      overnight_share * h, accrued evenly from the previous
                               session's end to its open (nothing when sessions touch,
                               as FX's weekdays do: then the session gets all of h)
    the session's open time    the rest, with density 1 + k (3 (2x - 1)^2 - 1) over the
                               fraction x of its open time (k = intraday_shape: 2x the
                               average at the open and close and 0.5x at midday for
                               k = 0.5; flat for k = 0); a break adds nothing

so one trading day's return has variance h (in units of daily_volatility^2),
most of it while the market trades. Before the first and after the last session
the clock runs at its average rate. Everything is +, -, *, / on exact integer
milliseconds: the same bits on every machine.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, time
from typing import Any

import numpy as np

from worker.sessions import FIRST_DAY, LAST_DAY, TradingSessions
from worker.volatility_regime import DAY_MS, VolatilityRegime


def _shape(x: Any, k: Any) -> Any:
    """The cumulative intraday density: G(x) = x + k ((2x - 1)^3 + 1) / 2 - k x, G(0) = 0, G(1) = 1
    (floats, or numpy arrays element-wise)."""
    y = 2.0 * x - 1.0
    return x + k * ((y * y * y + 1.0) / 2.0 - x)


def _utc_days() -> tuple[list[int], list[int], list[int]]:
    """Every UTC day of the calendar range as a session (the 24/7 calendar's)."""
    first = int(datetime.combine(FIRST_DAY, time(), UTC).timestamp()) * 1000
    days = (LAST_DAY - FIRST_DAY).days + 1
    opens = [first + d * DAY_MS for d in range(days)]
    ends = [o + DAY_MS for o in opens]
    return opens, ends, ends


# A segment: start, x0, the length x runs over (the session's open time, or the gap's), k, its
# share of the session's multiplier, the UTC day of the session's close (whose multiplier it
# takes), its duration.
_Row = tuple[int, float, int, float, float, int, int]


class ClockLayout:
    """A calendar's segments and what each adds per unit of its session's multiplier (seed-free, built
    once per process for each calendar and profile)."""

    __slots__ = ("starts", "x0", "g0", "length", "k", "share", "unit_increment", "day", "end")

    def __init__(self, sessions: TradingSessions, intraday_shape: float, overnight_share: float) -> None:
        opens, ends, closes = sessions.spans()
        if not opens:
            opens, ends, closes = _utc_days()
        rows: list[_Row] = []
        prev_end: int | None = None
        i = 0
        while i < len(opens):
            last = i
            while last + 1 < len(opens) and closes[last + 1] == closes[i]:
                last += 1  # a session with a break: its intervals share the close
            day = (closes[i] - 1) // DAY_MS
            rows += _session_rows(opens[i:last + 1], ends[i:last + 1], prev_end, day, intraday_shape, overnight_share)
            prev_end = ends[last]
            i = last + 1
        if not rows or prev_end is None:  # every calendar has open time in the range; a clock needs some
            raise ValueError(f"{sessions.name}: no open time between {FIRST_DAY} and {LAST_DAY}")
        self.starts = np.array([r[0] for r in rows], dtype=np.int64)
        self.x0 = np.array([r[1] for r in rows])
        self.length = np.array([r[2] for r in rows], dtype=np.int64)
        self.k = np.array([r[3] for r in rows])
        self.share = np.array([r[4] for r in rows])
        self.day = np.array([r[5] for r in rows], dtype=np.int64)
        self.g0 = np.array([_shape(r[1], r[3]) for r in rows])
        g1 = np.array([_shape(r[1] + r[6] / r[2], r[3]) for r in rows])
        self.unit_increment = self.share * (g1 - self.g0)
        self.end: int = prev_end


def _session_rows(opens: list[int], ends: list[int], prev_end: int | None, day: int, k: float,
                  overnight_share: float) -> list[_Row]:
    """One session's segments: the closed time before it, then each open interval (and break)."""
    open_ms = sum(e - o for o, e in zip(opens, ends))
    if open_ms <= 0:
        return []
    rows: list[_Row] = []
    gap = opens[0] - prev_end if prev_end is not None else 0
    closed_share = overnight_share if gap > 0 else 0.0
    if gap > 0 and prev_end is not None:
        rows.append((prev_end, 0.0, gap, 0.0, closed_share, day, gap))
    elapsed = 0
    for n, (o, e) in enumerate(zip(opens, ends)):
        if n:  # the break: no variance
            rows.append((ends[n - 1], 0.0, o - ends[n - 1], 0.0, 0.0, day, o - ends[n - 1]))
        rows.append((o, elapsed / open_ms, open_ms, k, 1.0 - closed_share, day, e - o))
        elapsed += e - o
    return rows


_LAYOUTS: dict[tuple[int, float, float], tuple[TradingSessions, ClockLayout]] = {}


def clock_layout(sessions: TradingSessions, intraday_shape: float, overnight_share: float) -> ClockLayout:
    """The layout of a calendar and profile, built once per process (~20 ms)."""
    key = (id(sessions), intraday_shape, overnight_share)
    found = _LAYOUTS.get(key)
    if found is None or found[0] is not sessions:
        found = _LAYOUTS[key] = (sessions, ClockLayout(sessions, intraday_shape, overnight_share))
    return found[1]


class TradingClock:
    """tau(t) for one calendar: piecewise segments, each tau0 + weight * (G(x0 + (t - start) / length) - G(x0))."""

    __slots__ = ("_starts", "_tau0", "_weight", "_x0", "_g0", "_length", "_k", "_end", "_tau_end", "_rate",
                 "_arrays")

    def __init__(self, layout: ClockLayout, regime: VolatilityRegime) -> None:
        h = regime.multipliers(layout.day)
        increments = h * layout.unit_increment
        sums = np.cumsum(increments)  # sequential: the same bits everywhere
        tau0 = np.concatenate(([0.0], sums[:-1]))
        weight = h * layout.share
        self._arrays = (layout.starts, tau0, weight, layout.x0, layout.g0, layout.length.astype(np.float64),
                        layout.k)
        self._starts: list[int] = layout.starts.tolist()
        self._tau0: list[float] = tau0.tolist()
        self._weight: list[float] = weight.tolist()
        self._x0: list[float] = layout.x0.tolist()
        self._g0: list[float] = layout.g0.tolist()
        self._length: list[int] = layout.length.tolist()
        self._k: list[float] = layout.k.tolist()
        self._end: int = layout.end
        self._tau_end = float(sums[-1])
        self._rate: float = self._tau_end / (self._end - self._starts[0])

    def at_ms(self, t: int) -> float:
        """tau at epoch milliseconds t."""
        starts = self._starts
        if t < starts[0]:
            return -self._rate * (starts[0] - t)
        if t >= self._end:
            return self._tau_end + self._rate * (t - self._end)
        i = bisect.bisect_right(starts, t) - 1
        g: float = _shape(self._x0[i] + (t - starts[i]) / self._length[i], self._k[i])
        return self._tau0[i] + self._weight[i] * (g - self._g0[i])

    def at(self, t: np.ndarray) -> np.ndarray:
        """tau at each of the int64 epoch milliseconds `t` (the same arithmetic as at_ms, element-wise)."""
        starts, tau0, weight, x0, g0, length, k = self._arrays
        i = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        tau = tau0[i] + weight[i] * (_shape(x0[i] + (t - starts[i]) / length[i], k[i]) - g0[i])
        tau = np.where(t < starts[0], -self._rate * (starts[0] - t), tau)
        result: np.ndarray = np.where(t >= self._end, self._tau_end + self._rate * (t - self._end), tau)
        return result
