"""The ingress's SQLite driver: the standard ``sqlite3`` module behind SQLAlchemy's asyncio adapter;
short reads on the event loop, everything else with one thread hop per statement.

Why not aiosqlite. aiosqlite runs every DBAPI call on the connection's own thread and hands the
result back through the event loop: making a cursor, executing, fetching, closing the cursor,
beginning and rolling back each cost a round trip between two threads (a queue put, a thread wake,
a GIL hand-over, a ``call_soon_threadsafe``), thirteen for one ``userName eq`` lookup. Measured
on the 2-core bench machine (issue 8's third round): 2.2 ms of CPU per lookup through aiosqlite
against 0.3 ms for the same two statements through SQLAlchemy's synchronous pysqlite driver;
those round trips were most of the ingress's CPU per lookup. Even one hop per statement (a queue
put waking a thread on the other core, and the way back) was a fifth of a lookup's CPU.

Here a read (a ``SELECT``) first runs on the event loop itself, under a progress handler and a busy
timeout of 0: a lookup or a page of documents takes a few hundred to a few thousand steps of
SQLite's virtual machine, microseconds. One that goes past ``INLINE_CHECKS *
INLINE_STEPS_PER_CHECK`` steps (about a millisecond), or would wait for a lock, is interrupted
(a read: nothing it did counts) and run again on a thread. (In WAL mode a reader waits for a lock
only while another connection holds the database exclusively, as a crash recovery does; the
busy timeout of 0 keeps that wait off the loop.) Every other statement, and a read that was
interrupted, is executed, and all its rows fetched, in one call on a thread of a small shared
pool, whose outcome comes back with one ``call_soon_threadsafe``; what never waits runs on the
loop: making and closing a cursor, a deferred ``BEGIN`` (``Connection.begin``, which the
engine's begin event calls: it takes no lock until the first read), and ``ROLLBACK`` (in WAL mode
it drops the transaction's pages from memory and releases its locks). ``COMMIT`` and the writes,
which may wait on the writer's lock (up to the busy timeout) or sync the file, always go to the
pool. (The ingress writes rarely: a token's last use, a fence decision, the management API; were
every statement thread waiting on the lock, reads would queue behind them, never the loop.)

Each connection is used by one coroutine at a time (SQLAlchemy's pool and the adapter's mutex see
to it), from whichever thread runs its call, so the ``sqlite3`` connection is opened with
``check_same_thread=False``. A coroutine cancelled while its statement runs (a client gone, a
timeout) leaves the statement running; nothing else touches that connection, not even the
rollback that returns it to the pool, until the statement has returned: two threads in one
``sqlite3`` connection at once crash the process.

SQLAlchemy's own aiosqlite dialect drives it (``create_async_engine(..., module=Driver())``); this
module subclasses that dialect's adapter classes, SQLAlchemy 2.1's (pyproject pins 2.1 for that).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from functools import partial
from queue import SimpleQueue
from types import ModuleType
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

# A read runs on the loop while it takes fewer than INLINE_CHECKS * INLINE_STEPS_PER_CHECK steps
# of SQLite's virtual machine (about a millisecond here); past that it is stopped and run again on
# a thread. A lookup takes a few hundred steps, a page of 100 documents a few thousand.
INLINE_STEPS_PER_CHECK = 1_000
INLINE_CHECKS = 50

# Threads for the statements of one ingress process's connections (its pool holds 16): SQLite
# readers run in parallel in WAL mode, and a writer waiting on the lock holds only its own thread.
POOL_THREADS = 8


class _Threads:
    """The statement threads: a call is queued, run on one of them, and its outcome handed back to
    the loop with one ``call_soon_threadsafe``. (The executor of ``run_in_executor`` costs a
    quarter more CPU per call here: a concurrent future chained to an asyncio one.)"""

    def __init__(self, count: int):
        self._count = count
        self._calls: SimpleQueue = SimpleQueue()
        self._started = 0
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            while self._started < self._count:
                self._started += 1
                threading.Thread(target=self._serve, name=f"sqlite-{self._started}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            loop, future, function, args, owner = self._calls.get()
            try:
                outcome, ok = function(*args), True
            except BaseException as error:  # handed to the awaiting coroutine, as raised
                outcome, ok = error, False
            try:
                loop.call_soon_threadsafe(_settle, future, ok, outcome, owner)
            except RuntimeError:  # the loop closed meanwhile: nobody awaits the outcome
                pass

    def submit(self, function, args: tuple = (), owner: "Connection | None" = None) -> asyncio.Future:
        """A future of ``function(*args)`` run on a statement thread; ``owner`` hears when the call
        has returned, even if the future was cancelled meanwhile."""
        if self._started < self._count:
            self._start()
        future = asyncio.get_running_loop().create_future()
        self._calls.put((future.get_loop(), future, function, args, owner))
        return future


def _settle(future: asyncio.Future, ok: bool, outcome, owner: "Connection | None") -> None:
    if owner is not None:
        owner.returned()
    if future.cancelled():
        return
    if ok:
        future.set_result(outcome)
    else:
        future.set_exception(outcome)


_THREADS = _Threads(POOL_THREADS)


class Cursor:
    """An asyncio cursor over a ``sqlite3`` cursor: ``execute`` runs the statement and fetches its
    rows in one call on the pool; the fetch methods hand out those rows."""

    arraysize = 1

    def __init__(self, connection: "Connection"):
        self._connection = connection
        self._cursor = connection.raw.cursor()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list = []

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    def _run(self, method, *args) -> None:
        method(*args)
        cursor = self._cursor
        self.description = cursor.description
        self._rows = cursor.fetchall() if cursor.description else []
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid

    async def execute(self, sql: str, parameters: Any = ()) -> "Cursor":
        parameters = parameters or ()
        if not (sql.startswith("SELECT") and self._connection.run_briefly(self._run, self._cursor.execute, sql,
                                                                           parameters)):
            await self._connection.call(self._run, self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Any) -> "Cursor":
        await self._connection.call(self._run, self._cursor.executemany, sql, seq_of_parameters)
        return self

    async def fetchall(self) -> list:
        rows, self._rows = self._rows, []
        return rows

    async def fetchmany(self, size: int | None = None) -> list:
        size = self.arraysize if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    async def close(self) -> None:
        await self._connection.settled()
        self._cursor.close()


class Connection:
    """An asyncio connection over a ``sqlite3`` connection (the calls the adapter makes)."""

    def __init__(self, raw: sqlite3.Connection):
        self.raw = raw
        self.closed = False
        self._busy = False  # a call of this connection is running on a statement thread
        self._idle: asyncio.Future | None = None  # set when it returns, for whoever waits
        # Reads on the loop must not wait for a lock, statements on a thread may: the busy timeout
        # is switched only when the kind of statement changes (a run of lookups sets nothing).
        self._busy_timeout: str | None = None  # the statement that restores the engine's timeout
        self._may_wait = True  # the engine's timeout is in force (not 0)

    async def call(self, function, *args):
        """``function(*args)`` on a statement thread, with the engine's busy timeout. A coroutine
        cancelled meanwhile leaves the call running, and nothing else touches the connection until
        it has returned."""
        await self.settled()
        self._busy = True
        return await _THREADS.submit(self._waiting, (function, args), self)

    def _waiting(self, function, args):
        if not self._may_wait:
            assert self._busy_timeout is not None, "the timeout was read before it was set to 0"
            self.raw.execute(self._busy_timeout)
            self._may_wait = True
        return function(*args)

    def run_briefly(self, function, *args) -> bool:
        """``function(*args)`` (a read) on the loop itself, with a busy timeout of 0, if it finishes
        within ``INLINE_CHECKS * INLINE_STEPS_PER_CHECK`` steps of SQLite's virtual machine and
        without waiting for a lock; False (nothing done that counts) when it would not, for the
        caller to run it on a thread."""
        if self._busy:
            return False
        raw = self.raw
        steps = 0

        def progress() -> int:
            nonlocal steps
            steps += 1
            return steps > INLINE_CHECKS

        if self._may_wait:
            if self._busy_timeout is None:  # as the engine's pragmas set it
                self._busy_timeout = f"PRAGMA busy_timeout={raw.execute('PRAGMA busy_timeout').fetchone()[0]}"
            raw.execute("PRAGMA busy_timeout=0")
            self._may_wait = False
        raw.set_progress_handler(progress, INLINE_STEPS_PER_CHECK)
        try:
            function(*args)
            return True
        except sqlite3.OperationalError as error:
            if steps > INLINE_CHECKS or "locked" in str(error) or "busy" in str(error):
                return False
            raise
        finally:
            raw.set_progress_handler(None, 0)

    def returned(self) -> None:
        self._busy = False
        if self._idle is not None:
            self._idle.set_result(None)
            self._idle = None

    async def settled(self) -> None:
        """Once no call of this connection is running on a statement thread."""
        if self._busy:
            if self._idle is None:
                self._idle = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._idle)

    def cursor(self) -> Cursor:
        return Cursor(self)

    @property
    def isolation_level(self):
        return self.raw.isolation_level

    def begin(self) -> None:
        """A deferred transaction: no lock is taken until its first statement, so it runs here."""
        self.raw.execute("BEGIN")

    async def commit(self) -> None:
        if not self.closed and self.raw.in_transaction:
            await self.call(self.raw.commit)

    async def rollback(self) -> None:
        await self.settled()
        if not self.closed:
            self.raw.rollback()

    async def close(self) -> None:
        await self.settled()
        self.stop()

    def stop(self) -> None:
        self.closed = True
        self.raw.close()


async def connect(database: str, **kwargs) -> Connection:
    kwargs["check_same_thread"] = False
    raw = await _THREADS.submit(partial(sqlite3.connect, database, **kwargs))
    return Connection(raw)


class AdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    @property
    def isolation_level(self):
        return self._connection.raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value) -> None:
        self._connection.raw.isolation_level = value  # no statement runs: nothing to wait for

    def create_function(self, *args: Any, **kw: Any) -> None:
        self._connection.raw.create_function(*args, **kw)

    def rollback(self) -> None:
        try:
            await_(self._connection.rollback())
        except Exception as error:
            self._handle_exception(error)

    def commit(self) -> None:
        try:
            await_(self._connection.commit())
        except Exception as error:
            self._handle_exception(error)

    def close(self) -> None:
        await_(self._connection.close())

    async def _terminate_graceful_close(self) -> None:
        await self._connection.close()

    def _terminate_force_close(self) -> None:
        self._connection.stop()


class Driver(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's dialect sees: sqlite3's names, this module's connections."""

    def __init__(self):
        driver = ModuleType("scimgate_sqlite")  # what the dialect reads off "aiosqlite": sqlite3's names
        for name in dir(sqlite3):
            if not name.startswith("_"):
                setattr(driver, name, getattr(sqlite3, name))
        driver.Connection = Connection  # type: ignore[attr-defined]
        driver.__version__ = sqlite3.sqlite_version  # type: ignore[attr-defined]
        super().__init__(driver, sqlite3)

    def connect(self, *args: Any, **kwargs: Any) -> AdaptedConnection:
        kwargs.pop("async_creator_fn", None)
        connection: Any = await_(connect(*args, **kwargs))  # duck-types aiosqlite's connection
        return AdaptedConnection(self, connection)

