"""The table of shipped instruments on the simulation page is the instruments file's.

Runs in the test process over common/instruments.toml and docs/simulation.md. On a mismatch
the assertion shows the table to paste (between the page's instruments-table markers).
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "simulation.md"
BEGIN = "<!-- instruments-table: begin -->\n"
END = "<!-- instruments-table: end -->"


def number(value: float) -> str:
    """1e-05 as 0.00001, 1000 as 1,000."""
    text = f"{Decimal(repr(value)):f}"
    whole, _, fraction = text.partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def instruments_table(path: Path = ROOT / "common" / "instruments.toml") -> str:
    data = tomllib.loads(path.read_text())
    rows = ["| symbol | asset class | calendar | tick size | lot size |", "|---|---|---|---|---|"]
    for symbol, fields in data["instruments"].items():
        f = {**data["defaults"], **fields}
        rows.append(f"| `{symbol}` | {f['asset_class']} | {f['calendar']} | {number(f['tick_size'])} "
                    f"| {number(f['lot_size'])} |")
    return "\n".join(rows) + "\n"


def test_the_simulation_page_lists_every_shipped_instrument():
    text = PAGE.read_text()
    assert BEGIN in text and END in text, "docs/simulation.md lost its instruments-table markers"
    shown = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    expected = instruments_table()
    assert shown == expected, "docs/simulation.md's instruments table differs from the file; it should read:\n" + expected


def test_numbers_read_as_written():
    assert [number(x) for x in (1e-05, 0.25, 1000, 1, 0.0001)] == ["0.00001", "0.25", "1,000", "1", "0.0001"]
