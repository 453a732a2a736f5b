"""Argument types of the tools' options: each checks its range and says what it wanted, in one line.

Runs in the CLI process while the tools parse their options (argparse calls
each as `type=`). A bad value raises argparse.ArgumentTypeError, which the
parser (supervisor.cli_help) prints as one line naming the option, exit code 2,
before anything connects or starts.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from tools.loadgen.baseline import load_baseline
from tools.loadgen.mix import parse_force_mix, parse_mix, parse_tif_mix
from tools.loadgen.schedule import parse_stages
from tools.loadgen.thresholds import parse_threshold

SIDES = ("buy", "sell")
_RUN_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
MAX_RUN_ID = 100  # corr_ids are at most 128 characters: the prefix, "-" and the intent's number


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


def _weights(parse: Callable[[str], object], syntax: str) -> Callable[[str], str]:
    """NAME=WEIGHT,... checked by `parse` (known names, finite weights >= 0, one positive)."""
    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc} (syntax: {syntax})") from None
        return text
    return check


mix = _weights(parse_mix, "TYPE=WEIGHT,...")
tif_mix = _weights(parse_tif_mix, "TIF=WEIGHT,... over none, ioc, fok, day, gtc")
force_mix = _weights(parse_force_mix, "OUTCOME=WEIGHT,... over none, full, partial, reject")


def _checked(parse: Callable[[str], object]) -> Callable[[str], str]:
    """A text `parse` accepts (ValueError: its message), returned as given."""
    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text
    return check


stages = _checked(parse_stages)
threshold = _checked(parse_threshold)


def run_id(text: str) -> str:
    """A corr_id prefix: letters, digits, _ and - (the at-core corr_id pattern), room left for -<n>."""
    if not _RUN_ID.match(text) or len(text) > MAX_RUN_ID:
        raise argparse.ArgumentTypeError(f"{text!r}: needs 1 to {MAX_RUN_ID} letters, digits, _ or - "
                                         "(it begins every corr_id)")
    return text


def metrics_url(text: str) -> str | None:
    """http(s)://..., "auto" (the tool picks) or "off" (None)."""
    if text.strip().lower() in ("off", "none"):
        return None
    if text.strip().lower() == "auto":
        return "auto"
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r}: needs an http:// or https:// URL, or off")
    return text


def baseline_file(text: str) -> Path:
    """A JSON file an earlier `loadgen --json` wrote, read now so a bad one stops the run before it starts."""
    path = Path(text)
    try:
        load_baseline(path)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--baseline {path}: ")) from None
    return path


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

