"""`at-exec-sim demo` as CI runs it: stdout a pipe, read afterwards as a log.

The demo starts its own nats-server (the venv's binary) on a free loopback port and its own
`at-exec-sim run`; this test starts the demo as a subprocess and reads what it printed. By
default the service prices from the bus, fed by the load generator's quote feed: the summary's
table of fills beside the quote in force at their arrival must be there, and each fill shown
must be at that quote's ask (a buy) or bid (a sell). `--market synthetic` still runs as before.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DEMO = [str(Path(sys.executable).parent / "at-exec-sim"), "demo", "--intents", "40", "--workers", "1"]
# Longer than 80 columns: a piped rich console used to wrap it (and every wide table row) there.
FINISHED = ("demo finished: every valid intent answered, every invalid one rejected, service stopped "
            "cleanly (exit 0).")


BESIDE_TITLE = "fills beside the feed's quote in force at their arrival"
VERDICT = re.compile(r"^market orders' first fills: (\d+) of (\d+) at the touch of the quote in force", re.M)


def run_demo(tmp_path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "CI")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    return subprocess.run([*DEMO, *more], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def table_rows(output: str, title: str) -> list[list[str]]:
    """The cells of each row of the table printed under `title`."""
    lines = output[output.index(title):].splitlines()[1:]
    rows = []
    for line in lines[3:]:  # the top border, the header and the rule under it
        if not line.startswith("│"):
            break
        rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_demo_output_fits_a_ci_log_and_names_no_deleted_path(tmp_path):
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert FINISHED in result.stdout, result.stdout
    # A table row that wrapped would leave a row whose first cell is empty: none may.
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert rows and not any(re.match(r"│\s+│", row) for row in rows), result.stdout
    # Every path the demo names must still be there for the reader to open.
    for path in re.findall(r"(/\S+\.(?:log|json|html))", result.stdout):
        assert Path(path).exists(), f"the demo printed {path}, which no longer exists"

    # The bus: the service counted the feed's quotes, and the fills shown are priced from them.
    assert "MARKET_DATA=bus" in result.stdout and "quote feed:" in result.stdout
    received = re.search(r"│ market_data_received \{quote\}\s+│\s+(\d+) │", result.stdout)
    assert received and int(received.group(1)) > 0, result.stdout
    rows = table_rows(result.stdout, BESIDE_TITLE)
    assert rows, result.stdout
    for instrument, side, arrival, price, bid, ask, age, priced_at in rows:
        assert float(price) == float(ask if side == "buy" else bid), (instrument, side, price, bid, ask)
        assert priced_at == ("ask" if side == "buy" else "bid")
        assert float(bid) <= float(ask) and re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", arrival)
        assert re.fullmatch(r"\d+ ms", age)  # stored at or before the arrival: no look-ahead
    # Every market order's first fill was checked, not only the rows shown, and all were at the touch.
    verdict = VERDICT.search(result.stdout)
    assert verdict and verdict.group(1) == verdict.group(2) and int(verdict.group(2)) >= len(rows), result.stdout


def test_demo_on_the_synthetic_market_has_no_feed(tmp_path):
    result = run_demo(tmp_path, "--market", "synthetic")
    assert result.returncode == 0, result.stdout + result.stderr
    assert FINISHED in result.stdout and "synthetic market" in result.stdout
    assert "quote feed:" not in result.stdout and BESIDE_TITLE not in result.stdout
