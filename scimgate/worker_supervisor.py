"""The worker child of ``scimgate run``: started again when it exits or hangs.

A worker stamps its heartbeat every second in the worker presence set (``scimgate:workers:
<queue>``, member ``"<hostname>:<pid>"``), and stops stamping when it is wedged (a task stuck,
the process stopped). The supervisor knows its child's pid, so it reads that member: a child
whose stamp is older than ``SCIMGATE_WORKER_HANG_SECONDS`` after it was once fresh, or that
never stamps within a start-up grace, hangs; it is killed (SIGKILL works on a stopped process
too) and replaced, logged as ``worker_hung_restarting``. A child that exits is replaced too
(``worker_exited_restarting``). Restarts back off (1 s doubling to 30 s) while children keep
dying young.

One long-lived thread starts, watches and stops every child: the parent-death signal of a child
(``infra.child_processes``) fires when the *thread* that forked it exits, so that thread must be
the one that lives as long as the supervisor.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import redis

from infra.child_processes import PARENT_PID_ENV, die_with_parent
from infra.config import Settings
from infra.logging import get_logger

POLL_SECONDS = 0.5
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
# A child that ran this long was not crash-looping: the next restart starts from BACKOFF_FIRST.
BACKOFF_RESET_SECONDS = 10.0
START_GRACE_MIN_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class HangWatch:
    """Whether one child hangs, from the stamps read over time (no I/O, no clock of its own).

    While Redis cannot be read nobody can stamp either, so there is no verdict then, and once it
    answers again the child gets a full threshold to stamp before it is judged.
    """

    hang_seconds: float
    start_grace: float
    spawned: float  # epoch seconds, like the stamps
    last_stamp: float | None = None
    was_fresh: bool = False
    judge_from: float = 0.0
    _unreadable: bool = False

    def __post_init__(self) -> None:
        self.judge_from = max(self.judge_from, self.spawned)

    def unreadable(self) -> None:
        self._unreadable = True

    def hung_for(self, stamp: float | None, now: float) -> float | None:
        """Seconds the child has been silent when that means it hangs; None while it does not."""
        if self._unreadable:
            self._unreadable, self.judge_from = False, now
        if stamp is not None and (self.last_stamp is None or stamp > self.last_stamp):
            self.last_stamp = stamp
        if self.last_stamp is None:  # starting; hangs only when silent past the start-up grace
            silent = now - self.judge_from
            return silent if silent > self.start_grace else None
        if now - self.last_stamp <= self.hang_seconds:
            self.was_fresh = True
            return None
        if self.was_fresh and now - max(self.last_stamp, self.judge_from) > self.hang_seconds:
            return now - self.last_stamp
        return None


@dataclass
class _Child:
    process: subprocess.Popen
    member: str  # in the worker presence set
    heartbeat: HangWatch
    started: float = field(default_factory=time.monotonic)


def child_env(settings: Settings) -> dict:
    env = dict(os.environ)
    env.update(
        SCIMGATE_DATA_DIR=str(settings.data_dir),
        SCIMGATE_DATABASE_URL=settings.database_url,
        SCIMGATE_REDIS_URL=settings.redis_url,
    )
    env[PARENT_PID_ENV] = str(os.getpid())
    return env


class WorkerSupervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.hang_seconds = settings.worker_hang_seconds
        self.start_grace = max(START_GRACE_MIN_SECONDS, 4 * self.hang_seconds)
        self.child: _Child | None = None
        self._stopping = threading.Event()
        self._restarting = threading.Event()
        self._restarting.set()
        self._thread = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
        self._hostname = socket.gethostname()
        self._log = get_logger("scimgate.run")
        self._redis: redis.Redis | None = None

    def _client(self) -> redis.Redis:
        assert self._redis is not None, "started"
        return self._redis

    def start(self) -> None:
        self._redis = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._thread.start()

    def stop_restarting(self) -> None:
        """The service is shutting down: a worker that exits now (stopped with us) stays down."""
        self._restarting.clear()

    def stop(self) -> None:
        """Stop the child (SIGTERM: Celery finishes its batch; SIGKILL after a timeout)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS + 5)
        if self._redis is not None:
            self._redis.close()

    # -- the supervisor thread --------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        try:
            while not self._stopping.is_set():
                try:
                    self.child = self._spawn()
                except OSError as error:
                    self._log.error("worker_start_failed", error=str(error), backoff_s=backoff)
                else:
                    outcome = self._watch(self.child)
                    if outcome is None:  # stopping
                        return
                    self._forget(self.child)
                    if not self._restarting.is_set():
                        self._stopping.wait()
                        return
                    if time.monotonic() - self.child.started >= BACKOFF_RESET_SECONDS:
                        backoff = BACKOFF_FIRST
                    self._log.error(outcome.pop("event"), **outcome, backoff_s=backoff)
                if self._stopping.wait(backoff):
                    return
                backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            self._stop_child()

    def _spawn(self) -> _Child:
        process = subprocess.Popen(
            [sys.executable, "-m", "scimgate", "worker"], env=child_env(self.settings), stdin=subprocess.DEVNULL,
            # Its own process group: a Ctrl-C reaches `scimgate run`, which stops it in order.
            # SIGKILL when we die: its ingress died with us, and delivery is at least once.
            process_group=0, preexec_fn=die_with_parent(signal.SIGKILL),
        )
        heartbeat = HangWatch(self.hang_seconds, self.start_grace, spawned=time.time())
        return _Child(process, f"{self._hostname}:{process.pid}", heartbeat)

    def _watch(self, child: _Child) -> dict | None:
        """Wait until the child exits or hangs (returns what to log), or until we stop (None)."""
        while not self._stopping.wait(POLL_SECONDS):
            code = child.process.poll()
            if code is not None:
                return {"event": "worker_exited_restarting", "pid": child.process.pid, "exit_code": code}
            silent = self._hung_for(child)
            if silent is not None:
                child.process.kill()
                child.process.wait()
                return {"event": "worker_hung_restarting", "pid": child.process.pid, "stamp_age_s": round(silent, 1)}
        return None

    def _hung_for(self, child: _Child) -> float | None:
        import redis

        from infra.redis.worker_presence import WORKERS_KEY

        try:
            stamp = self._client().zscore(f"{WORKERS_KEY}:{self.settings.queue_name}", child.member)
        except redis.RedisError:
            child.heartbeat.unreadable()
            return None
        return child.heartbeat.hung_for(stamp, time.time())

    def _forget(self, child: _Child) -> None:
        """A dead child is no live worker: take its heartbeat out of the presence set."""
        from infra.metrics.exposition import mark_dead
        from infra.redis.worker_presence import leave

        mark_dead(child.process.pid)
        try:
            leave(self._client(), child.member, self.settings.queue_name)
        except Exception:  # Redis away: the stamp goes stale by itself
            pass

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.process.poll() is not None:
            return
        child.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown finishes the batch
        child.process.send_signal(signal.SIGCONT)  # a stopped child could not act on it
        try:
            child.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
            self._forget(child)
