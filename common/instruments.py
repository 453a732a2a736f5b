"""The instruments file: what the simulator knows about each symbol.

Read once in the supervisor by common.config (the file named by
SIMULATION_INSTRUMENTS_FILE, else the shipped common/instruments.toml) into a
frozen `InstrumentBook`, which travels to the workers inside Settings. A bad
file is a configuration error (exit 2 before anything starts), never a worker
crash.

Symbols match case-insensitively with "/", "_" and "-" removed ("BTC/USD",
"btc-usd" and "BTCUSD" are one instrument). A listed symbol takes from
[defaults] every field it leaves out; a symbol not listed gets [defaults], and
when [defaults] has no reference_price, a price in [10, 500) hashed from the
symbol's name alone (not the seed, so every instance agrees). The book's fields
(touch_depth, depth_levels, depth_recovery_s) may be left out of every table:
touch_depth is then adv * TOUCH_DEPTH_OF_ADV, the others DEFAULT_DEPTH_LEVELS and
DEFAULT_DEPTH_RECOVERY_S.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from common.price_model import Factor, class_defaults, factor_fields

SHIPPED_FILE = Path(__file__).with_name("instruments.toml")

ASSET_CLASSES = ("equity", "fx", "crypto", "future", "other")
# Calendars that are not exchange_calendars names.
ALWAYS_OPEN = "24/7"
FX = "FX"

_SEPARATORS = str.maketrans("", "", "/_-")
_TWO_POW_64 = float(1 << 64)
_FIELDS = (
    "asset_class", "calendar", "reference_price", "daily_volatility", "spread_bps", "adv", "tick_size", "lot_size",
    "touch_depth", "depth_levels", "depth_recovery_s",
)
# The price process's fields: a file may leave them out everywhere (common.price_model gives
# each asset class's defaults).
_MODEL_FIELDS = ("factor", "factor_weight", "overnight_share", "intraday_shape")
_FACTOR_FIELDS = ("calendar", "overnight_share", "intraday_shape", "vol_of_vol", "vol_half_life_days")
# The book's fields a file may leave out everywhere: touch_depth is then adv * TOUCH_DEPTH_OF_ADV.
_OPTIONAL = ("reference_price", "touch_depth", "depth_levels", "depth_recovery_s")
TOUCH_DEPTH_OF_ADV = 1e-4
DEFAULT_DEPTH_LEVELS = 20
DEFAULT_DEPTH_RECOVERY_S = 30.0
MAX_DEPTH_LEVELS = 1000
# Instruments are client-chosen: bound the cache of derived unknown ones (~0.2 KB each; the
# market keeps its own bounded cache of their paths in front of this one).
_MAX_CACHED_UNKNOWN = 4096


class InstrumentsError(ValueError):
    """The instruments file cannot be used; the message says where and why."""


def normalize(symbol: str) -> str:
    """The key a symbol is known by: upper case, separators removed."""
    return symbol.upper().translate(_SEPARATORS)


def hashed_reference_price(key: str) -> float:
    """A reference price in [10, 500) for a symbol without one, from its name only."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"basepx").digest()
    return round(10.0 + 490.0 * (int.from_bytes(digest, "big") / _TWO_POW_64), 2)


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str  # normalized key
    asset_class: str
    calendar: str  # exchange_calendars name, "FX" or "24/7"
    reference_price: float  # at the book's reference time
    daily_volatility: float  # standard deviation of 24-hour log returns
    spread_bps: float  # full quoted spread
    adv: float  # average daily volume, units of the instrument
    tick_size: float
    lot_size: float
    # The price process (common.price_model has each asset class's defaults).
    factor: str  # the common factor it moves with
    factor_weight: float  # its correlation with the factor, in [-1, 1]
    overnight_share: float  # share of a day's variance that accrues while its market is closed
    intraday_shape: float  # depth of the intraday U-shape of volatility and volume, in [0, 1]
    # The book (worker/models/book.py): typical units at the touch, price levels shown,
    # and the half-life of the depth an order takes.
    touch_depth: float
    depth_levels: int
    depth_recovery_s: float


def _complete(fields: dict[str, Any]) -> dict[str, Any]:
    """An instrument's fields with the defaults for those no table gave: the price process's from its
    asset class (common.price_model), the book's from its adv."""
    fields = {**class_defaults(fields["asset_class"]), **fields}
    fields.setdefault("touch_depth", fields["adv"] * TOUCH_DEPTH_OF_ADV)
    fields.setdefault("depth_levels", DEFAULT_DEPTH_LEVELS)
    fields.setdefault("depth_recovery_s", DEFAULT_DEPTH_RECOVERY_S)
    return fields


@dataclass(frozen=True)
class InstrumentBook:
    """Every known instrument, the defaults for the rest, and when reference prices hold."""

    reference_ms: int
    defaults: Mapping[str, Any]
    listed: Mapping[str, Instrument]
    factors: Mapping[str, Factor] = field(default_factory=dict)
    _unknown: dict[str, Instrument] = field(default_factory=dict, compare=False, repr=False)

    def is_listed(self, symbol: str) -> bool:
        """The instruments file lists `symbol` (in any spelling of it)."""
        return normalize(symbol) in self.listed

    def get(self, symbol: str) -> Instrument:
        key = normalize(symbol)
        found = self.listed.get(key) or self._unknown.get(key)
        if found is None:
            price = self.defaults.get("reference_price") or hashed_reference_price(key)
            found = Instrument(symbol=key, **_complete({**self.defaults, "reference_price": price}))
            if len(self._unknown) < _MAX_CACHED_UNKNOWN:
                self._unknown[key] = found
        return found

    @property
    def calendars(self) -> set[str]:
        return {i.calendar for i in self.listed.values()} | {self.defaults["calendar"]}

    def with_prices(self, prices: Mapping[str, float]) -> InstrumentBook:
        """This book with some reference prices replaced (SIMULATION_REFERENCE_PRICES)."""
        listed = dict(self.listed)
        for symbol, price in prices.items():
            key = normalize(symbol)
            base = self.listed.get(key) or self.get(key)
            listed[key] = replace(base, reference_price=float(price))
        return InstrumentBook(self.reference_ms, self.defaults, listed, self.factors)

    def factor(self, name: str) -> Factor:
        """The factor `name` (a [factors] table of the file, else its defaults)."""
        found = self.factors.get(name)
        return found if found is not None else Factor(name=name, **factor_fields(name))


def load_instruments(path: str | Path | None = None) -> InstrumentBook:
    """Parse and check an instruments file (the shipped one when path is None)."""
    path = Path(path) if path else SHIPPED_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InstrumentsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InstrumentsError(f"{path}: not valid TOML ({exc})") from None
    return parse_instruments(data, str(path))


def parse_instruments(data: Mapping[str, Any], where: str = "instruments") -> InstrumentBook:
    unknown_top = set(data) - {"reference_time", "defaults", "instruments", "factors"}
    if unknown_top:
        raise InstrumentsError(f"{where}: unknown key(s) {', '.join(sorted(unknown_top))}")
    reference_ms = _reference_ms(data.get("reference_time", "2026-01-02T00:00:00Z"), where)
    raw_defaults = data.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        raise InstrumentsError(f"{where}: [defaults] must be a table")
    defaults = _check_fields(raw_defaults, f"{where} [defaults]")
    missing = [f for f in _FIELDS if f not in _OPTIONAL and f not in defaults]
    if missing:
        raise InstrumentsError(f"{where} [defaults]: missing {', '.join(missing)}")
    listed: dict[str, Instrument] = {}
    raw_instruments = data.get("instruments", {})
    if not isinstance(raw_instruments, dict):
        raise InstrumentsError(f"{where}: [instruments] must be a table of tables")
    for symbol, raw in raw_instruments.items():
        label = f"{where} [instruments.{symbol}]"
        if not isinstance(raw, dict):
            raise InstrumentsError(f"{label}: must be a table")
        key = normalize(symbol)
        if not key or not key.isalnum():
            raise InstrumentsError(f"{label}: not a symbol")
        if key in listed:
            raise InstrumentsError(f"{label}: the same instrument as another entry ({key})")
        fields = {**defaults, **_check_fields(raw, label)}
        if "reference_price" not in fields:
            fields["reference_price"] = hashed_reference_price(key)
        listed[key] = Instrument(symbol=key, **_complete(fields))
    return InstrumentBook(reference_ms, defaults, listed, _factors(data.get("factors", {}), where))


def _factors(raw: object, where: str) -> dict[str, Factor]:
    if not isinstance(raw, dict):
        raise InstrumentsError(f"{where}: [factors] must be a table of tables")
    out: dict[str, Factor] = {}
    for name, table in raw.items():
        label = f"{where} [factors.{name}]"
        if not isinstance(table, dict):
            raise InstrumentsError(f"{label}: must be a table")
        unknown = set(table) - set(_FACTOR_FIELDS)
        if unknown:
            raise InstrumentsError(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")
        given: dict[str, Any] = {}
        for key, value in table.items():
            given[key] = _check_calendar(value, label) if key == "calendar" else _model_number(key, value, label)
        out[name] = Factor(name=name, **factor_fields(name, given))
    return out


# name -> (lowest, highest, lowest excluded)
_MODEL_BOUNDS = {
    "factor_weight": (-1.0, 1.0, False), "overnight_share": (0.0, 0.95, False), "intraday_shape": (0.0, 1.0, False),
    "vol_of_vol": (0.0, 2.0, False), "vol_half_life_days": (0.0, 10_000.0, True),
}


def _model_number(name: str, value: object, label: str) -> float:
    lowest, highest, open_below = _MODEL_BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InstrumentsError(f"{label}: {name} must be a number")
    if value > highest or (value <= lowest if open_below else value < lowest):
        raise InstrumentsError(f"{label}: {name} {value} must be in {'(' if open_below else '['}{lowest:g}, {highest:g}]")
    return float(value)


def _reference_ms(raw: object, where: str) -> int:
    if isinstance(raw, datetime):  # a TOML date-time literal
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise InstrumentsError(f"{where}: reference_time {raw!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise InstrumentsError(f"{where}: reference_time needs a time zone (e.g. Z)")
    return int(moment.timestamp() * 1000)


def _check_fields(raw: Mapping[str, Any], label: str) -> dict[str, Any]:
    unknown = set(raw) - set(_FIELDS) - set(_MODEL_FIELDS)
    if unknown:
        raise InstrumentsError(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "asset_class":
            if value not in ASSET_CLASSES:
                raise InstrumentsError(f"{label}: asset_class {value!r} is not one of {', '.join(ASSET_CLASSES)}")
            out[name] = value
        elif name == "calendar":
            out[name] = _check_calendar(value, label)
        elif name == "factor":
            if not isinstance(value, str) or not value.strip():
                raise InstrumentsError(f"{label}: factor must be a name")
            out[name] = value.strip()
        elif name in _MODEL_FIELDS:
            out[name] = _model_number(name, value, label)
        elif name == "depth_levels":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DEPTH_LEVELS:
                raise InstrumentsError(f"{label}: depth_levels must be a whole number from 1 to {MAX_DEPTH_LEVELS}")
            out[name] = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InstrumentsError(f"{label}: {name} must be a number")
            lowest_ok = 0.0 if name in ("spread_bps", "daily_volatility") else None
            if (value < 0) if lowest_ok is not None else (value <= 0):
                bound = "at least 0" if lowest_ok is not None else "positive"
                raise InstrumentsError(f"{label}: {name} {value} must be {bound}")
            if name == "daily_volatility" and value > 5:
                raise InstrumentsError(f"{label}: daily_volatility {value} is a fraction (0.02 = 2%), at most 5")
            # Quantities are written with 8 decimals and prices with at most 12.
            if name == "lot_size" and (value < 1e-8 or abs(round(value, 8) - value) > value * 1e-9):
                raise InstrumentsError(f"{label}: lot_size {value} must be a multiple of 0.00000001")
            if name == "tick_size" and value < 1e-12:
                raise InstrumentsError(f"{label}: tick_size {value} must be at least 1e-12")
            out[name] = float(value)
    return out


def _check_calendar(value: object, label: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InstrumentsError(f"{label}: calendar must be a name")
    name = value.strip()
    if name.upper() in (FX, ALWAYS_OPEN):
        return name.upper()
    known = exchange_calendar_names().get(name.upper())
    if known is None:
        raise InstrumentsError(f"{label}: calendar {name!r} is not FX, 24/7 or an exchange_calendars name")
    return known


@cache
def exchange_calendar_names() -> dict[str, str]:
    """Every exchange_calendars name and alias, by its upper-case spelling ("us_futures" is lower)."""
    import exchange_calendars  # heavy (pandas): only once a file names an exchange

    return {n.upper(): n for n in exchange_calendars.get_calendar_names(include_aliases=True)}
