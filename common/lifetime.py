"""Child processes die with the supervisor.

Runs at the start of every child the supervisor spawns (pool workers, the HTTP
server). Asks the kernel to send SIGTERM when the parent dies
(PR_SET_PDEATHSIG), so a supervisor killed with -9 leaves no orphan holding a
port or waiting on a queue nobody feeds. Linux only; elsewhere a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Have the kernel send `sig` to this process when its parent dies (SIGKILL for a child that ignores SIGTERM)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)
