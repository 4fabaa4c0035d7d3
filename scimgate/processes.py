"""The service's processes: ``scimgate run``, ``serve``, ``worker`` and ``migrate``.

``scimgate run`` is the whole service in one command. In order: it binds the listening socket
(a taken port fails at once, before anything is created or printed), makes the data dir
private, starts the embedded Redis, creates the first organization on a first start, starts
the supervised worker, and serves HTTP on the socket it bound. Its children die with it
(``infra.child_processes``); the supervisor replaces a worker that exits or hangs.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from infra.child_processes import PARENT_PID_ENV, die_with_parent, parent_pid_from_env, watch_parent
from infra.config import Settings
from infra.logging import configure_logging, get_logger
from infra.private_files import secure_data_files, sqlite_path


class ListenError(Exception):
    """The listening socket could not be bound (port taken, address not available)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` now, so a taken port fails before anything else happens."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _type, _proto, _name, address = infos[0]
        return socket.create_server(address, family=family, backlog=1024)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ListenError(
            f"cannot listen on {host}:{port}: {reason}. Is another scimgate, or another service, "
            f"already using that port? Stop it, or choose another port with --port."
        ) from None


def base_url(settings: Settings, sock: socket.socket) -> str:
    """The URL this process is reached at, as printed to the user."""
    host = settings.host
    port = sock.getsockname()[1]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def uses_data_dir(settings: Settings) -> bool:
    """Whether anything of this process lives in the data dir (the embedded Redis, SQLite)."""
    database = sqlite_path(settings.database_url)
    in_data_dir = database is not None and database.resolve().is_relative_to(settings.data_dir.resolve())
    return settings.uses_embedded_redis or in_data_dir


def secure_files(settings: Settings, *, create: bool | None = None) -> None:
    """The data dir (created if this process uses it) and the SQLite files, private to this user."""
    secure_data_files(
        settings.data_dir, settings.database_url, create=uses_data_dir(settings) if create is None else create
    )


def embedded_redis(settings: Settings):
    """Start the embedded Redis when no SCIMGATE_REDIS_URL was given; returns it (or None).

    Call it from the main thread: the server dies with the thread that started it.
    """
    if not settings.uses_embedded_redis:
        return None
    from infra.redis.embedded import EmbeddedRedis

    return EmbeddedRedis(settings.data_dir).start()


def migrate(settings: Settings) -> None:
    from infra.store.migrate import upgrade

    secure_files(settings)
    upgrade(settings.database_url)


def child_env(settings: Settings) -> dict:
    env = dict(os.environ)
    env.update(
        SCIMGATE_DATA_DIR=str(settings.data_dir),
        SCIMGATE_DATABASE_URL=settings.database_url,
        SCIMGATE_REDIS_URL=settings.redis_url,
    )
    return env


# -- first start ----------------------------------------------------------------------------


def _token_command(settings: Settings, org_id: str) -> str:
    return (
        f"scimgate token create --org {shlex.quote(org_id)} --role owner"
        f" --data-dir {shlex.quote(str(settings.data_dir))}"
    )


def first_start(settings: Settings, url: str, out: TextIO | None = None) -> None:
    """Print the SCIM base URLs; on a first start create the enterprise organization first.

    The owner token is made and shown only when ``out`` is a terminal: anything else (a service
    manager's journal, a redirect) may be a log, so it gets the command that makes one instead.
    The token never reaches the log.
    """
    from infra.store.engine import make_sync_engine
    from infra.store.organizations import create_organization, create_token, list_organizations, set_scim_enabled

    out = out or sys.stdout
    terminal = out.isatty()
    migrate(settings)
    engine = make_sync_engine(settings.database_url)
    token_id = token = None
    try:
        with engine.begin() as conn:
            existing = list_organizations(conn)
            if existing:
                print("scimgate is starting. SCIM base URLs:", file=out)
                for org in existing:
                    state = "on" if org.scim_enabled else "off"
                    print(f"  {org.name}: {url}/scim/v2/{org.id}  (SCIM {state})", file=out)
                print("Create a token with: scimgate token create --org ORG_ID --role owner", file=out, flush=True)
                return
            org = create_organization(conn, "Default organization", "enterprise")
            set_scim_enabled(conn, org.id, True)
            if terminal:
                token_id, token = create_token(conn, org.id, "owner", name="first-start owner token")
    finally:
        engine.dispose()
    print("scimgate created an enterprise organization with SCIM enabled.", file=out)
    print(f"  SCIM base URL: {url}/scim/v2/{org.id}", file=out)
    if token is not None:
        print(f"  Owner token:   {token}", file=out)
        print(f"  Token id:      {token_id}", file=out)
        print("  The token is shown only this once, on this terminal; it is stored as a hash.", file=out, flush=True)
    else:
        print("  Owner token:   not made, because this output is not a terminal (it may be a log).", file=out)
        print(f"  Make one with: {_token_command(settings, org.id)}", file=out, flush=True)


# -- the worker supervisor of `scimgate run` --------------------------------------------------

POLL_SECONDS = 0.5
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
# A child that ran this long was not crash-looping: the next restart starts from BACKOFF_FIRST.
BACKOFF_RESET_SECONDS = 10.0
START_GRACE_MIN_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class _Child:
    process: subprocess.Popen
    member: str  # its member in the worker presence set: "<hostname>:<pid>"
    spawned: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    last_stamp: float | None = None
    was_fresh: bool = False
    # Judge staleness only from here on: Redis was unreachable before (nothing could be stamped).
    judge_from: float = field(default_factory=time.time)
    redis_down: bool = False


class WorkerSupervisor:
    """The worker child of ``scimgate run``, started again when it exits or hangs.

    One long-lived thread starts, watches and stops every child, so the parent-death signal
    (sent when the forking *thread* exits) only fires when the supervisor is really gone.
    A child hangs when its heartbeat in the worker presence set (stamped every second) is
    older than ``SCIMGATE_WORKER_HANG_SECONDS`` after it was once fresh, or when it never
    stamps within a start-up grace; it is then killed (SIGKILL works on a stopped process too)
    and replaced. Restarts back off (1 s doubling to 30 s) while a child keeps dying young.
    """

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
        self._redis = None

    @property
    def process(self) -> subprocess.Popen | None:
        return self.child.process if self.child else None

    def start(self) -> None:
        import redis

        self._redis = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._thread.start()

    def stop_restarting(self) -> None:
        """The service is shutting down: a worker that exits now (stopped with us) stays down."""
        self._restarting.clear()

    def stop(self) -> None:
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
                    if outcome is None:
                        return
                    if not self._restarting.is_set():
                        self._stopping.wait()
                        return
                    if time.monotonic() - self.child.started >= BACKOFF_RESET_SECONDS:
                        backoff = BACKOFF_FIRST
                    self._log.error(outcome.pop("event"), **outcome, backoff_s=backoff)
                    self._forget(self.child)
                if self._stopping.wait(backoff):
                    return
                backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            self._stop_child()

    def _spawn(self) -> _Child:
        env = child_env(self.settings)
        env[PARENT_PID_ENV] = str(os.getpid())
        process = subprocess.Popen(
            [sys.executable, "-m", "scimgate", "worker"], env=env, stdin=subprocess.DEVNULL,
            # Its own process group (a Ctrl-C reaches `scimgate run`, which stops it in order);
            # SIGKILL when we die: its ingress died with us, and delivery is at least once.
            process_group=0, preexec_fn=die_with_parent(signal.SIGKILL),
        )
        return _Child(process, f"{self._hostname}:{process.pid}")

    def _watch(self, child: _Child) -> dict | None:
        """Wait until the child exits or hangs (what to log), or until we stop (None)."""
        while not self._stopping.wait(POLL_SECONDS):
            code = child.process.poll()
            if code is not None:
                return {"event": "worker_exited_restarting", "pid": child.process.pid, "exit_code": code}
            age = self._stamp_age(child)
            if age is not None:
                child.process.kill()
                child.process.wait()
                return {"event": "worker_hung_restarting", "pid": child.process.pid, "stamp_age_s": round(age, 1)}
        return None

    def _stamp_age(self, child: _Child) -> float | None:
        """How old the child's heartbeat is when that means it hangs; None while it does not."""
        import redis

        try:
            score = self._redis.zscore(f"{self._presence_key()}", child.member)
        except redis.RedisError:
            child.redis_down = True  # nobody can stamp or read: no verdict until Redis is back
            return None
        now = time.time()
        if child.redis_down:
            child.redis_down, child.judge_from = False, now
        if score is not None and (child.last_stamp is None or score > child.last_stamp):
            child.last_stamp = score
        if child.last_stamp is None:  # not stamped yet: starting, unless silent past the grace
            silent = now - max(child.spawned, child.judge_from)
            return silent if silent > self.start_grace else None
        if now - child.last_stamp <= self.hang_seconds:
            child.was_fresh = True
            return None
        if child.was_fresh and now - max(child.last_stamp, child.judge_from) > self.hang_seconds:
            return now - child.last_stamp
        return None

    def _presence_key(self) -> str:
        from infra.redis.worker_presence import WORKERS_KEY

        return f"{WORKERS_KEY}:{self.settings.queue_name}"

    def _forget(self, child: _Child) -> None:
        """A dead child is no live worker: take its heartbeat out of the presence set."""
        from infra.redis.worker_presence import leave

        try:
            leave(self._redis, child.member, self.settings.queue_name)
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


# -- the commands ---------------------------------------------------------------------------


def _fail(error: Exception) -> int:
    print(f"scimgate: {error}", file=sys.stderr, flush=True)
    return 1


def run_ingress(settings: Settings, sock: socket.socket, on_shutdown=None) -> None:
    from aiohttp import web

    from api.app import create_app

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is optional off Linux/macOS
        pass
    app = create_app(settings)
    if on_shutdown is not None:
        app.on_shutdown.append(on_shutdown)
    web.run_app(app, sock=sock, access_log=None, print=None, handle_signals=True)


def serve(settings: Settings) -> int:
    try:
        sock = listening_socket(settings.host, settings.port)
    except ListenError as error:
        return _fail(error)
    configure_logging(settings.log_level)
    secure_files(settings)
    redis_server = embedded_redis(settings)
    try:
        run_ingress(settings, sock)
    finally:
        sock.close()
        if redis_server:
            redis_server.stop()
    return 0


def _exit_when_parent_goes() -> None:
    """A supervised worker exits within a second of its supervisor's death (second line)."""
    expected = parent_pid_from_env()
    if expected is None:
        return

    def gone() -> None:
        get_logger("scimgate.worker").error("supervisor_gone_exiting", supervisor_pid=expected)
        os._exit(1)  # like the parent-death SIGKILL: nothing half-done is committed

    watch_parent(expected, gone)


def worker(settings: Settings, concurrency: int | None = None) -> int:
    configure_logging(settings.log_level)
    _exit_when_parent_goes()
    secure_files(settings)
    redis_server = embedded_redis(settings)
    import warnings

    from celery.exceptions import SecurityWarning

    from worker.app import configure

    # Containers commonly run as root; the warning is about pickle, which scimgate never accepts.
    warnings.filterwarnings("ignore", category=SecurityWarning)
    app = configure(settings)
    threads = str(concurrency or settings.worker_concurrency)
    try:
        app.worker_main(
            [
                "worker", "--pool", "threads", "--concurrency", threads, "--queues", settings.queue_name,
                "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--hostname", f"scimgate-{os.getpid()}@%h",
            ]
        )
    finally:
        if redis_server:
            redis_server.stop()
    return 0


def run(settings: Settings) -> int:
    try:
        sock = listening_socket(settings.host, settings.port)
    except ListenError as error:
        return _fail(error)
    configure_logging(settings.log_level)
    secure_files(settings, create=True)
    redis_server = embedded_redis(settings)
    supervisor = WorkerSupervisor(settings)
    try:
        first_start(settings, base_url(settings, sock))
        supervisor.start()

        async def stop_restarting(_app) -> None:  # the ingress drains first; then the worker stops
            supervisor.stop_restarting()

        run_ingress(settings, sock, on_shutdown=stop_restarting)
    finally:
        sock.close()
        supervisor.stop()
        if redis_server:
            redis_server.stop()
    return 0
