"""The SQL unit of work: the one way a change is recorded in the store.

``with SqlUnitOfWork(engine_or_connection) as uow:`` begins a transaction and offers the store's
ports on it (``users``, ``teams``, ``organizations``, ``tokens``, ``views``, ``operators``); ``uow.record(event)``
queues an audit event for the outbox, ``uow.decide(command, outcome, reply, event)`` writes a
command's ledger row together with its event, and ``uow.commit()`` writes the queued events to the
outbox and commits. Leaving the block without committing rolls back. Every writer goes through it:
the worker's batch applier (``worker/apply.py``), the ingress's fence (``infra/store/fence.py``,
over an async connection's ``run_sync``), and the management service (API, CLI, first start, the
SCIM toggle: ``management_service`` below).

A change cannot be committed without its audit event: the unit of work watches every INSERT,
UPDATE and DELETE on its connection, and a change to the data (anything but the ledger and the
outbox, which it writes itself) must be followed by a recorded event before the next savepoint,
a savepoint's release, ``flush`` or ``commit``, or those raise ``UnrecordedChange``.

For the worker: ``savepoint()`` wraps one command (its queued events go if it rolls back);
``checkpoint()`` is its cheap twin for a batch tried without savepoints: it can undo a command that
wrote nothing (a rejection decided before any write), and says when it cannot. ``decide(...,
later=True)`` queues the ledger row instead of inserting it at once, and ``flush()`` writes the
queued ledger rows and events (one statement each) before the last deadline check, ``forget_relayed`` logs and
deletes relayed outbox rows in the same transaction. For the fence: ``lock_wait_ms`` bounds how long the
transaction waits for a lock another transaction holds.
"""

from __future__ import annotations

import threading
import weakref

from sqlalchemy import Connection, Engine, RootTransaction, event, text

from domain.clock import Clock
from domain.commands import Command, Reply
from domain.events import AuditEvent
from domain.management import Management
from domain.operators import Operators
from domain.unit_of_work import UnrecordedChange
from infra.ids import new_org_id, new_resource_id
from infra.store import counts, ledger, outbox
from infra.store.clock import utcnow
from infra.store.engine import SQLITE_BUSY_TIMEOUT_MS
from infra.store.management_views import SqlManagementViews
from infra.store.operators import SqlOperators
from infra.store.organizations import LOCK_ONLY, SqlOrganizations, SqlTokens
from infra.store.repositories import SqlTeams, SqlUsers
from infra.store.tables import audit_outbox, processed_commands, provisioning_log, resource_counts

# Written by the unit of work itself, each with its event: not changes that need one.
_BOOKKEEPING = frozenset({processed_commands.name, audit_outbox.name, provisioning_log.name, resource_counts.name})


# The unit of work open on a connection (``Connection.info``): one listener per engine finds it,
# instead of a listener added and removed per transaction (SQLAlchemy's event registry is slow).
_OPEN_UOW = "scimgate_unit_of_work"
_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()


def _watch_engine(engine: Engine) -> None:
    if engine not in _WATCHED:
        event.listen(engine, "before_execute", _watch_statement)
        _WATCHED.add(engine)


def _watch_statement(conn: Connection, statement, multiparams, params, options) -> None:
    uow = conn.info.get(_OPEN_UOW)
    if uow is not None:
        uow._watch(conn, statement, multiparams, params, options)


# SQLite has one writer. A process's units of work on one engine take turns on a lock of their own
# before BEGIN IMMEDIATE, so a worker thread waiting for another's commit starts the moment it
# ends, instead of polling SQLite's lock (whose busy handler sleeps 1, 2, 5, 10 … ms between
# tries). Past ``SQLITE_BUSY_TIMEOUT_MS`` a unit of work goes on without its turn, and SQLite's
# own lock decides, as for writers in other processes.
_TURNS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_TURNS_MADE = threading.Lock()


def _take_turn(engine: Engine):
    if engine.dialect.name != "sqlite":
        return None
    with _TURNS_MADE:
        turn = _TURNS.get(engine)
        if turn is None:
            turn = _TURNS[engine] = threading.RLock()
    return turn if turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000) else None


class SqlUnitOfWork:
    def __init__(self, source: Engine | Connection, *, lock_wait_ms: int | None = None):
        self.source = source
        self.lock_wait_ms = lock_wait_ms
        self._conn: Connection | None = None

    # -- the transaction ----------------------------------------------------------------------

    def __enter__(self) -> SqlUnitOfWork:
        if self._conn is not None:
            raise RuntimeError("a unit of work is already open")
        conn: Connection
        self._turn = None
        if isinstance(self.source, Engine):
            self._turn = _take_turn(self.source)
            try:
                conn, self._owned = self.source.connect(), True
            except BaseException:
                self._give_turn()
                raise
        else:
            conn, self._owned = self.source, False
        self._conn = conn
        self._pending: list[AuditEvent] = []
        self._decisions: list[dict] = []
        self._written: list[tuple[int, dict]] = []
        self._unrecorded = False
        self._writes = 0  # changes to the data so far (what a checkpoint compares)
        try:
            self._transaction: RootTransaction = conn.begin()
            _watch_engine(conn.engine)
            conn.info[_OPEN_UOW] = self
            if self.lock_wait_ms is not None:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(self.lock_wait_ms)}")
                else:
                    conn.execute(text(f"SET LOCAL lock_timeout = '{int(self.lock_wait_ms)}ms'"))
        except BaseException:
            self._close()
            raise
        self._tally = counts.Tally()
        self.users = SqlUsers(conn, self._tally)
        self.teams = SqlTeams(conn, self._tally)
        self.organizations = SqlOrganizations(conn)
        self.tokens = SqlTokens(conn)
        self.views = SqlManagementViews(conn)
        self.operators = SqlOperators(conn)
        return self

    @property
    def connection(self) -> Connection:
        """The open transaction's connection."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._close()

    def _give_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            self._give_turn()
            return
        try:
            if conn.info.get(_OPEN_UOW) is self:
                del conn.info[_OPEN_UOW]
            if self.lock_wait_ms is not None and conn.dialect.name == "sqlite" and not conn.closed:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                conn.commit()
        finally:
            try:
                if self._owned:
                    conn.close()
            finally:
                self._give_turn()

    def commit(self) -> list[tuple[int, dict]]:
        """Write the queued events and commit; returns every event this transaction wrote, with its
        outbox row number (to relay and then forget)."""
        self.flush()
        self._tally.write(self.connection)  # last: its rows' locks are held the shortest
        self._transaction.commit()
        return self._written

    def rollback(self) -> None:
        self._transaction.rollback()
        self._tally.restore({})
        self._pending.clear()
        self._decisions.clear()
        self._written = []
        self._unrecorded = False

    def savepoint(self) -> Savepoint:
        self._check()
        return Savepoint(self)

    def checkpoint(self) -> Checkpoint:
        self._check()
        return Checkpoint(self)

    # -- the audit outbox ---------------------------------------------------------------------

    def record(self, event: AuditEvent) -> None:
        self._pending.append(event)
        self._unrecorded = False

    def flush(self) -> list[tuple[int, dict]]:
        """Write the queued ledger rows and events now (still uncommitted); returns the events with
        their outbox rows. A queued ledger row whose command is decided already (the ingress's
        fence) raises ``IntegrityError`` here."""
        self._check()
        if self._decisions:
            ledger.record_decisions(self.connection, self._decisions)
            self._decisions.clear()
        written = outbox.append_events(self.connection, [queued.to_dict() for queued in self._pending])
        self._pending.clear()
        self._written += written
        return written

    def forget_relayed(self, events: list[tuple[int, dict]]) -> None:
        """Log and delete outbox events already relayed to the stream (in this transaction)."""
        outbox.forget_events(self.connection, list(events))

    # -- the command ledger -------------------------------------------------------------------

    def decide(self, command: Command, outcome: str, reply: Reply, event: AuditEvent, *, later: bool = False) -> None:
        """Record the decision on ``command`` and its audit event; the ledger's key makes this the
        one decision (``IntegrityError`` when another is there: a redelivery lost, or the fence),
        raised here or, ``later``, by ``flush``."""
        if later:
            self._decisions.append(ledger.ledger_row(command, outcome, reply))
        else:
            ledger.record_decision(self.connection, command, outcome, reply)
        self.record(event)

    def decision(self, command_id: str) -> tuple[str, Reply] | None:
        return ledger.decided_reply(self.connection, command_id)

    def decisions(self, command_ids: list[str]) -> dict[str, tuple[str, Reply]]:
        return ledger.decided_replies(self.connection, command_ids)

    # -- the guard ----------------------------------------------------------------------------

    def _watch(self, _conn, statement, _multiparams, _params, options) -> None:
        if (
            getattr(statement, "is_dml", False)
            and statement.table.name not in _BOOKKEEPING
            and not options.get(LOCK_ONLY)
        ):
            self._unrecorded = True
            self._writes += 1

    def _check(self) -> None:
        if self._unrecorded:
            raise UnrecordedChange("a change was made without recording its audit event (uow.record)")


class Savepoint:
    """One command's share of a batch: on rollback its changes and its queued events go."""

    def __init__(self, uow: SqlUnitOfWork):
        self._uow = uow
        self._mark = len(uow._pending)
        self._counted = uow._tally.mark()
        self._nested = uow.connection.begin_nested()

    def commit(self) -> None:
        self._uow._check()
        self._nested.commit()

    def rollback(self) -> None:
        self._nested.rollback()
        del self._uow._pending[self._mark:]
        self._uow._tally.restore(self._counted)
        self._uow._unrecorded = False


def operator_service(source: Engine | Connection, *, clock: Clock = utcnow) -> Operators:
    """Operators (``domain.operators``) on the SQL store."""
    return Operators(SqlUnitOfWork(source), clock=clock)


def management_service(source: Engine | Connection, *, clock: Clock = utcnow) -> Management:
    """The management service on the SQL store (``source``: the CLI's engine, or the ingress's
    connection inside ``AsyncConnection.run_sync``)."""
    return Management(SqlUnitOfWork(source), clock=clock, new_id=new_resource_id, new_org_id=new_org_id)


class Checkpoint:
    """One command's share of a batch applied without savepoints: ``undo`` takes back its queued
    events, ledger rows and count changes, which is all of it when it changed no data; when it
    did, ``undo`` says so (False) and the batch must be redone with savepoints."""

    def __init__(self, uow: SqlUnitOfWork):
        self._uow = uow
        self._writes = uow._writes
        self._events = len(uow._pending)
        self._decisions = len(uow._decisions)
        self._counted = uow._tally.mark()

    def keep(self) -> None:
        self._uow._check()

    def undo(self) -> bool:
        uow = self._uow
        if uow._writes != self._writes:
            return False
        del uow._pending[self._events:]
        del uow._decisions[self._decisions:]
        uow._tally.restore(self._counted)
        uow._unrecorded = False
        return True
