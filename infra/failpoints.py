"""Failpoints: faults the fault-injection suite asks a process to commit on purpose.

Inert unless ``SCIMGATE_FAILPOINTS`` is set (the tests and ``bench/faults.py`` set it; nothing
else should). Its value is a comma-separated list of ``name=marker``; ``crash_if(name, text)``
kills the process outright (SIGKILL: no cleanup, like the OOM killer) when ``text`` contains the
marker. The worker checks ``worker.apply`` against each command's body before applying a batch,
which is how a test makes a command that kills every worker it is delivered to.
"""

from __future__ import annotations

import os
import signal

_ARMED: dict[str, str] = {}


def _arm(spec: str) -> None:
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, marker = item.partition("=")
        if name and marker:
            _ARMED[name.strip()] = marker


_arm(os.environ.get("SCIMGATE_FAILPOINTS", ""))


def armed(name: str) -> bool:
    return name in _ARMED


def crash_if(name: str, text: str) -> None:
    marker = _ARMED.get(name)
    if marker is not None and marker in text:
        os.kill(os.getpid(), signal.SIGKILL)
