"""Failpoints: faults the fault-injection suite asks a process to commit on purpose.

Inert unless ``SCIMGATE_FAILPOINTS`` is set (the tests and ``bench/faults.py`` set it; nothing
else should). Its value is a comma-separated list of ``name=marker`` or ``name=marker:once``;
``crash_if(name, text)`` kills the process outright (SIGKILL: no cleanup, like the OOM killer)
when ``text`` contains the marker — with ``:once``, only the first time in the whole deployment
(a file under the data dir remembers it fired). The worker checks ``worker.apply`` against each
command's body before applying a batch: that is how a test makes a command kill the worker that
takes it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_ARMED: dict[str, tuple[str, bool]] = {}


def _arm(spec: str) -> None:
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, marker = item.partition("=")
        once = marker.endswith(":once")
        marker = marker.removesuffix(":once")
        if name and marker:
            _ARMED[name.strip()] = (marker, once)


_arm(os.environ.get("SCIMGATE_FAILPOINTS", ""))


def armed(name: str) -> bool:
    return name in _ARMED


def crash_if(name: str, text: str) -> None:
    armed_with = _ARMED.get(name)
    if armed_with is None or armed_with[0] not in text:
        return
    if armed_with[1]:
        fired = Path(os.environ.get("SCIMGATE_DATA_DIR", ".scimgate")) / f"failpoint-{name}.fired"
        try:
            with open(fired, "x"):
                pass
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)
