"""Prints requirements/service.lock: the service's dependencies pinned to the versions installed here.

Run by hand (not by the service) in the `make venv` environment after install_requires in setup.cfg
changes: `.venv/bin/python tools/lock_service.py > requirements/service.lock`. It walks
install_requires (no extras of at-exec-sim, but the extras those requirements name, such as
nats-py[nkeys]) through the installed distributions' metadata, so the image gets exactly the
versions the tests ran with, and nothing the tools or tests need.
"""

from __future__ import annotations

import re
from importlib.metadata import distribution

from packaging.requirements import Requirement

HEADER = (
    "# The service's dependencies (setup.cfg install_requires, no extras), pinned: what the image installs.\n"
    "# Regenerate after changing install_requires: .venv/bin/python tools/lock_service.py > requirements/service.lock\n"
)


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def service_pins(project: str = "at-exec-sim") -> dict[str, str]:
    """Every distribution `project` needs at run time (its extras excluded), name to installed version."""
    roots = [Requirement(r) for r in distribution(project).requires or []]
    todo = [r for r in roots if r.marker is None or r.marker.evaluate({"extra": ""})]
    pins: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    while todo:
        requirement = todo.pop()
        name = _name(requirement.name)
        extras = set(requirement.extras)
        if name in pins and extras <= extras_seen[name]:
            continue
        installed = distribution(requirement.name)
        pins[name] = installed.version
        extras_seen[name] = extras_seen.get(name, set()) | extras
        for raw in installed.requires or []:
            child = Requirement(raw)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append(child)
    return pins


def main() -> None:
    pins = service_pins()
    print(HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())), end="")


if __name__ == "__main__":
    main()
