"""Argument types of the tools' options: each checks its range and says what it wanted, in one line.

Runs in the CLI process while the tools parse their options (argparse calls
each as `type=`). A bad value raises argparse.ArgumentTypeError, which the
parser (supervisor.cli_help) prints as one line naming the option, exit code 2,
before anything connects or starts.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from tools.loadgen.plan import parse_mix

SIDES = ("buy", "sell")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def whole(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """A whole number in [lo, hi]."""
    def parse(text: str) -> int:
        value = _whole(text)
        if value < lo or (hi is not None and value > hi):
            wanted = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (needs {wanted})")
        return value
    return parse


def number(lo: float, hi: float | None = None, *, lo_open: bool = False) -> Callable[[str], float]:
    """A finite number in [lo, hi] ((lo, hi] when lo_open)."""
    def parse(text: str) -> float:
        value = _number(text)
        if value < lo or (lo_open and value == lo) or (hi is not None and value > hi):
            low = f"more than {lo:g}" if lo_open else f"at least {lo:g}"
            raise argparse.ArgumentTypeError(f"{value:g} is out of range (needs {low}"
                                             f"{f' and at most {hi:g}' if hi is not None else ''})")
        return value
    return parse


def names(text: str) -> str:
    """A comma-separated list without an empty name; returned as given (the tool splits it)."""
    if not text.strip() or any(not part.strip() for part in text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r}: needs comma-separated names, none empty")
    return text


def sides(text: str) -> str:
    names(text)
    unknown = [s.strip() for s in text.split(",") if s.strip() not in SIDES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown side {unknown[0]!r} (sides: {', '.join(SIDES)})")
    return text


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def mix(text: str) -> str:
    """TYPE=WEIGHT,... with known order types and finite non-negative weights, at least one positive."""
    for part in (p.strip() for p in text.split(",") if p.strip()):
        weight = part.partition("=")[2]
        if weight and not (_is_number(weight) and 0 <= float(weight) < math.inf):
            raise argparse.ArgumentTypeError(f"{part!r}: the weight must be a number, 0 or more")
    try:
        parse_mix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc} (syntax: TYPE=WEIGHT,...)") from None
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def span(parse_bound: Callable[[str], float], what: str) -> Callable[[str], str]:
    """MIN-MAX (or one value) with both bounds valid and MIN <= MAX; returned as given."""
    def parse(text: str) -> str:
        low, _, high = text.strip().partition("-")
        try:
            lo, hi = parse_bound(low), parse_bound(high or low)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what} range MIN-MAX: {exc}") from None
        if lo > hi:
            raise argparse.ArgumentTypeError(f"{text!r}: MIN is above MAX")
        return text
    return parse


def writable_file(text: str) -> Path:
    """A file to write at the end of a run: its directory must exist now, not after the run."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: the directory {path.parent} does not exist")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory")
    return path

