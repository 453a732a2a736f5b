"""Writes the lock files: the project's dependencies pinned to the versions installed here.

Run by hand (not by the service), through `make lock`, which first installs the project with
the dev and tools extras into .venv (so a dependency just added to setup.cfg is there) and then
runs `.venv/bin/python tools/lock_service.py --write`. It walks the requirements of the installed
project (and the extras those requirements name, such as nats-py[nkeys]) through the installed
distributions' metadata, so every lock holds exactly the versions the tests ran with:

    requirements/service.lock   install_requires: what the service image installs (Dockerfile)
    requirements/tools.lock     install_requires + the tools extra: the loadgen image (Dockerfile)
    requirements/dev.lock       install_requires + the dev and tools extras: what `make venv`
                                installs, so a fresh clone gets the versions CI tested

Pins without hashes: a hash pins one file, and this environment has installed only the wheels of
its own platform and Python, so a hashed lock written from it would refuse every other machine.
Without --write it prints the service's lock, as it always did.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement

PROJECT = "at-exec-sim"
ROOT = Path(__file__).resolve().parents[1]
# File name under requirements/, the extras it adds to install_requires, and what it is for.
LOCKS = (
    ("service.lock", (), "The service's dependencies (setup.cfg install_requires, no extras), pinned: what the image installs."),
    ("tools.lock", ("tools",), "The service's and the tools extra's dependencies, pinned: what the loadgen image installs."),
    ("dev.lock", ("dev", "tools"), "Every dependency of `make venv` (install_requires, the dev and tools extras), pinned."),
)
REGENERATE = "# Regenerate after changing setup.cfg's dependencies: make lock\n"


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def pins(extras: tuple[str, ...] = (), project: str = PROJECT) -> dict[str, str]:
    """Every distribution `project` needs with `extras`, name to installed version (the project left out)."""
    wanted = set(extras) | {""}
    roots = [Requirement(r) for r in distribution(project).requires or []]
    todo = [r for r in roots if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in wanted)]
    found: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    while todo:
        requirement = todo.pop()
        name = _name(requirement.name)
        requested = set(requirement.extras)
        if name == _name(project) or (name in found and requested <= extras_seen[name]):
            continue
        installed = distribution(requirement.name)
        found[name] = installed.version
        extras_seen[name] = extras_seen.get(name, set()) | requested
        for raw in installed.requires or []:
            child = Requirement(raw)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in requested | {""}):
                todo.append(child)
    return found


def service_pins(project: str = PROJECT) -> dict[str, str]:
    """Every distribution `project` needs at run time (its extras excluded), name to installed version."""
    return pins((), project)


def lock_text(header: str, pinned: dict[str, str]) -> str:
    return f"# {header}\n{REGENERATE}" + "".join(f"{name}=={version}\n" for name, version in sorted(pinned.items()))


def main(argv: list[str]) -> None:
    if argv != ["--write"]:
        print(lock_text(LOCKS[0][2], service_pins()), end="")
        return
    for file_name, extras, header in LOCKS:
        path = ROOT / "requirements" / file_name
        path.write_text(lock_text(header, pins(extras)))
        print(f"{path.relative_to(ROOT)}: {len(pins(extras))} pins")


if __name__ == "__main__":
    main(sys.argv[1:])
