"""Child processes that die with their parent, so a parent killed hard leaves no orphans.

On Linux a child asks the kernel for a signal when its parent goes (``PR_SET_PDEATHSIG``, set in
the forked child before ``exec``). The kernel sends it when the *thread* that forked the child
exits, not the process: start children from a thread that lives as long as they should (the
main thread, or the supervisor's own long-lived thread). Python children supervised this way
also watch their parent (``watch_parent``), a second line of defence that covers the moment
between fork and ``prctl`` and the systems without ``PR_SET_PDEATHSIG``.

Elsewhere (macOS, the BSDs) there is no such signal: a Python child still exits through its
parent watch within a second, a non-Python child (the embedded Redis) outlives a parent killed
hard (a graceful stop still ends it), and the next start on the same data dir reuses it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# The environment variable that tells a Python child which pid its parent (supervisor) has.
PARENT_PID_ENV = "SCIMGATE_PARENT_PID"
PARENT_WATCH_INTERVAL = 0.5


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once, in the parent: the forked child must not load libraries before it execs.
_PRCTL = _load_prctl()


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when its parent dies.

    ``None`` where the platform has no parent-death signal (then pass nothing as ``preexec_fn``).
    """
    if _PRCTL is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        # Runs in the forked child, before exec; prctl survives exec for a non-setuid program.
        _PRCTL(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def watch_parent(expected: int, on_gone: Callable[[], None], interval: float = PARENT_WATCH_INTERVAL) -> None:
    """Call ``on_gone`` (from a daemon thread) once this process's parent is no longer ``expected``."""

    def run() -> None:
        while os.getppid() == expected:
            time.sleep(interval)
        on_gone()

    threading.Thread(target=run, name="parent-watch", daemon=True).start()


def parent_pid_from_env() -> int | None:
    raw = os.environ.get(PARENT_PID_ENV, "")
    return int(raw) if raw.isdigit() else None
