"""Parsers of one environment variable each, and the error they raise.

Runs wherever Settings are loaded (the supervisor at start, the CLI's `config`).
Each parser takes the variable's name and raw text and returns the typed value
or raises `ConfigError` naming the variable. A `Variable` is one variable's
whole definition (field, parser, and what the documentation says of it);
common.config_variables and common.config_market list them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common import market_paths

SWITCHES = ("on", "off")


class ConfigError(ValueError):
    """A configuration variable has a value the service cannot run with."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class Variable:
    """One environment variable: the Settings field it sets, its parser, and its documentation.

    `meaning` (Markdown, one table cell) and `default` are what docs/configuration.md shows
    (tools/docs_config.py writes it from these); `default` is only given where the field's own
    default is not what a reader should see (a CPU count, a value computed from others, a secret).
    """

    name: str
    field: str
    parse: Callable[[str, str], object]
    meaning: str
    default: str | None = None


def text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(name, "must not be empty")
    return value


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a whole number") from None
        if lo is not None and value < lo:
            raise ConfigError(name, f"{value} is below the minimum {lo}")
        if hi is not None and value > hi:
            raise ConfigError(name, f"{value} is above the maximum {hi}")
        return value

    return parse


def number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> Callable[[str, str], float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(name, f"{raw!r} is not a finite number")
        if lo is not None and (value < lo or (lo_open and value == lo)):
            bound = "above" if lo_open else "at least"
            raise ConfigError(name, f"{value:g} must be {bound} {lo:g}")
        if hi is not None and value > hi:
            raise ConfigError(name, f"{value:g} must be at most {hi:g}")
        return value

    return parse


def choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in options:
            raise ConfigError(name, f"{raw!r} is not one of {', '.join(options)}")
        return value

    return parse


def urls(name: str, raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    if not urls:
        raise ConfigError(name, "needs at least one URL")
    for url in urls:
        if "://" not in url:
            raise ConfigError(name, f"{url!r} is not a URL (nats://host:port)")
    return urls


def subject(name: str, raw: str) -> str:
    value = text(name, raw)
    if any(c in value for c in " \t*>"):
        raise ConfigError(name, f"{value!r} is not a plain subject (no spaces or wildcards)")
    return value


def subject_list(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated subjects where wildcards are allowed: `*` a whole token, `>` the last."""
    subjects = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not subjects:
        raise ConfigError(name, "needs at least one subject")
    for value in subjects:
        tokens = value.split(".")
        if any(c in value for c in " \t") or "" in tokens or any(
                ("*" in t and t != "*") or (">" in t and t != ">") for t in tokens) or ">" in tokens[:-1]:
            raise ConfigError(name, f"{value!r} is not a subject (tokens joined by '.', '*' a whole token, "
                                    "'>' only the last)")
    return subjects


def jetstream_name(name: str, raw: str) -> str:
    value = text(name, raw)
    if any(c in value for c in " \t.*>/\\"):
        raise ConfigError(name, f"{value!r} is not a JetStream name (no spaces, '.', '*', '>', '/' or '\\')")
    return value


def secret(name: str, raw: str) -> bytes:
    return raw.encode()


def reference_prices(name: str, raw: str) -> dict[str, float]:
    prices: dict[str, float] = {}
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        symbol, sep, price = item.partition("=")
        try:
            value = float(price)
        except ValueError:
            value = float("nan")
        if not sep or not symbol.strip() or not value > 0 or value == float("inf"):
            raise ConfigError(name, f"{item!r} is not SYMBOL=PRICE with a positive price")
        prices[symbol.strip().upper()] = value
    return prices


def optional_seed(name: str, raw: str) -> str | None:
    return raw.strip() or None


def switch(name: str, raw: str) -> bool:
    return choice(SWITCHES)(name, raw) == "on"


def path(name: str, raw: str) -> str:
    return raw.strip()


def readable_file(name: str, raw: str) -> str:
    """A file the service reads at connect (a key, a certificate): checked now, so a wrong path
    is a configuration error at start rather than a connect failure retried until the timeout."""
    value = raw.strip()
    try:
        with open(value, "rb") as f:
            f.read(1)
    except IsADirectoryError:
        raise ConfigError(name, f"{value!r} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(name, f"cannot read {value!r}: {exc.strerror or exc}") from None
    return value


def market_files(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated files, glob patterns and directories, expanded now (common.market_paths), so an
    entry naming no readable file is a configuration error at start, naming the entry."""
    try:
        return market_paths.expand(raw)
    except market_paths.MarketPathError as exc:
        raise ConfigError(name, str(exc)) from None
