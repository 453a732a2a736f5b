"""The package's version, as installed: what `at-exec-sim --version` prints and /healthz reports.

Runs in whichever process asks (the CLI, the gunicorn workers). Read from the
installed distribution's metadata (setup.cfg's version), so one number is spelled once.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "at-exec-sim"


def package_version() -> str:
    """The installed at-exec-sim version; "unknown" when run from a tree that was never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"
