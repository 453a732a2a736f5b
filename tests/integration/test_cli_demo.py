"""`at-exec-sim demo` as CI runs it: stdout a pipe, read afterwards as a log.

The demo starts its own nats-server (the venv's binary) on a free loopback port and its own
`at-exec-sim run`; this test starts the demo as a subprocess and reads what it printed.
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


def test_demo_output_fits_a_ci_log_and_names_no_deleted_path(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "CI")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    result = subprocess.run(DEMO, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert FINISHED in result.stdout, result.stdout
    # A table row that wrapped would leave a row whose first cell is empty: none may.
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert rows and not any(re.match(r"│\s+│", row) for row in rows), result.stdout
    # Every path the demo names must still be there for the reader to open.
    for path in re.findall(r"(/\S+\.(?:log|json|html))", result.stdout):
        assert Path(path).exists(), f"the demo printed {path}, which no longer exists"
