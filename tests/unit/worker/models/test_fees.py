"""worker.models.fees: each fill's commission, and the order's minimum paid once something fills."""

from __future__ import annotations

import pytest

from worker.models.fees import BpsFee, OrderFees, PerUnitFee


def test_bps_fee_is_a_share_of_the_notional_and_per_unit_fee_a_rate_per_unit():
    assert BpsFee(2.5, 0.0).get_commission(40, 250.0) == 40 * (250.0 * 2.5 / 1e4)
    assert PerUnitFee(0.005, 0.0).get_commission(40, 250.0) == 40 * 0.005


@pytest.mark.parametrize("model", [BpsFee(1.0, 5.0), PerUnitFee(0.01, 5.0)])
def test_the_order_minimum_is_paid_by_the_first_fills_and_the_total_is_never_below_it(model):
    fees = OrderFees()
    fills = [(10, 100.0), (30, 101.0), (5_000, 99.0), (20, 100.0)]
    charged = [model.charge(fees, qty, px) for qty, px in fills]
    raw = sum(model.get_commission(qty, px) for qty, px in fills)
    assert charged[0] == 5.0  # the first fill pays the shortfall up to the minimum
    assert all(c >= 0 for c in charged)
    assert sum(charged) == pytest.approx(max(raw, 5.0)) and fees.charged == pytest.approx(sum(charged))
    assert fees.raw == pytest.approx(raw)


def test_without_a_minimum_each_fill_pays_its_own_commission():
    model, fees = BpsFee(0.5, 0.0), OrderFees()
    assert model.charge(fees, 100, 50.0) == model.get_commission(100, 50.0)
    assert model.charge(fees, 7, 51.0) == pytest.approx(model.get_commission(7, 51.0))


@pytest.mark.parametrize("build", [lambda: BpsFee(-1.0, 0.0), lambda: PerUnitFee(-0.01, 0.0),
                                   lambda: BpsFee(1.0, -5.0)])
def test_a_variant_checks_its_parameters_at_construction(build):
    with pytest.raises(ValueError):
        build()
