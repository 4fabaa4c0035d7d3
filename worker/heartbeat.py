"""The worker's heartbeat: a stamp in Redis twice a second, while the worker makes progress.

Ingresses read it to tell when a worker holding a batch is gone (they then decide its batch at
once), ``scimgate run`` to replace a worker that hangs, ``/readyz`` to count live workers.
A stamp says "alive *and* getting on": it stops when the process dies or is stopped, and also
when a task has been running longer than any command may live (a wedged thread), so a stuck
worker looks exactly like a dead one.
"""

from __future__ import annotations

import threading
import time

import redis

from infra.logging import get_logger
from infra.redis.worker_presence import STAMP_INTERVAL_SECONDS, leave, stamp

log = get_logger("scimgate.worker")


class Heartbeat:
    def __init__(self, client: redis.Redis, worker: str, queue: str, *, wedged_after: float):
        self.client = client
        self.worker = worker
        self.queue = queue
        self.wedged_after = wedged_after
        self._running: dict[object, float] = {}  # task → when it started (monotonic)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    # -- what the tasks tell it ------------------------------------------------------------------

    def task_started(self, task: object) -> None:
        with self._lock:
            self._running[task] = time.monotonic()

    def task_finished(self, task: object) -> None:
        with self._lock:
            self._running.pop(task, None)

    def wedged(self) -> bool:
        with self._lock:
            oldest = min(self._running.values(), default=None)
        return oldest is not None and time.monotonic() - oldest > self.wedged_after

    # -- the stamping thread ---------------------------------------------------------------------

    def beat(self) -> None:
        if self.wedged():
            if not self._warned:
                log.error("worker_wedged", worker=self.worker, after_s=self.wedged_after)
                self._warned = True
            return
        self._warned = False
        stamp(self.client, self.worker, self.queue)

    def start(self) -> None:
        """Stamp once now (so the worker counts as live before it says it is ready), then keep on."""
        self.beat()

        def run() -> None:
            while not self._stop.wait(STAMP_INTERVAL_SECONDS):
                try:
                    self.beat()
                except Exception as exc:  # Redis away for a moment: stamp again next time
                    log.warning("heartbeat_failed", error=str(exc)[:200])

        self._thread = threading.Thread(target=run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A clean shutdown leaves the roster at once instead of going stale."""
        self._stop.set()
        try:
            leave(self.client, self.worker, self.queue)
        except Exception:  # shutting down; the stamp goes stale by itself
            pass
