"""The tools' rich console, sized for where its output goes.

Runs in the CLI process of `demo` and `loadgen`. Owns one choice: piped or
captured output (a CI log, a file, `| tee`) gets a wide console, because rich
falls back to 80 columns off a terminal and would wrap the summary tables
mid-row; a terminal keeps its own width. CI=true (set by the CI systems
themselves, not a setting of the service) counts as a log even under a
pseudo-terminal.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console

# Wide enough for every table the tools print on one line per row; a log viewer scrolls.
LOG_WIDTH = 200


def tool_console(file: TextIO | None = None) -> Console:
    stream = file or sys.stdout
    to_log = not stream.isatty() or os.environ.get("CI", "").lower() in ("true", "1")
    return Console(file=file, width=LOG_WIDTH if to_log else None, soft_wrap=to_log)
