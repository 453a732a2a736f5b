"""Seeded venue faults: which misbehaviour an order meets, decided reproducibly.

Runs in the pool's worker processes, called by worker.simulator. A strategy is
only tested once it has met the bad days, so the simulated venue can misbehave
on purpose, each fault with its own probability (FAULT_*; all 0 by default, and
then nothing here draws at all):

    venue_reject       the venue rejects the order at arrival (reason_code venue_reject)
    latency_spike      the order reaches the venue FAULT_LATENCY_SPIKE_MS later
    duplicate_fill     the first fill is reported twice: the same bytes (same fill_id)
                       again under another Nats-Msg-Id, so consumers' idempotency is tested
    reconcile_delayed  the first reconcile is held back until the agent's next fill is
                       stored (at most FAULT_RECONCILE_DELAY_MAX_MS): the supervisor holds it
    instrument_halt    the instrument is halted for a whole window of market time
                       (FAULT_HALT_WINDOW_SEC, aligned to the epoch): orders arriving in
                       it are rejected, a remainder due in it is cancelled (instrument_halted)

The per-order faults are uniforms from blake2b(seed | "faults" | corr_id), one per
fault, independent of the simulation's own draws; a halt is a uniform from
(seed, instrument, window), so every order on that instrument in that window
sees the same halt, on any worker of any instance. Every event a fault shaped
carries the Exec-Sim-Fault header (and fills, reconciles and order updates a
metadata "faults" list) so it is never mistaken for a defect; the supervisor
counts each in exec_sim_faults_injected_total{fault}. An intent with a forced
outcome (metadata.exec_sim_force) meets no fault: a script gets what it asked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from common.config import Settings

VENUE_REJECT = "venue_reject"
LATENCY_SPIKE = "latency_spike"
DUPLICATE_FILL = "duplicate_fill"
RECONCILE_DELAYED = "reconcile_delayed"
INSTRUMENT_HALT = "instrument_halt"
FAULTS = (VENUE_REJECT, LATENCY_SPIKE, DUPLICATE_FILL, RECONCILE_DELAYED, INSTRUMENT_HALT)

_INV_2_64 = 1.0 / (1 << 64)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The per-order faults one intent meets (a halt depends on time, not on the order)."""

    reject: bool = False
    latency_spike_ms: int = 0
    duplicate_fill: bool = False
    reconcile_delayed: bool = False


NO_FAULTS = FaultPlan()


class VenueFaults:
    def __init__(self, settings: Settings, seed: bytes) -> None:
        self._reject = settings.fault_reject_probability
        self._spike = settings.fault_latency_spike_probability
        self._spike_ms = settings.fault_latency_spike_ms
        self._duplicate = settings.fault_duplicate_fill_probability
        self._reconcile = settings.fault_reconcile_delay_probability
        self._halt = settings.fault_halt_probability
        self._halt_window_ms = settings.fault_halt_window_s * 1000
        self._per_order = any(p > 0 for p in (self._reject, self._spike, self._duplicate, self._reconcile))
        self._order_base = hashlib.blake2b(bytes(seed) + b"|faults|", digest_size=32)
        self._halt_base = hashlib.blake2b(bytes(seed) + b"|halt|", digest_size=8)
        self._halts: dict[tuple[str, int], bool] = {}

    def plan(self, corr_id: str) -> FaultPlan:
        if not self._per_order:
            return NO_FAULTS
        h = self._order_base.copy()
        h.update(corr_id.encode())
        digest = h.digest()
        u = [int.from_bytes(digest[i : i + 8], "big") * _INV_2_64 for i in range(0, 32, 8)]
        plan = FaultPlan(
            reject=u[0] < self._reject,
            latency_spike_ms=self._spike_ms if u[1] < self._spike else 0,
            duplicate_fill=u[2] < self._duplicate,
            reconcile_delayed=u[3] < self._reconcile,
        )
        return NO_FAULTS if plan == NO_FAULTS else plan

    def halt_window(self, symbol: str, market_ms: int) -> tuple[int, int] | None:
        """(start, end) epoch ms of the halt `market_ms` falls in, None when trading."""
        if self._halt <= 0:
            return None
        window = market_ms // self._halt_window_ms
        key = (symbol, window)
        halted = self._halts.get(key)
        if halted is None:
            if len(self._halts) > 100_000:
                self._halts.clear()
            h = self._halt_base.copy()
            h.update(f"{symbol}|{window}".encode())
            halted = self._halts[key] = int.from_bytes(h.digest(), "big") * _INV_2_64 < self._halt
        if not halted:
            return None
        return window * self._halt_window_ms, (window + 1) * self._halt_window_ms

    def halted_until(self, symbol: str, halt: tuple[int, int], until_ms: int) -> int:
        """The end of a halt and of the halted windows right after it, looking no further than
        until_ms (cheap hashes, not scans)."""
        end = halt[1]
        while end < until_ms:
            following = self.halt_window(symbol, end)
            if following is None:
                break
            end = following[1]
        return end
