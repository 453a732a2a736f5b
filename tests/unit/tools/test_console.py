"""The tools' console: a log (pipe, file, CI) gets wide unwrapped rows; a terminal keeps its width."""

from __future__ import annotations

import io
import os
import pty

from rich.table import Table

from tools.console import LOG_WIDTH, tool_console

WIDE_CELL = "p50 1,156 ms  p90 1,992 ms  p99 8,879 ms  max 10,961 ms  (end to end, simulated delay included)"


def test_a_piped_table_keeps_each_row_on_one_line(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    out = io.StringIO()
    table = Table()
    table.add_column("what")
    table.add_column("value")
    table.add_row("latency, end to end", WIDE_CELL)
    tool_console(out).print(table)
    assert any(WIDE_CELL in line for line in out.getvalue().splitlines())


def test_ci_counts_as_a_log_even_on_a_terminal(monkeypatch):
    leader, follower = pty.openpty()
    try:
        with os.fdopen(os.dup(follower), "w") as terminal:
            monkeypatch.delenv("CI", raising=False)
            assert tool_console(terminal).width != LOG_WIDTH  # a terminal: its own width
            monkeypatch.setenv("CI", "true")
            assert tool_console(terminal).width == LOG_WIDTH
    finally:
        os.close(leader)
        os.close(follower)
