"""The execution models, one object each, built once per worker from Settings.

Runs in the pool's worker processes. Owns the choice of variant: `build_models`
is the one place that reads the model settings and picks each model's subclass;
the variants check their parameters at construction, so a bad value stops the
worker at boot instead of surfacing in an order. Each model has one narrow
method the execution pipeline (worker.simulator) calls:

    latency      LatencyModel.delay_ms(u, instrument)                 worker/models/latency.py
    book         BookDepth.side(quote, sign, instrument)              worker/models/book.py
    liquidity    LiquidityModel.child(wanted, book, lots, ...)        worker/models/liquidity.py
    fill price   FillPriceModel.executions(book, take, lots, ...)     worker/models/fill_price.py
    fees         FeeModel.charge(fees, fill_qty, fill_px)             worker/models/fees.py
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import Settings
from worker.models.book import BookDepth
from worker.models.fees import BpsFee, FeeModel, PerUnitFee
from worker.models.fill_price import BookWalk, FillPriceModel, SqrtImpact, UniformSlippage
from worker.models.latency import LatencyModel, LognormalLatency, UniformLatency
from worker.models.liquidity import LiquidityModel, ShareOfBook, UnlimitedLiquidity

__all__ = ["ExecutionModels", "build_models"]


@dataclass(frozen=True, slots=True)
class ExecutionModels:
    latency: LatencyModel
    book: BookDepth
    fill_price: FillPriceModel
    liquidity: LiquidityModel
    fees: FeeModel


def build_models(settings: Settings) -> ExecutionModels:
    return ExecutionModels(
        latency=_latency(settings), book=BookDepth(settings.impact_coefficient), fill_price=_fill_price(settings),
        liquidity=_liquidity(settings), fees=_fees(settings),
    )


def _latency(s: Settings) -> LatencyModel:
    if s.latency_model == "lognormal":
        return LognormalLatency(s.min_delay_ms, s.max_delay_ms, s.latency_median_ms, s.latency_sigma)
    if s.latency_model == "uniform":
        return UniformLatency(s.min_delay_ms, s.max_delay_ms)
    raise ValueError(f"unknown latency model {s.latency_model!r}")


def _fill_price(s: Settings) -> FillPriceModel:
    if s.slippage_model == "book":
        return BookWalk()
    if s.slippage_model == "sqrt_impact":
        return SqrtImpact(s.impact_coefficient)
    if s.slippage_model == "uniform":
        return UniformSlippage(s.slippage_bps)
    raise ValueError(f"unknown slippage model {s.slippage_model!r}")


def _liquidity(s: Settings) -> LiquidityModel:
    if s.liquidity_remainder not in ("fill", "cancel"):
        raise ValueError(f"unknown liquidity remainder policy {s.liquidity_remainder!r}")
    cancels = s.liquidity_remainder == "cancel"
    return ShareOfBook(s.liquidity_share, cancels) if s.liquidity_share > 0 else UnlimitedLiquidity(cancels)


def _fees(s: Settings) -> FeeModel:
    if s.commission_model == "per_unit":
        return PerUnitFee(s.commission_per_unit, s.commission_min)
    if s.commission_model == "bps":
        return BpsFee(s.commission_bps, s.commission_min)
    raise ValueError(f"unknown commission model {s.commission_model!r}")
