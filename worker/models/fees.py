"""Fee models: the commission of each fill, and the order's minimum.

Runs in the pool's worker processes (built once per worker by worker.models.build_models).
Owns commission (SIMULATION_COMMISSION_MODEL):

    bps        notional * COMMISSION_BPS / 1e4 per fill
    per_unit   quantity * COMMISSION_PER_UNIT per fill

The order's fills add up to at least COMMISSION_MIN once anything fills: the first
fill pays the shortfall, later fills only what takes the sum past the minimum. An
order that fills nothing pays nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(slots=True)
class OrderFees:
    """What one order has paid so far."""

    raw: float = 0.0  # the sum of its fills' commissions before the minimum
    charged: float = 0.0  # what its fills were charged, the minimum included


class FeeModel(ABC):
    def __init__(self, minimum: float) -> None:
        if minimum < 0:
            raise ValueError(f"a commission minimum must not be negative, not {minimum}")
        self.minimum = minimum

    @abstractmethod
    def get_commission(self, fill_qty: float, fill_px: float) -> float:
        """One fill's commission before the order minimum."""

    def charge(self, fees: OrderFees, fill_qty: float, fill_px: float) -> float:
        """The commission of the order's next fill, the order minimum included; updates `fees`."""
        fees.raw += self.get_commission(fill_qty, fill_px)
        commission = max(fees.raw, self.minimum) - fees.charged
        fees.charged += commission
        return commission


class BpsFee(FeeModel):
    def __init__(self, bps: float, minimum: float) -> None:
        super().__init__(minimum)
        if bps < 0:
            raise ValueError(f"commission bps must not be negative, not {bps}")
        self._rate = bps / 1e4

    def get_commission(self, fill_qty: float, fill_px: float) -> float:
        return fill_qty * (fill_px * self._rate)


class PerUnitFee(FeeModel):
    def __init__(self, per_unit: float, minimum: float) -> None:
        super().__init__(minimum)
        if per_unit < 0:
            raise ValueError(f"commission per unit must not be negative, not {per_unit}")
        self._rate = per_unit

    def get_commission(self, fill_qty: float, fill_px: float) -> float:
        return fill_qty * self._rate
