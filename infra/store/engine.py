"""Engines for the store: synchronous (workers, CLI, migrations) and asyncio (the ingress).

SQLite runs in WAL mode with full fsync on commit (a 2xx means durable), a generous busy timeout,
foreign keys on, and write transactions that take the write lock at BEGIN (``BEGIN IMMEDIATE``)
so concurrent writers queue instead of failing on a lock upgrade.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from infra.config import async_database_url, sync_database_url
from infra.store import sqlite_async

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Both drivers prepare statements server-side. A generic plan made while a tenant was tiny (or
# before the table was analysed) would keep scanning the tenant's rows after it grew; planning
# each execution afresh keeps one lookup's cost independent of the tenant's size.
POSTGRES_OPTIONS = "-c plan_cache_mode=force_custom_plan"
# Sync sessions (workers, CLI) that sit idle inside a transaction this long are ended by the
# server: a worker stopped or wedged mid-batch must not hold its row and ledger locks (and so
# the ingress's fence) for longer than that.
IDLE_IN_TRANSACTION_TIMEOUT = "15s"
# The ingress's connections: enough for the reads one process has in flight under an IdP's
# parallel load (Okta and Entra send up to 16 to 32 at once), so none is opened per request.
ASYNC_POOL_SIZE = 16


def _json_dumps(value) -> str:
    return orjson.dumps(value).decode()


# The JSON columns (documents, log entries) through orjson, as every other JSON of the service.
JSON_CODEC = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def _sqlite_pragmas(dbapi_conn) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def make_sync_engine(url: str, **kwargs) -> Engine:
    url = sync_database_url(url)
    kwargs = {**JSON_CODEC, **kwargs}
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN
            _sqlite_pragmas(dbapi_conn)

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("options", f"{POSTGRES_OPTIONS} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT}")
    return create_engine(url, connect_args=connect_args, **kwargs)


def make_async_engine(url: str, **kwargs) -> AsyncEngine:
    url = async_database_url(url)
    kwargs = {**JSON_CODEC, **kwargs}
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        # As many connections as reads in flight: a pool smaller than that closed its overflow
        # connections on return, and opened one (with its pragmas) per request.
        kwargs.setdefault("pool_size", ASYNC_POOL_SIZE)
        # sqlite3 under SQLAlchemy's aiosqlite dialect, one thread hop per statement
        # (infra.store.sqlite_async says why not aiosqlite itself).
        engine = create_async_engine(url, module=sqlite_async.Driver(), connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn, _record):
            # The adapter's sync-looking cursor runs the pragmas.
            dbapi_conn.isolation_level = None
            _sqlite_pragmas(dbapi_conn)

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn):
            # Straight to the driver: a deferred BEGIN takes no lock, so it runs on the loop,
            # without a statement's round through SQLAlchemy (5% of a lookup's CPU).
            conn.connection.driver_connection.begin()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", ASYNC_POOL_SIZE)  # a new PostgreSQL connection costs milliseconds
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("server_settings", {}).setdefault("plan_cache_mode", "force_custom_plan")
    return create_async_engine(url, connect_args=connect_args, **kwargs)
