"""Whether the rest of a partly filled order is cancelled now, or comes back for another fill.

Runs in the pool's worker processes, asked by the execution pipeline's after-fill step
(worker.simulator) once per child fill that leaves a rest. Owns the order in which the
reasons are looked at: a forced partial's script, the time in force (IOC, FOK), a random
partial's draw (REMAINDER_FILL_CHANCE), the liquidity model's remainder policy
(SIMULATION_LIQUIDITY_REMAINDER), and SIMULATION_MAX_CHILD_FILLS.
"""

from __future__ import annotations

from common.config import Settings
from worker.directives import FORCE_KEY, FORCED_PARTIAL
from worker.events import CHILD_FILL_LIMIT, LIQUIDITY_EXHAUSTED, REMAINDER_CANCELLED
from worker.events import FORCED_PARTIAL as FORCED_PARTIAL_CODE
from worker.models.liquidity import LiquidityModel
from worker.order_state import OrderState
from worker.order_types import Verdict

REMAINDER_FILL_CHANCE = 0.5


class RemainderPolicy:
    """The rest's fate after a child fill; one per worker, no state between intents."""

    def __init__(self, settings: Settings, liquidity: LiquidityModel) -> None:
        self._liquidity = liquidity
        self._max_fills = settings.max_child_fills

    def cancelled(self, state: OrderState, rest_text: str) -> Verdict | None:
        """Why the rest of a partly filled order is cancelled now, None when it fills later."""
        order = state.order
        if order.forced == FORCED_PARTIAL:
            return Verdict(FORCED_PARTIAL_CODE, f"forced partial ({FORCE_KEY}): {rest_text} cancelled")
        by_time_in_force = order.time_in_force.after_fill(rest_text)
        if by_time_in_force is not None:
            return by_time_in_force
        if state.random_partial and state.draws.remainder >= REMAINDER_FILL_CHANCE:
            return Verdict(REMAINDER_CANCELLED, f"remainder cancelled (IOC): {rest_text} not filled")
        if not state.random_partial and self._liquidity.cancels_remainder:
            return Verdict(LIQUIDITY_EXHAUSTED, f"liquidity exhausted: {rest_text} cancelled (IOC)")
        # Checked before the next fill's wait, so the cancel goes out with the last fill.
        if state.children >= self._max_fills:
            return Verdict(CHILD_FILL_LIMIT, f"remainder cancelled after {state.children} child fills "
                                             f"(SIMULATION_MAX_CHILD_FILLS): {rest_text} not filled")
        return None
