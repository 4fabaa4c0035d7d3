"""A multi-process scimgate deployment whose parts can be killed: N ingresses, M workers, one
store and one private Redis, as in production behind a load balancer.

- **Ingresses**: ``scimgate serve`` processes, each on a port of its own (``ingress_urls``).
- **Workers**: ``scimgate worker`` processes (one thread each, the production default).
- **Redis**: always a private ``redis-server`` child with append-only persistence
  (``EmbeddedRedis(persistent=True)``), never the machine's shared Redis, so it can be killed
  and restarted from its AOF.
- **Store**: SQLite in the work dir on the embedded backend; on ``postgres`` a private cluster
  (``tests.support.postgres_cluster``), never the machine's shared server.

Faults (each returns once it has taken effect):

- ``kill_worker(i)`` / ``start_worker(i)``: SIGKILL / a fresh worker in slot ``i`` (ready = its
  ``worker_ready`` line, i.e. stamped and consuming);
- ``pause_worker(i)`` / ``resume_worker(i)``: SIGSTOP / SIGCONT (every thread stops: no
  heartbeat, a half-done transaction stays open);
- ``kill_ingress(i)`` / ``start_ingress(i)``: SIGKILL / a fresh ingress on the same port;
- ``kill_redis()`` / ``start_redis()``: SIGKILL the redis-server / start it on its AOF;
- ``store_down()`` / ``store_up()``: PostgreSQL ``pg_ctl stop -m immediate`` / start (crash
  recovery); SQLite, which has no server to kill: another process holds the write lock
  (``BEGIN EXCLUSIVE``) until ``store_up``, so no writer gets through (readers still do).

Drive it from a thread that lives as long as the deployment (the main thread): its processes
die with the thread that started them (``infra.child_processes``), so a killed test runner
leaves no ingress, worker or Redis behind (a private PostgreSQL cluster it would, in its temp dir).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
from sqlalchemy import func, select

from infra.redis.embedded import EmbeddedRedis
from infra.store.engine import make_sync_engine
from infra.store.migrate import upgrade
from infra.store.tables import audit_outbox
from tests.support.postgres_cluster import PrivatePostgres
from tests.support.stack import TEST_DATABASE_URL, Org, free_port, new_org, spawn_scimgate, wait_http_ok, wait_worker_ready

EMBEDDED = "embedded"
POSTGRES = "postgres"

# Holds SQLite's write lock until its stdin closes: the embedded backend's "store outage".
_SQLITE_LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


def default_backend() -> str:
    """The backend under test: PostgreSQL when ``SCIMGATE_TEST_DATABASE_URL`` names it (the
    deployment then runs a private cluster of its own), else the embedded default."""
    return POSTGRES if TEST_DATABASE_URL.startswith("postgresql") else EMBEDDED


@dataclass
class Slot:
    """One ingress or worker position; the process in it changes across kills and restarts."""

    name: str
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    port: int = 0
    incarnations: int = 0
    paused: bool = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Deployment:
    workdir: Path
    ingresses: int = 2
    workers: int = 2
    backend: str = field(default_factory=default_backend)
    command_timeout: float = 3.0
    reply_margin: float = 1.0
    worker_stale_seconds: float = 1.5
    extra_env: dict = field(default_factory=dict)

    database_url: str = ""
    engine: object = None
    redis_dir: Path | None = None
    _redis: EmbeddedRedis | None = None
    _postgres: PrivatePostgres | None = None
    _lock_holder: subprocess.Popen | None = None
    ingress_slots: list = field(default_factory=list)
    worker_slots: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.backend not in (EMBEDDED, POSTGRES):
            raise ValueError(f"backend must be {EMBEDDED} or {POSTGRES}")

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> "Deployment":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Deployment":
        try:
            if self.backend == POSTGRES:
                self._postgres = PrivatePostgres().create()
                self.database_url = self._postgres.url
            else:
                self.database_url = f"sqlite:///{self.workdir / 'store.db'}"
            self.redis_dir = self.workdir / "redis"
            self.start_redis()
            upgrade(self.database_url)
            self.engine = make_sync_engine(self.database_url)
            self.ingress_slots = [Slot(f"ingress-{i}", port=free_port()) for i in range(self.ingresses)]
            self.worker_slots = [Slot(f"worker-{i}") for i in range(self.workers)]
            for i in range(self.ingresses):
                self._spawn_ingress(i)
            for i in range(self.workers):
                self.start_worker(i)
            for i in range(self.ingresses):
                self._wait_ingress(i, "/readyz")
            return self
        except BaseException:
            self.stop()  # never leak processes or clusters when start-up fails
            raise

    def stop(self) -> None:
        slots = [*self.ingress_slots, *self.worker_slots]
        for slot in slots:
            if slot.alive():
                if slot.paused:
                    slot.proc.send_signal(signal.SIGCONT)
                slot.proc.terminate()
        for slot in slots:
            if slot.proc is not None:
                try:
                    slot.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    slot.proc.kill()
                    slot.proc.wait()
        if self._lock_holder is not None:
            self._release_lock_holder()
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._postgres is not None:
            self._postgres.destroy()
            self._postgres = None

    @property
    def redis_url(self) -> str:
        return f"unix://{self.redis_dir / 'redis.sock'}"

    @property
    def queue(self) -> str:
        return "scimgate.faults"

    @property
    def audit_stream(self) -> str:
        return "scimgate:faults:audit"

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
        env.update(
            SCIMGATE_DATA_DIR=str(self.workdir),
            SCIMGATE_DATABASE_URL=self.database_url,
            SCIMGATE_REDIS_URL=self.redis_url,
            SCIMGATE_QUEUE=self.queue,
            SCIMGATE_AUDIT_STREAM=self.audit_stream,
            SCIMGATE_COMMAND_TIMEOUT=str(self.command_timeout),
            SCIMGATE_REPLY_MARGIN=str(self.reply_margin),
            SCIMGATE_WORKER_STALE_SECONDS=str(self.worker_stale_seconds),
            SCIMGATE_WORKER_CONCURRENCY="1",
            SCIMGATE_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def ingress_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{slot.port}" for slot in self.ingress_slots]

    # -- ingresses ------------------------------------------------------------------------------

    def _spawn_ingress(self, i: int) -> None:
        slot = self.ingress_slots[i]
        slot.log_path = self.workdir / f"{slot.name}.log"
        slot.incarnations += 1
        slot.proc = spawn_scimgate(["serve", "--port", str(slot.port)], self.env, slot.log_path, with_parent=True)

    def _wait_ingress(self, i: int, path: str, timeout: float = 60.0) -> None:
        slot = self.ingress_slots[i]
        wait_http_ok(f"{self.ingress_urls[i]}{path}", slot.proc, slot.log_path, timeout)

    def kill_ingress(self, i: int) -> None:
        self._kill(self.ingress_slots[i])

    def start_ingress(self, i: int) -> None:
        """A fresh ingress on slot ``i``'s port, serving (``/healthz``) when this returns."""
        self._spawn_ingress(i)
        self._wait_ingress(i, "/healthz")

    # -- workers --------------------------------------------------------------------------------

    def start_worker(self, i: int) -> None:
        """A fresh worker in slot ``i``, stamped and consuming when this returns."""
        slot = self.worker_slots[i]
        slot.incarnations += 1
        slot.log_path = self.workdir / f"{slot.name}.{slot.incarnations}.log"
        slot.proc = spawn_scimgate(["worker", "--concurrency", "1"], self.env, slot.log_path, with_parent=True)
        slot.paused = False
        wait_worker_ready(slot.proc, slot.log_path, timeout=60.0)

    def kill_worker(self, i: int) -> None:
        self._kill(self.worker_slots[i])

    def pause_worker(self, i: int) -> None:
        slot = self.worker_slots[i]
        slot.proc.send_signal(signal.SIGSTOP)
        slot.paused = True

    def resume_worker(self, i: int) -> None:
        slot = self.worker_slots[i]
        slot.proc.send_signal(signal.SIGCONT)
        slot.paused = False

    @staticmethod
    def _kill(slot: Slot) -> None:
        if slot.alive():
            slot.proc.send_signal(signal.SIGKILL)
            slot.proc.wait(timeout=10)
        slot.paused = False

    # -- Redis ----------------------------------------------------------------------------------

    def start_redis(self) -> None:
        self._redis = EmbeddedRedis(self.redis_dir, persistent=True).start()

    def kill_redis(self) -> None:
        if self._redis is not None and self._redis.process is not None:
            self._redis.process.kill()
            self._redis.process.wait(timeout=10)
        self._redis = None

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    # -- the store ------------------------------------------------------------------------------

    def store_down(self) -> None:
        if self._postgres is not None:
            self._postgres.kill()
            return
        holder = subprocess.Popen(
            [sys.executable, "-c", _SQLITE_LOCK_HOLDER, str(self.workdir / "store.db")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        line = holder.stdout.readline()  # waits for the writer in progress, if any, to finish
        if line.strip() != b"locked":
            holder.kill()
            raise RuntimeError(f"could not take SQLite's write lock: {line!r}")
        self._lock_holder = holder

    def store_up(self) -> None:
        if self._postgres is not None:
            self._postgres.start()
            return
        self._release_lock_holder()

    def _release_lock_holder(self) -> None:
        holder, self._lock_holder = self._lock_holder, None
        if holder is None:
            return
        holder.stdin.close()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()

    # -- reading what happened ------------------------------------------------------------------

    def new_org(self) -> Org:
        return new_org(self.engine)

    def outbox_pending(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(audit_outbox)).scalar_one()

    def wait_outbox_drained(self, timeout: float = 60.0) -> bool:
        """Until the audit outbox is empty (every event relayed); False if it never was."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox_pending() == 0:
                return True
            time.sleep(0.25)
        return False

    def audit_events(self) -> list[dict]:
        """Every event on the audit stream, in stream order."""
        client = self.redis_client()
        events: list[dict] = []
        start = "-"
        try:
            while True:
                chunk = client.xrange(self.audit_stream, min=start, count=5000)
                for entry_id, fields in chunk:
                    events.append(orjson.loads(fields[b"event"]))
                if len(chunk) < 5000:
                    return events
                last = chunk[-1][0].decode()
                ms, seq = last.split("-")
                start = f"{ms}-{int(seq) + 1}"
        finally:
            client.close()

    def logs(self) -> dict[str, str]:
        """Every process log of the run, by file name."""
        logs = {p.name: p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log"))}
        if self._postgres is not None:
            logs["postgres.log"] = self._postgres.server_log()
        return logs
