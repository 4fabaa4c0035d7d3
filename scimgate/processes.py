"""The service's processes: ``scimgate run``, ``serve``, ``worker`` and ``migrate``.

``scimgate run`` is the whole service in one command. In order: it binds the listening socket
(a taken port fails at once, before anything is created or printed), makes the data dir
private, points every child at one metrics directory (``infra.metrics.exposition``), starts the
embedded Redis, creates the first organization on a first start, starts the supervised worker
(``scimgate.worker_supervisor``: replaced when it exits or hangs) and the ingress processes that
serve HTTP on the socket it bound (``scimgate.ingress_supervisor``: ``SCIMGATE_INGRESSES``, one per
core by default, each replaced when it exits). Its children die with it (``infra.child_processes``).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
import threading
from typing import TextIO

from infra.child_processes import parent_pid_from_env, watch_parent
from infra.config import Settings
from infra.logging import configure_logging, get_logger
from infra.metrics.exposition import prepare_multiprocess_dir
from infra.private_files import secure_data_files, sqlite_path
from scimgate.ingress_supervisor import IngressSupervisor
from scimgate.worker_supervisor import WorkerSupervisor


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
    """The URL this process is reached at, as printed to the user (``SCIMGATE_PUBLIC_URL`` when
    one is configured: that is what the IdP must be given)."""
    if settings.public_url:
        return settings.public_url
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


# -- first start ----------------------------------------------------------------------------


def _token_command(settings: Settings, org_id: str) -> str:
    return (
        f"scimgate token create --org {shlex.quote(org_id)} --role owner"
        f" --data-dir {shlex.quote(str(settings.data_dir))}"
    )


def first_start(settings: Settings, url: str, out: TextIO | None = None) -> None:
    """Print the SCIM base URLs; on a first start create the enterprise organization first.

    The organization, SCIM turned on and (on a terminal) the owner token are made in one
    transaction by the management service, each audited like any other change. The owner token
    is made and shown only when ``out`` is a terminal: anything else (a service manager's journal,
    a redirect) may be a log, so it gets the command that makes one instead. The token never
    reaches the log.
    """
    from infra.store.engine import make_sync_engine
    from infra.store.unit_of_work import management_service

    out = out or sys.stdout
    terminal = out.isatty()
    migrate(settings)
    engine = make_sync_engine(settings.database_url)
    try:
        started = management_service(engine).first_start(owner_token=terminal)
    finally:
        engine.dispose()
    if started.created is None:
        print("scimgate is starting. SCIM base URLs:", file=out)
        for org in started.existing:
            state = "on" if org.scim_enabled else "off"
            print(f"  {org.name}: {url}/scim/v2/{org.id}  (SCIM {state})", file=out)
        print(f"Create a token with: {_token_command(settings, 'ORG_ID')}", file=out)
        _print_dashboard(settings, url, out)
        return
    org = started.created
    print("scimgate created an enterprise organization with SCIM enabled.", file=out)
    print(f"  SCIM base URL: {url}/scim/v2/{org.id}", file=out)
    if started.token is not None:
        print(f"  Owner token:   {started.token.token}", file=out)
        print(f"  Token id:      {started.token.id}", file=out)
        print("  The token is shown only this once, on this terminal; it is stored as a hash.", file=out, flush=True)
    else:
        print("  Owner token:   not made, because this output is not a terminal (it may be a log).", file=out)
        print(f"  Make one with: {_token_command(settings, org.id)}", file=out, flush=True)
    _print_dashboard(settings, url, out)


def _print_dashboard(settings: Settings, url: str, out: TextIO) -> None:
    operator = f"scimgate operator create NAME --data-dir {shlex.quote(str(settings.data_dir))}"
    print(f"  Ops dashboard: {url}/dashboard  (sign in with an organization's token, or an operator's for every "
          f"organization: {operator})", file=out, flush=True)


# -- the commands ---------------------------------------------------------------------------


def _fail(error: Exception) -> int:
    print(f"scimgate: {error}", file=sys.stderr, flush=True)
    return 1


def run_ingress(settings: Settings, sock: socket.socket, board=None) -> None:
    from scimgate.ingress_loop import run  # aiohttp and the app, only in an ingress process

    run(settings, sock, board)


def serve(settings: Settings, inherit_socket: int | None = None, board: int | None = None,
          slot: int | None = None) -> int:
    if inherit_socket is not None:  # an ingress child of `scimgate run`: its parent did the rest
        configure_logging(settings.log_level)
        _exit_when_parent_goes()
        from scimgate.connection_board import ConnectionBoard

        shared = ConnectionBoard(board, slot) if board is not None and slot is not None else None
        run_ingress(settings, socket.socket(fileno=inherit_socket), shared)
        return 0
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
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.host)
    try:
        app.worker_main(worker_argv(settings, threads))
    finally:
        if redis_server:
            redis_server.stop()
    return 0


def worker_argv(settings: Settings, threads: str) -> list[str]:
    """Celery's worker arguments; with Celery events on, its heartbeat events too (Flower lists
    a worker as online by them)."""
    argv = ["worker", "--pool", "threads", "--concurrency", threads, "--queues", settings.queue_name,
            "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
            "--hostname", f"scimgate-{os.getpid()}@%h"]
    if settings.celery_events:
        argv.append("--task-events")
    else:
        argv.append("--without-heartbeat")
    return argv


def _wait_for_stop_signal() -> None:
    """Block the main thread until SIGINT or SIGTERM."""
    stop = threading.Event()

    def handler(_signum, _frame) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    while not stop.wait(0.5):
        pass


def run(settings: Settings) -> int:
    try:
        sock = listening_socket(settings.host, settings.port)
    except ListenError as error:
        return _fail(error)
    configure_logging(settings.log_level)
    secure_files(settings, create=True)
    prepare_multiprocess_dir(settings.data_dir)
    redis_server = embedded_redis(settings)
    supervisor = WorkerSupervisor(settings)
    ingresses = IngressSupervisor(settings, sock, settings.ingress_count)
    try:
        first_start(settings, base_url(settings, sock))
        supervisor.start()
        ingresses.start()
        _wait_for_stop_signal()
    finally:
        supervisor.stop_restarting()
        ingresses.stop()  # the ingresses drain first; then the worker stops
        sock.close()
        supervisor.stop()
        if redis_server:
            redis_server.stop()
    return 0
