"""The lock files cover setup.cfg and match what `make venv` installed, so they cannot drift silently."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tools.lock_service import LOCKS, ROOT, pins

SETUP_CFG = ROOT / "setup.cfg"


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def _lock(file_name: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / file_name).read_text().splitlines()
    pinned = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(pin) == 2 for pin in pinned), f"{file_name}: one NAME==VERSION a line"
    return {_name(name): version.strip() for name, version in pinned}


def _declared(extras: tuple[str, ...]) -> list[Requirement]:
    """setup.cfg's install_requires and the named extras, comments left out."""
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)

    def entries(text: str) -> list[Requirement]:
        return [Requirement(line.strip()) for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]

    declared = entries(config["options"]["install_requires"])
    for extra in extras:
        declared += entries(config["options.extras_require"][extra])
    return declared


@pytest.mark.parametrize(("file_name", "extras"), [(name, extras) for name, extras, _ in LOCKS])
def test_every_dependency_in_setup_cfg_is_pinned_within_its_range(file_name, extras):
    lock = _lock(file_name)
    declared = _declared(extras)
    assert len(declared) >= 10
    for requirement in declared:
        name = _name(requirement.name)
        assert name in lock, f"{requirement} (setup.cfg) is not in requirements/{file_name}: run make lock"
        assert requirement.specifier.contains(Version(lock[name]), prereleases=True), (
            f"requirements/{file_name} pins {name}=={lock[name]}, outside setup.cfg's {requirement}: run make lock")


@pytest.mark.parametrize(("file_name", "extras"), [(name, extras) for name, extras, _ in LOCKS])
def test_each_lock_is_what_this_environment_installed(file_name, extras):
    """Closed (every dependency of a pin pinned too) and the versions the tests are running with."""
    assert pins(extras) == _lock(file_name), f"requirements/{file_name} differs from .venv: make venv, or make lock"


def test_the_locks_nest():
    service, tools, dev = (_lock(name) for name, _, _ in LOCKS)
    assert service.items() <= tools.items() <= dev.items()
    assert {"matplotlib", "rich"} <= tools.keys() and not {"matplotlib", "rich"} & service.keys()
    assert {"pytest", "mypy", "ruff"} <= dev.keys() and not {"pytest", "mypy", "ruff"} & tools.keys()


def test_make_venv_installs_the_lock_and_the_project_without_resolving_again():
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make on this machine")
    dry_run = subprocess.run([make, "-n", "-B", "venv"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert dry_run.returncode == 0, dry_run.stderr
    installs = [line for line in dry_run.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert len(installs) == 2, installs
    assert installs[0].endswith("-r requirements/dev.lock")
    assert installs[1].endswith("--no-deps -e .")
