"""The price process's parameters: common factors and each asset class's defaults.

Read once in the supervisor with the instruments file (common.instruments) and
carried to the workers inside the InstrumentBook. Owns the defaults a field left
out of the file takes, per asset class, and the `Factor` record (the common
factor an asset class's instruments move with, and its volatility regime).
worker/price_path.py describes the process these numbers drive.

Defaults, per asset class (an instrument may override each in the file):

    class    factor    factor_weight  overnight_share  intraday_shape
    equity   equity    0.6            0.2              0.5
    future   future    0.5            0.05             0.0
    fx       fx        0.5            0.1              0.0
    crypto   crypto    0.7            0.0              0.0
    other    other     0.0            0.0              0.0

and per factor (a [factors.NAME] table overrides them):

    factor   calendar  overnight_share  intraday_shape  vol_of_vol  vol_half_life_days
    equity   XNYS      0.2              0.5             0.6         20
    future   CMES      0.05             0.0             0.6         20
    fx       FX        0.1              0.0             0.5         20
    crypto   24/7      0.0              0.0             0.6         20
    other    24/7      0.0              0.0             0.5         20

Turning a feature off: factor_weight = 0 (no common factor), intraday_shape = 0
(flat through the session), overnight_share = 0 (no variance while closed),
vol_of_vol = 0 (constant volatility: Gaussian returns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    "equity": {"factor": "equity", "factor_weight": 0.6, "overnight_share": 0.2, "intraday_shape": 0.5},
    "future": {"factor": "future", "factor_weight": 0.5, "overnight_share": 0.05, "intraday_shape": 0.0},
    "fx": {"factor": "fx", "factor_weight": 0.5, "overnight_share": 0.1, "intraday_shape": 0.0},
    "crypto": {"factor": "crypto", "factor_weight": 0.7, "overnight_share": 0.0, "intraday_shape": 0.0},
    "other": {"factor": "other", "factor_weight": 0.0, "overnight_share": 0.0, "intraday_shape": 0.0},
}

FACTOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "equity": {"calendar": "XNYS", "overnight_share": 0.2, "intraday_shape": 0.5},
    "future": {"calendar": "CMES", "overnight_share": 0.05, "intraday_shape": 0.0},
    "fx": {"calendar": "FX", "overnight_share": 0.1, "intraday_shape": 0.0, "vol_of_vol": 0.5},
    "crypto": {"calendar": "24/7", "overnight_share": 0.0, "intraday_shape": 0.0},
}
_ANY_FACTOR: dict[str, Any] = {"calendar": "24/7", "overnight_share": 0.0, "intraday_shape": 0.0, "vol_of_vol": 0.6,
                               "vol_half_life_days": 20.0}


@dataclass(frozen=True, slots=True)
class Factor:
    """A common factor: the Brownian motion its instruments share, in its calendar's trading time,
    and the volatility regime (a day's variance multiplier) they share with it."""

    name: str
    calendar: str
    overnight_share: float
    intraday_shape: float
    vol_of_vol: float  # standard deviation of the log of a day's variance multiplier
    vol_half_life_days: float  # how long a volatile spell lasts (half-life of log variance, days)


def factor_fields(name: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The factor's fields: those given, else its defaults, else any factor's."""
    return {**_ANY_FACTOR, **FACTOR_DEFAULTS.get(name, {}), **(given or {})}


def class_defaults(asset_class: str) -> dict[str, Any]:
    return CLASS_DEFAULTS.get(asset_class, CLASS_DEFAULTS["other"])
