"""Reference market data: a quote as a pure function of (seed, instrument, time step).

Runs in the pool's worker processes (built once per worker by the simulator).
Owns the reference prices, spreads and volumes the simulator fills against.
There is no mutable state walked forward by one worker: `Market.quote` hashes
(seed, instrument, second) with blake2b, so every worker of every instance that
shares the seed gives the same quote for the same instrument at the same instant,
and a replay gives the same prices.

    mid(t)  = base * (1 + A * z),  z = 2 * u - 1 in [-1, 1),  A = MOVE_BPS / 1e4
    u       = first 8 bytes of blake2b(seed | instrument | t // 1000) / 2**64
    bid/ask = mid -/+ mid * half_spread_bps / 1e4
    volume  = class volume * (0.5 + u'),  u' from the next 8 bytes

Base prices: built-in levels for common FX majors, crypto, US equities/ETFs and
futures; `overrides` (settings.reference_prices) win; any other symbol gets a
base in [10, 500) from a hash of its name alone (not the seed, so every instance
agrees) and the default spread. Instruments are matched case-insensitively with
separators removed ("BTC/USD", "BTC-USD" and "BTCUSD" are the same instrument).
Prices are rounded to about 7 significant digits (2 decimals for prices of a
million and more, up to 12 for tiny overrides; fixed per instrument by its base
price, `decimals(instrument)` tells how many) and never below one tick, so a
quote is always positive.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Mapping

# Amplitude of the reference price's move around its base, in basis points.
MOVE_BPS = 10.0

MAX_DECIMALS = 12

_TWO_POW_64 = float(1 << 64)

# asset class -> (half spread in bps, typical volume per quote)
_CLASSES: dict[str, tuple[float, float]] = {
    "fx": (0.7, 2_000_000.0),
    "crypto": (3.0, 50.0),
    "equity": (1.5, 150_000.0),
    "future": (0.75, 5_000.0),
    "other": (2.0, 50_000.0),
}

# instrument -> (base price, asset class)
_REFERENCE: dict[str, tuple[float, str]] = {
    "EURUSD": (1.085, "fx"),
    "GBPUSD": (1.27, "fx"),
    "USDJPY": (150.0, "fx"),
    "AUDUSD": (0.66, "fx"),
    "USDCHF": (0.88, "fx"),
    "USDCAD": (1.36, "fx"),
    "NZDUSD": (0.61, "fx"),
    "BTC/USD": (65_000.0, "crypto"),
    "ETH/USD": (3_500.0, "crypto"),
    "SOL/USD": (150.0, "crypto"),
    "AAPL": (190.0, "equity"),
    "MSFT": (420.0, "equity"),
    "GOOGL": (170.0, "equity"),
    "AMZN": (185.0, "equity"),
    "NVDA": (120.0, "equity"),
    "TSLA": (250.0, "equity"),
    "META": (500.0, "equity"),
    "SPY": (550.0, "equity"),
    "QQQ": (480.0, "equity"),
    "GLD": (220.0, "equity"),
    "IWM": (210.0, "equity"),
    "ES_F": (5_500.0, "future"),
    "NQ_F": (19_500.0, "future"),
    "CL_F": (78.0, "future"),
    "GC_F": (2_400.0, "future"),
}

_SEPARATORS = str.maketrans("", "", "/_-")


def normalize(instrument: str) -> str:
    """The key an instrument is known by: upper case, separators removed."""
    return instrument.upper().translate(_SEPARATORS)


_BUILTIN: dict[str, tuple[float, str]] = {normalize(k): v for k, v in _REFERENCE.items()}


def hashed_base_price(key: str) -> float:
    """A base price in [10, 500) for a symbol without a reference, from its name only."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"basepx").digest()
    return round(10.0 + 490.0 * (int.from_bytes(digest, "big") / _TWO_POW_64), 2)


def price_decimals(price: float) -> int:
    """Decimals for about 7 significant digits, between 2 and 12."""
    return max(2, min(MAX_DECIMALS, 6 - math.floor(math.log10(price))))


@dataclass(frozen=True, slots=True)
class Quote:
    bid: float
    ask: float
    mid: float
    volume: int


@dataclass(frozen=True, slots=True)
class _Params:
    key: bytes  # hash input prefix: seed | normalized instrument |
    base: float
    half_spread: float  # fraction of mid
    volume: float
    decimals: int
    tick: float


class Market:
    """Quotes for any instrument at any instant, identical for every holder of the seed."""

    def __init__(self, seed: bytes, overrides: Mapping[str, float]) -> None:
        self._seed = bytes(seed)
        self._overrides = {normalize(k): float(v) for k, v in overrides.items()}
        # Pure cache: parameters derived from the instrument's name only.
        self._params: dict[str, _Params] = {}

    def _lookup(self, instrument: str) -> _Params:
        params = self._params.get(instrument)
        if params is None:
            key = normalize(instrument)
            base, asset_class = _BUILTIN.get(key, (0.0, "other"))
            base = self._overrides.get(key, base) or hashed_base_price(key)
            half_spread_bps, volume = _CLASSES[asset_class]
            params = _Params(
                key=self._seed + b"|" + key.encode() + b"|",
                base=base,
                half_spread=half_spread_bps / 1e4,
                volume=volume,
                decimals=(d := price_decimals(base)),
                tick=10.0**-d,
            )
            if len(self._params) < 100_000:  # instruments are client-chosen: bound the cache
                self._params[instrument] = params
        return params

    def base_price(self, instrument: str) -> float:
        return self._lookup(instrument).base

    def decimals(self, instrument: str) -> int:
        """Decimals this instrument's prices are rounded to."""
        return self._lookup(instrument).decimals

    def quote(self, instrument: str, at_ms: int) -> Quote:
        """The quote at epoch milliseconds `at_ms`; constant within each second."""
        p = self._lookup(instrument)
        digest = hashlib.blake2b(p.key + str(at_ms // 1000).encode(), digest_size=16).digest()
        u = int.from_bytes(digest[:8], "big") / _TWO_POW_64
        v = int.from_bytes(digest[8:], "big") / _TWO_POW_64
        d = p.decimals
        tick = p.tick
        mid = max(round(p.base * (1.0 + MOVE_BPS / 1e4 * (2.0 * u - 1.0)), d), tick)
        half = mid * p.half_spread
        return Quote(
            bid=max(round(mid - half, d), tick),
            ask=round(mid + half, d),
            mid=mid,
            volume=int(p.volume * (0.5 + v)) + 1,
        )
