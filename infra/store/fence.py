"""The ingress's half of the exactly-once fence (see ``infra.store.ledger``), on the async engine.

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

import orjson
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import events as ev
from domain.commands import Command, Reply
from domain.errors import ScimError
from infra.logging import get_logger
from infra.outages import is_unavailable
from infra.store.clock import utcnow
from infra.store.ledger import EXPIRED, REJECTED, ledger_row, outbox_row
from infra.store.tables import audit_outbox, processed_commands

log = get_logger(__name__)


class _Undecided:
    def __repr__(self) -> str:
        return "UNDECIDED"


UNDECIDED = _Undecided()
# How long an impatient decision waits for a lock a live worker might hold.
QUICK_LOCK_WAIT_MS = 500
_SQLITE_BUSY_MS = 30_000


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
        event = ev.unapplied_event(
            command, outcome=ev.EXPIRED, status=503, time=utcnow().isoformat() + "Z", detail=detail
        )
        decided = await self._insert(command, EXPIRED, reply, event.to_dict(), patient=patient)
        if decided is UNDECIDED or decided is None:
            return decided
        outcome, committed = decided
        return None if outcome == EXPIRED else committed

    async def dead_letter(self, command: Command, reason: str) -> Reply | _Undecided:
        """Decide ``command`` as failed (500) unless a worker committed it; returns the answer."""
        error = dead_letter_error()
        reply = Reply(command.id, 500, error.to_body())
        event = ev.unapplied_event(
            command, outcome=ev.FAILURE, status=500, time=utcnow().isoformat() + "Z",
            detail={"detail": error.detail, "deadLettered": True, "reason": reason},
        )
        decided = await self._insert(command, REJECTED, reply, event.to_dict(), patient=False)
        if decided is UNDECIDED:
            return UNDECIDED
        return reply if decided is None else decided[1]

    async def _insert(self, command: Command, outcome: str, reply: Reply, event: dict, *, patient: bool):
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

    async def _try_insert(self, command: Command, outcome: str, reply: Reply, event: dict, *, patient: bool) -> None:
        sqlite = self.engine.dialect.name == "sqlite"
        async with self.engine.connect() as conn:
            try:
                if not patient:  # wait only briefly for a lock a live worker may hold
                    if sqlite:
                        await conn.exec_driver_sql(f"PRAGMA busy_timeout={QUICK_LOCK_WAIT_MS}")
                    else:
                        await conn.execute(text(f"SET LOCAL lock_timeout = '{QUICK_LOCK_WAIT_MS}ms'"))
                await conn.execute(processed_commands.insert().values(**ledger_row(command, outcome, reply)))
                await conn.execute(audit_outbox.insert().values(**outbox_row(event, utcnow())))
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
            finally:
                if sqlite and not patient:
                    await conn.exec_driver_sql(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
                    await conn.commit()

    async def _existing(self, command_id: str) -> tuple[str, Reply] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(processed_commands.c.outcome, processed_commands.c.reply).where(
                        processed_commands.c.command_id == command_id
                    )
                )
            ).first()
        return None if row is None else (row.outcome, Reply.from_wire(orjson.loads(row.reply)))


def _is_lock_wait(error: Exception) -> bool:
    """A lock held by someone else's open transaction (PostgreSQL lock_timeout, SQLite busy)."""
    if isinstance(error, DBAPIError):
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return code == "55P03" or "database is locked" in str(error.orig)
    return False
