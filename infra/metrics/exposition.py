"""What a scrape of ``/metrics`` returns, and prometheus_client's multiprocess mode for
``scimgate run``.

``scimgate run`` starts several processes (ingresses, a worker). It points all of them at one
directory, ``PROMETHEUS_MULTIPROC_DIR`` = ``<data dir>/metrics`` (wiped at each start, private to
the user), where each process's counters and histograms live in memory-mapped files; a scrape of
any ingress then sums every process's series (``MultiProcessCollector``), and a child that exits
is marked dead (``mark_dead``). Without the variable (``scimgate serve`` / ``scimgate worker``
run apart), a scrape shows the scraped process's own series; a separate worker serves its own on
``SCIMGATE_WORKER_METRICS_PORT``. Either way the snapshot gauges are added at scrape time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(data_dir: Path) -> Path:
    """Make ``<data_dir>/metrics`` empty and private and name it in this process's environment
    (its children inherit it). Call before any child starts and before metrics are created here."""
    path = Path(data_dir) / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def mark_dead(pid: int) -> None:
    """A child exited: its live gauges are dropped (its counters keep counting in the sums)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def scrape(*extra_collectors) -> bytes:
    """The Prometheus text of every process's series (or this process's) plus ``extra_collectors``."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Everything(REGISTRY))
    for collector in extra_collectors:
        registry.register(collector)
    return generate_latest(registry)


class _Everything:
    """This process's default registry, as one collector of a per-scrape registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self) -> Iterator:
        return self.registry.collect()
