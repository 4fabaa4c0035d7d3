"""The ingress's SQLite driver (``infra.store.sqlite_async``) under SQLAlchemy's asyncio engine:
what the ingress depends on from it, on a real database file.

A short read runs on the loop; a statement waiting on a lock, or a long one, runs on a thread, so
it never stalls the event loop (and so every other organization's requests); a coroutine
cancelled mid-statement leaves its connection usable; the driver's errors are SQLAlchemy's.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from infra.store.engine import make_async_engine, make_sync_engine

# A SELECT (the kind of statement the driver first tries on the loop) that takes a while.
SLOW_COUNT = ("SELECT (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :upto) "
              "SELECT count(*) FROM n)")


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'driver.db'}"
    engine = make_sync_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)"))
        conn.execute(text("INSERT INTO notes (body) VALUES ('first')"))
    yield url, engine
    engine.dispose()


async def _ticks_while(awaitable, every: float = 0.01) -> tuple[object, float]:
    """Run ``awaitable`` while a ticker runs on the same loop; the result and the ticker's
    longest gap between ticks (a stalled loop shows as a long gap)."""
    longest = 0.0
    done = asyncio.Event()

    async def ticker():
        nonlocal longest
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(every)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        return await awaitable, longest
    finally:
        done.set()
        await ticking


async def test_reads_writes_and_rollback_reach_the_file(database):
    url, sync_engine = database
    engine = make_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES ('second')"))
        with sync_engine.connect() as conn:  # committed: another process's connection sees it
            assert [r.body for r in conn.execute(text("SELECT body FROM notes ORDER BY id"))] == ["first", "second"]

        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES ('never')"))
            await conn.rollback()
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT body FROM notes ORDER BY id"))).all()
            assert [r.body for r in rows] == ["first", "second"]
            one = (await conn.execute(text("SELECT count(*) FROM notes WHERE body = :b"), {"b": "first"})).scalar_one()
            assert one == 1
    finally:
        await engine.dispose()


async def test_errors_are_sqlalchemys_and_leave_the_connection_usable(database):
    url, _ = database
    engine = make_async_engine(url, pool_size=1, max_overflow=0)
    try:
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO notes (body) VALUES ('first')"))
        with pytest.raises(OperationalError):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT nothing FROM nowhere"))
        async with engine.connect() as conn:  # the pool's one connection, after both errors
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_a_writer_waiting_on_the_lock_does_not_stall_the_loop(database):
    url, sync_engine = database
    engine = make_async_engine(url, pool_size=2, max_overflow=0)

    async def read_once():
        async with engine.connect() as conn:
            await conn.execute(text("SELECT count(*) FROM notes"))
            await asyncio.sleep(0.05)  # both at once: each of the pool's connections reads

    await asyncio.gather(read_once(), read_once())  # reads ran on the loop, with no busy timeout
    holder = sync_engine.connect()
    holder.begin()  # BEGIN IMMEDIATE: the write lock, held by "another process"
    holder.execute(text("INSERT INTO notes (body) VALUES ('held')"))
    try:
        async def write():
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO notes (body) VALUES ('waited')"))

        async def read_meanwhile():
            await asyncio.sleep(0.1)
            async with engine.connect() as conn:  # WAL: a reader is not blocked by the writer
                return (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one()

        async def release_later():
            await asyncio.sleep(0.6)
            await asyncio.to_thread(holder.commit)

        async def all_of_it():
            return await asyncio.gather(write(), read_meanwhile(), release_later())

        (_, seen_meanwhile, _), longest_gap = await _ticks_while(all_of_it())
        assert seen_meanwhile == 1  # the held insert is not committed yet
        assert longest_gap < 0.3, f"the event loop stalled for {longest_gap:.3f} s"
        async with engine.connect() as conn:
            bodies = {r.body for r in await conn.execute(text("SELECT body FROM notes"))}
        assert bodies == {"first", "held", "waited"}
    finally:
        holder.close()
        await engine.dispose()


async def test_a_database_locked_by_another_process_does_not_stall_the_loop(database):
    url, sync_engine = database
    sync_engine.dispose()  # exclusive mode needs every other connection closed
    engine = make_async_engine(url)
    # Exclusive locking mode: after its write the holder keeps the database to itself, so no
    # other connection can even open it for reading (as during a crash recovery) until it closes.
    holder = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO notes (body) VALUES ('exclusive')")
    holder.execute("COMMIT")
    try:
        async def read():
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one()

        async def release_later():
            await asyncio.sleep(0.6)
            await asyncio.to_thread(holder.close)

        async def both():
            return await asyncio.gather(read(), release_later())

        (seen, _), longest_gap = await _ticks_while(both())
        assert seen == 2
        assert longest_gap < 0.3, f"the event loop stalled for {longest_gap:.3f} s"
    finally:
        holder.close()
        await engine.dispose()


async def test_a_long_statement_runs_off_the_loop(database):
    url, _ = database
    engine = make_async_engine(url)
    try:
        async def count():
            async with engine.connect() as conn:
                return (await conn.execute(text(SLOW_COUNT), {"upto": 5_000_000})).scalar_one()

        started = time.perf_counter()
        total, longest_gap = await _ticks_while(count())
        took = time.perf_counter() - started
        assert total == 5_000_000
        assert took > 0.5  # long enough for a stall to show
        assert longest_gap < took / 3, f"the loop stalled {longest_gap:.3f} s of a {took:.3f} s statement"
    finally:
        await engine.dispose()


async def test_a_coroutine_cancelled_mid_statement_leaves_its_connection_usable(database):
    url, _ = database
    engine = make_async_engine(url, pool_size=1, max_overflow=0)  # the next use gets the same connection
    try:
        async def slow():
            async with engine.connect() as conn:
                await conn.execute(text(SLOW_COUNT), {"upto": 3_000_000})

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(3):
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO notes (body) VALUES ('after')"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 2
    finally:
        await engine.dispose()
