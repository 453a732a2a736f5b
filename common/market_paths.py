"""MARKET_DATA_FILE's entries into the files a backtest reads: paths, glob patterns and directories.

Runs wherever Settings are loaded (the supervisor at start, `replay`, the CLI's
`config`), through the variable's parser (common.config_fields.market_files). Owns
the expansion rules and the check that each file opens; not the reading of rows
(common/market_files.py). The settings hold the files this returns, so the loader
(supervisor/market_file.py) reads exactly the files that were checked, in this order,
without a second listing of a directory that could have changed in between.

The rules (docs/market-data.md, "Several files"):
- entries are separated by commas; whitespace around an entry, and an empty entry, are ignored;
- an entry naming an existing file or directory is that file or directory, even when its
  name holds a glob character (a file that loaded before patterns existed still does);
- otherwise an entry with `*`, `?` or `[` is a glob pattern: the files it matches, in name order;
- a directory gives its files whose names end in a supported suffix, in name order (not its
  hidden files, nor its subdirectories);
- a file named by two entries is read once, at its first place (`data/,data/extra.csv`
  must not count a day twice);
- an entry that yields no file, and a file that cannot be opened, are errors naming the entry.
"""

from __future__ import annotations

import glob
import os

from common.market_files import SUFFIXES

_GLOB_CHARS = frozenset("*?[")


class MarketPathError(ValueError):
    """An entry of MARKET_DATA_FILE that names no readable file."""


def expand(raw: str) -> tuple[str, ...]:
    """The files `raw` names, in order, each once (MarketPathError naming the entry that fails)."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if not entries:
        raise MarketPathError("names no file")
    files: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        for path in _files_of(entry):
            identity = os.path.realpath(path)  # one file reached by two spellings is still one file
            if identity not in seen:
                seen.add(identity)
                files.append(path)
    return tuple(files)


def supported(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def _files_of(entry: str) -> list[str]:
    if os.path.isdir(entry):
        found = sorted(os.path.join(entry, name) for name in os.listdir(entry)
                       if supported(name) and not name.startswith(".") and os.path.isfile(os.path.join(entry, name)))
        if not found:
            raise MarketPathError(f"{entry!r}: the directory holds no {', '.join(SUFFIXES)} file")
    elif not os.path.lexists(entry) and _GLOB_CHARS & set(entry):
        found = sorted(path for path in glob.glob(entry, recursive=True) if os.path.isfile(path))
        if not found:
            raise MarketPathError(f"{entry!r}: the pattern matches no file")
    else:
        found = [entry]
    for path in found:
        _check_readable(entry, path)
    return found


def _check_readable(entry: str, path: str) -> None:
    named = repr(path) if path == entry else f"{path!r} (from {entry!r})"
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise MarketPathError(f"cannot read {named}: {exc.strerror or exc}") from None
