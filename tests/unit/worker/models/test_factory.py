"""worker.models.build_models: one variant of each model per Settings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.builders import make_settings
from worker.models import build_models
from worker.models.fees import BpsFee, PerUnitFee
from worker.models.fill_price import BookWalk, SqrtImpact, UniformSlippage
from worker.models.latency import LognormalLatency, UniformLatency
from worker.models.liquidity import ShareOfBook, UnlimitedLiquidity


def test_the_default_variants():
    models = build_models(make_settings(liquidity_share=1.0))
    assert isinstance(models.latency, UniformLatency) and isinstance(models.fill_price, BookWalk)
    assert isinstance(models.liquidity, ShareOfBook) and isinstance(models.fees, BpsFee)
    assert not models.liquidity.cancels_remainder


def test_the_other_variants():
    models = build_models(make_settings(latency_model="lognormal", slippage_model="sqrt_impact", liquidity_share=0.0,
                                        liquidity_remainder="cancel", commission_model="per_unit"))
    assert isinstance(models.latency, LognormalLatency) and isinstance(models.fill_price, SqrtImpact)
    assert isinstance(models.liquidity, UnlimitedLiquidity) and isinstance(models.fees, PerUnitFee)
    assert models.liquidity.cancels_remainder
    assert isinstance(build_models(make_settings(slippage_model="uniform")).fill_price, UniformSlippage)


@pytest.mark.parametrize("field", ["latency_model", "slippage_model", "liquidity_remainder", "commission_model"])
def test_an_unknown_variant_stops_the_worker_at_boot(field):
    with pytest.raises(ValueError):
        build_models(replace(make_settings(), **{field: "bogus"}))
