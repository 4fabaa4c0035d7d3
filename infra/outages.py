"""Telling "the store or Redis is unreachable right now" from every other failure.

An outage is answered ``503`` with ``Retry-After`` (nothing was changed; try again), never
``500``; a worker waits it out instead of failing its batch. A transient failure (a deadlock
between two transactions) is simply tried again. Each driver spells them differently, so the
knowledge lives here, in one place.
"""

from __future__ import annotations

import asyncio

import redis.exceptions
from sqlalchemy import exc as sa

# PostgreSQL: connection exceptions (08…), cannot connect now / admin shutdown (57P0x), too many
# connections (53300), read-only while recovering (25006).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P")
_UNAVAILABLE_SQLSTATES = frozenset({"53300", "25006"})
_SQLITE_BUSY = ("database is locked", "database table is locked", "unable to open database file")


def _sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), error):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means a backing service is unreachable or overloaded for now."""
    if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                          redis.exceptions.BusyLoadingError, redis.exceptions.TryAgainError)):
        return True
    if isinstance(error, sa.TimeoutError):  # the connection pool is exhausted
        return True
    if isinstance(error, sa.DBAPIError):
        if error.connection_invalidated:
            return True
        code = _sqlstate(error)
        if code and (code.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES) or code in _UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(error, (sa.OperationalError, sa.InterfaceError)):
            text = str(error.orig).lower()
            if any(marker in text for marker in _SQLITE_BUSY):
                return True
            # Connection refused/reset/closed while connecting or talking to the server.
            return _names_a_connection_failure(text)
        return False
    if isinstance(error, (ConnectionError, asyncio.TimeoutError, TimeoutError)):
        return True
    cause = error.__cause__ or error.__context__
    return cause is not None and cause is not error and _is_connection_class(cause)


def _names_a_connection_failure(text: str) -> bool:
    return any(
        marker in text
        for marker in (
            "connection refused", "could not connect", "connection reset", "server closed the connection",
            "connection is closed", "connection was closed", "terminating connection", "the database system is",
            "no route to host", "timeout expired", "connection timed out", "broken pipe", "connection not open",
            "cannot connect", "ssl syscall error",
        )
    )


def _is_connection_class(error: BaseException) -> bool:
    name = type(error).__name__
    return isinstance(error, (ConnectionError, OSError)) or name in (
        "ConnectionDoesNotExistError", "CannotConnectNowError", "PostgresConnectionError",
        "InterfaceError", "ConnectionFailureError",
    )


# PostgreSQL: deadlock detected, serialization failure, lock not available.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_transient(error: BaseException) -> bool:
    """A failure that says nothing about the work itself (a deadlock, a serialization failure, a
    lock wait given up): doing the same again will do."""
    if not isinstance(error, sa.DBAPIError) or isinstance(error, sa.IntegrityError):
        return False
    return _sqlstate(error) in _TRANSIENT_SQLSTATES or "database is locked" in str(error.orig)
