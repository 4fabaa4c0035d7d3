"""The ingress's half of the exactly-once fence (see ``infra.store.ledger``), on the async engine.

The decision is written through the unit of work (``infra.store.unit_of_work``) on the async
connection's ``run_sync``: the ledger row and its audit event in one transaction.

Deciding a command that no reply has settled means inserting a ledger row under its id: it
succeeds only if no worker committed the command, and then no worker ever will (their insert
conflicts on the key and applies nothing). If one did commit, the insert conflicts (on PostgreSQL
it first waits for the worker's transaction) and the worker's reply is returned instead. Either
way the answer the client gets matches what the store holds.

Two ways to ask:

- ``decide(command, patient=True)``, at the request's deadline: waits as long as a worker's open
  transaction holds the key and retries while the store is unreachable (up to ``patience``
  seconds), because guessing would break "a failure means never applied".
- ``decide(command, patient=False)``, when the worker holding the command is gone: gives up
  after a short lock wait and says ``UNDECIDED`` (the dispatcher asks again a moment later).

``dead_letter`` decides a command as failed for good (it crashed the workers that took it).
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import events as ev
from domain.commands import Command, Reply
from domain.errors import ScimError
from infra.logging import get_logger
from infra.outages import is_unavailable
from infra.store import ledger
from infra.store.ledger import EXPIRED, REJECTED
from infra.store.unit_of_work import SqlUnitOfWork

log = get_logger(__name__)


class _Undecided:
    def __repr__(self) -> str:
        return "UNDECIDED"


UNDECIDED = _Undecided()
# How long an impatient decision waits for a lock a live worker might hold.
QUICK_LOCK_WAIT_MS = 500


class FenceUnavailable(Exception):
    """The store stayed unreachable for the whole patience: the command could not be decided."""


def timeout_error() -> ScimError:
    return ScimError("The request was not applied in time and never will be; retry it", status=503)


def dead_letter_error() -> ScimError:
    return ScimError(
        "The request could not be applied: the workers that took it failed while applying it. It was not "
        "applied; it has been set aside for the operators",
        status=500,
    )


class StoreFence:
    def __init__(self, engine: AsyncEngine, *, patience: float = 30.0):
        self.engine = engine
        self.patience = patience

    async def decide(
        self, command: Command, *, patient: bool, detail: dict | None = None
    ) -> Reply | None | _Undecided:
        """The committed reply, None once the command is fenced off (never applied), or
        UNDECIDED (only when not ``patient``). ``detail`` goes into the audit event."""
        reply = Reply(command.id, 503, timeout_error().to_body())
        event = ev.EVENTS.unapplied(command, outcome=ev.EXPIRED, status=503, detail=detail)
        decided = await self._insert(command, EXPIRED, reply, event, patient=patient)
        if decided is UNDECIDED or decided is None:
            return decided
        outcome, committed = decided
        return None if outcome == EXPIRED else committed

    async def dead_letter(self, command: Command, reason: str) -> Reply | _Undecided:
        """Decide ``command`` as failed (500) unless a worker committed it; returns the answer."""
        error = dead_letter_error()
        reply = Reply(command.id, 500, error.to_body())
        event = ev.EVENTS.rejected(command, error, deadLettered=True, reason=reason)
        decided = await self._insert(command, REJECTED, reply, event, patient=False)
        if decided is UNDECIDED:
            return UNDECIDED
        return reply if decided is None else decided[1]

    async def _insert(self, command: Command, outcome: str, reply: Reply, event: ev.AuditEvent, *, patient: bool):
        """None when our row went in; (outcome, reply) of the row already there; or UNDECIDED."""
        give_up = time.monotonic() + (self.patience if patient else 0)
        pause = 0.1
        while True:
            try:
                return await self._try_insert(command, outcome, reply, event, patient=patient)
            except IntegrityError:
                existing = await self._existing(command.id)
                if existing is not None:
                    return existing
                raise  # a conflict on something else is a bug, not a decision
            except Exception as error:
                if not (_is_lock_wait(error) or is_unavailable(error)):
                    raise
                if not patient:
                    return UNDECIDED
                if time.monotonic() > give_up:
                    log.error("fence_unresolved", command_id=command.id, error=str(error)[:200])
                    raise FenceUnavailable(command.id) from error
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)

    async def _try_insert(
        self, command: Command, outcome: str, reply: Reply, event: ev.AuditEvent, *, patient: bool
    ) -> None:
        # Impatient: wait only briefly for a lock a live worker may hold.
        lock_wait_ms = None if patient else QUICK_LOCK_WAIT_MS
        async with self.engine.connect() as conn:
            await conn.run_sync(_record_decision, command, outcome, reply, event, lock_wait_ms)

    async def _existing(self, command_id: str) -> tuple[str, Reply] | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(ledger.decided_reply, command_id)


def _record_decision(
    conn: Connection, command: Command, outcome: str, reply: Reply, event: ev.AuditEvent, lock_wait_ms: int | None
) -> None:
    with SqlUnitOfWork(conn, lock_wait_ms=lock_wait_ms) as uow:
        uow.decide(command, outcome, reply, event)
        uow.commit()


def _is_lock_wait(error: Exception) -> bool:
    """A lock held by someone else's open transaction (PostgreSQL lock_timeout, SQLite busy)."""
    if isinstance(error, DBAPIError):
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return code == "55P03" or "database is locked" in str(error.orig)
    return False
