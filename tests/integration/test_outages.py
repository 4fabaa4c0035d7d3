"""Telling "the store or Redis is unreachable" from every other failure, on real drivers' errors.

An outage is answered 503 with Retry-After (nothing changed; try again), never 500, and a
worker waits it out; so each driver's way of saying "unreachable" must be recognised, and
ordinary failures (a constraint, a bug) must not be mistaken for one.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import redis
import redis.asyncio as aioredis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine

from infra.outages import is_unavailable
from infra.store.engine import make_sync_engine

DEAD_PORT = 1  # nothing listens there


def _raised(call) -> BaseException:
    try:
        call()
    except BaseException as error:  # noqa: BLE001 - the point is to look at it
        return error
    raise AssertionError("expected a failure")


def test_postgresql_unreachable_through_either_driver_is_an_outage():
    sync = make_sync_engine(f"postgresql+psycopg://postgres@127.0.0.1:{DEAD_PORT}/test", pool_pre_ping=False)
    assert is_unavailable(_raised(lambda: sync.connect()))

    async def connect_async():
        engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{DEAD_PORT}/test")
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    assert is_unavailable(_raised(lambda: asyncio.run(connect_async())))


def test_redis_unreachable_through_either_client_is_an_outage():
    assert is_unavailable(_raised(lambda: redis.Redis(port=DEAD_PORT).ping()))

    async def ping():
        client = aioredis.Redis(port=DEAD_PORT)
        try:
            await client.ping()
        finally:
            await client.aclose()

    assert is_unavailable(_raised(lambda: asyncio.run(ping())))


def test_sqlite_busy_beyond_its_timeout_is_an_outage(tmp_path):
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    try:
        def write():
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))

        assert is_unavailable(_raised(write))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()


def test_ordinary_failures_are_not_outages(sync_engine):
    with sync_engine.connect() as conn:
        conn.execute(text("CREATE TABLE uniq (x INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO uniq VALUES (1)"))
        conn.commit()
        duplicate = _raised(lambda: conn.execute(text("INSERT INTO uniq VALUES (1)")))
        assert isinstance(duplicate, IntegrityError) and not is_unavailable(duplicate)
        conn.rollback()
        bad_sql = _raised(lambda: conn.execute(text("SELECT nope FROM nowhere")))
        assert not is_unavailable(bad_sql)
    for error in (ValueError("x"), KeyError("k"), RuntimeError("bug"), ProgrammingError("s", {}, Exception())):
        assert not is_unavailable(error)


@pytest.mark.parametrize("timeout_class", [asyncio.TimeoutError, TimeoutError, ConnectionResetError])
def test_timeouts_and_resets_are_outages(timeout_class):
    assert is_unavailable(timeout_class())
