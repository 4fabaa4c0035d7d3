"""Apply a batch of commands in one unit of work: a savepoint per command, one commit.

For each command, in order: a command already in the ledger is a redelivery (its stored reply is
sent again, nothing changes); a command past its deadline is recorded as expired and dropped;
otherwise the provisioning service applies it inside a savepoint, and its ledger row and audit
event join the same transaction (``uow.decide``). The events go to the outbox (``uow.flush``),
then the deadlines are checked again, just before commit: if any command ran out of time
meanwhile, the whole transaction is rolled back and the batch is redone without it, so nothing is
committed past its deadline.

A batch is first tried without savepoints, its ledger rows written in one statement at the end:
most batches are all successes, and a savepoint costs two statements per command. A command
rejected before it wrote anything is undone in memory (``uow.checkpoint``); anything else going
wrong in that first try (a rejection after a write, a constraint, the fence's ledger row, a store
error, a bug) rolls the whole try back and the batch is redone as described above, a savepoint per
command. What commits is the same either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from domain import events as ev
from domain.commands import Command, Reply
from domain.errors import InvalidValue, ScimError, Uniqueness
from domain.provisioning import Outcome, Provisioner, etag_for
from infra.ids import new_resource_id
from infra.logging import get_logger
from infra.metrics import pipeline as metrics
from infra.outages import is_transient, is_unavailable
from infra.store import ledger
from infra.store.clock import utcnow
from infra.store.fence import dead_letter_error
from infra.store.unit_of_work import SqlUnitOfWork

# The batch being applied on this thread (``worker.tasks`` sets it; None outside a batch task).
CURRENT_BATCH: ContextVar[str | None] = ContextVar("scimgate_current_batch", default=None)

log = get_logger(__name__)


@dataclass
class Decided:
    command: Command
    reply: Reply
    outcome: str  # applied | rejected | expired | duplicate


def _success_reply(command: Command, outcome: Outcome) -> Reply:
    view = outcome.view
    etag = etag_for(view["version"]) if view else None
    return Reply(command.id, outcome.status, view, etag=etag)


def expired_error() -> ScimError:
    return ScimError("The command was not applied before its deadline; retry the request", status=503)


MAX_ATTEMPTS = 5
# While the store is unreachable a batch is tried again this often, until its deadlines pass.
OUTAGE_PAUSE_SECONDS = 0.2
class BatchApplier:
    def __init__(self, engine: Engine, *, clock=time.time, command_timeout: float | None = None):
        self.engine = engine
        self.clock = clock
        # A command was queued at ``deadline - command_timeout``: how its queue wait is known.
        self.command_timeout = command_timeout

    def apply(
        self, commands: list[Command], *, forget: Sequence[tuple[int, dict]] = ()
    ) -> tuple[list[Decided], list[tuple[int, dict]]]:
        """Returns the decisions (to reply) and the outbox events written, with their sequence
        numbers (to relay). ``forget`` names outbox events already relayed: they are logged and
        deleted in the same transaction, which saves a transaction of their own."""
        return self._with_retries(lambda: self._apply_once(commands, forget), commands)

    def dead_letter(self, commands: list[Command], reason: str) -> tuple[list[Decided], list[tuple[int, dict]]]:
        """Decide every undecided command of a batch as failed (500) without applying any."""
        return self._with_retries(lambda: self._dead_letter_once(commands, reason), commands)

    def _with_retries(self, attempt_once, commands: list[Command]):
        latest = max((command.deadline for command in commands), default=0.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                return attempt_once()
            except DBAPIError as error:
                if is_transient(error) and attempt < MAX_ATTEMPTS:
                    # A deadlock or lock timeout between concurrent batches: nothing was
                    # committed, so the whole batch is simply tried again.
                    log.warning("batch_retry_transient", attempt=attempt, error=str(error.orig)[:200])
                    metrics.RETRIES.labels(metrics.RETRY_TRANSIENT).inc()
                    time.sleep(0.01 * attempt)
                    continue
                if is_unavailable(error) and self.clock() < latest:
                    # The store is down: wait for it while any command of the batch may still
                    # be applied (past its deadline the ingress has answered 503 anyway).
                    if attempt == 1 or attempt % 25 == 0:
                        log.warning("batch_waits_for_store", attempt=attempt, error=str(error.orig)[:200])
                    metrics.RETRIES.labels(metrics.RETRY_OUTAGE).inc()
                    time.sleep(OUTAGE_PAUSE_SECONDS)
                    continue
                raise

    def _dead_letter_once(self, commands: list[Command], reason: str):
        error = dead_letter_error()
        with SqlUnitOfWork(self.engine) as uow:
            already = uow.decisions([command.id for command in commands])
            decided: list[Decided] = []
            for command in commands:
                previous = already.get(command.id)
                if previous is not None:
                    decided.append(Decided(command, previous[1], "duplicate"))
                    continue
                reply = Reply(command.id, 500, error.to_body())
                event = ev.EVENTS.rejected(command, error, deadLettered=True, reason=reason)
                decided.append(self._decide(uow, command, ledger.REJECTED, reply, event))
            return decided, uow.commit()

    def _apply_once(self, commands: list[Command], forget) -> tuple[list[Decided], list[tuple[int, dict]]]:
        skip: set[str] = set()
        guarded = False
        while True:
            with SqlUnitOfWork(self.engine) as uow:
                uow.forget_relayed(list(forget))
                try:
                    decided = self._apply_in(uow, commands, skip, guarded=guarded)
                    written = uow.flush()
                except (_NeedsSavepoints, IntegrityError):
                    # Tried without savepoints, it met what only one can take back (or a queued
                    # ledger row met the fence): redo it, a savepoint per command.
                    if guarded:
                        raise
                    uow.rollback()
                    guarded = True
                    metrics.RETRIES.labels(metrics.RETRY_GUARDED).inc()
                    continue
                late = {
                    d.command.id
                    for d in decided
                    if d.outcome in ("applied", "rejected") and self.clock() > d.command.deadline
                }
                if late:
                    uow.rollback()
                    skip |= late
                    log.warning("batch_redo_without_expired", expired=len(late))
                    metrics.RETRIES.labels(metrics.RETRY_EXPIRED).inc()
                    continue
                uow.commit()
                return decided, written

    def _apply_in(self, uow: SqlUnitOfWork, commands: list[Command], skip: set[str], *,
                  guarded: bool = True) -> list[Decided]:
        provisioner = Provisioner(uow.users, uow.teams, clock=utcnow, new_id=new_resource_id)
        decided: list[Decided] = []
        already = uow.decisions([command.id for command in commands])
        for command in commands:
            previous = already.get(command.id)
            if previous is not None:
                decided.append(Decided(command, previous[1], "duplicate"))
                continue
            started = self.clock()
            if command.id in skip or started > command.deadline:
                error = expired_error()
                reply = Reply(command.id, 503, error.to_body())
                event = self._timed(ev.EVENTS.rejected(command, error, outcome=ev.EXPIRED), command, started)
                decided.append(self._decide(uow, command, ledger.EXPIRED, reply, event, guarded=guarded))
                continue
            if not guarded:
                decided.append(self._apply_unguarded(uow, provisioner, command, started))
                continue
            savepoint = uow.savepoint()
            try:
                outcome = provisioner.handle(command)
                reply = _success_reply(command, outcome)
                uow.decide(command, ledger.APPLIED, reply, self._timed(outcome.event, command, started))
                savepoint.commit()
            except ScimError as error:
                savepoint.rollback()
                decided.append(self._reject(uow, command, error, started))
                continue
            except IntegrityError as error:
                # Either the ingress fenced this command off meanwhile (its ledger row exists now),
                # or a concurrent writer took the same unique key between our check and insert.
                savepoint.rollback()
                previous = uow.decision(command.id)
                if previous is not None:
                    decided.append(Decided(command, previous[1], "duplicate"))
                    continue
                log.info("integrity_conflict", command_id=command.id, error=str(error.orig)[:200])
                conflict = Uniqueness("A resource with the same unique attribute already exists")
                decided.append(self._reject(uow, command, conflict, started))
                continue
            except DBAPIError as error:
                if is_transient(error) or is_unavailable(error):
                    raise  # not this command's doing: the whole batch is tried again (an outage waited out)
                # The store refused this command alone: the others in the batch go on.
                savepoint.rollback()
                log.error("command_store_error", command_id=command.id, error=str(error.orig)[:300])
                if isinstance(error, DataError):
                    refused: ScimError = InvalidValue("The request holds a value the store cannot keep")
                else:
                    refused = ScimError("Internal error; the request was not applied", status=500)
                decided.append(self._reject(uow, command, refused, started))
                continue
            except Exception:
                # A bug must not take the rest of the batch down with it.
                savepoint.rollback()
                log.exception("command_failed", command_id=command.id, kind=command.kind)
                failed = ScimError("Internal error; the request was not applied", status=500)
                decided.append(self._reject(uow, command, failed, started))
                continue
            decided.append(Decided(command, reply, "applied"))
        return decided

    def _apply_unguarded(self, uow: SqlUnitOfWork, provisioner: Provisioner, command: Command,
                         started: float) -> Decided:
        """One command of a batch tried without savepoints (its ledger row queued): applied, or
        rejected before it wrote anything; ``_NeedsSavepoints`` for anything else."""
        checkpoint = uow.checkpoint()
        try:
            outcome = provisioner.handle(command)
            reply = _success_reply(command, outcome)
            uow.decide(command, ledger.APPLIED, reply, self._timed(outcome.event, command, started), later=True)
            checkpoint.keep()
        except ScimError as error:
            if not checkpoint.undo():
                raise _NeedsSavepoints from error
            return self._reject(uow, command, error, started, guarded=False)
        except DBAPIError as error:
            if is_transient(error) or is_unavailable(error):
                raise
            raise _NeedsSavepoints from error
        except Exception as error:
            raise _NeedsSavepoints from error
        return Decided(command, reply, "applied")

    def _reject(self, uow: SqlUnitOfWork, command: Command, error: ScimError, started: float, *,
                guarded: bool = True) -> Decided:
        reply = Reply(command.id, error.status, error.to_body())
        event = self._timed(ev.EVENTS.rejected(command, error), command, started)
        return self._decide(uow, command, ledger.REJECTED, reply, event, guarded=guarded)

    def _timed(self, event: ev.AuditEvent, command: Command, started: float) -> ev.AuditEvent:
        """How long ``command`` waited in the queue and took to apply, and in which batch, on its
        event (for the log)."""
        event.apply_ms = round(max(0.0, self.clock() - started) * 1000, 3)
        event.batch_id = CURRENT_BATCH.get()
        if self.command_timeout is not None:
            event.queue_wait_ms = round(max(0.0, started - command.deadline + self.command_timeout) * 1000, 3)
        return event

    def _decide(
        self, uow: SqlUnitOfWork, command: Command, outcome: str, reply: Reply, event: ev.AuditEvent, *,
        guarded: bool = True,
    ) -> Decided:
        """Record a non-applied decision; if the ledger already holds one (fenced), that one stands
        (unguarded, the ledger row is queued: a fenced one fails the flush, and the batch is redone)."""
        if not guarded:
            uow.decide(command, outcome, reply, event, later=True)
            return Decided(command, reply, outcome)
        savepoint = uow.savepoint()
        try:
            uow.decide(command, outcome, reply, event)
            savepoint.commit()
        except IntegrityError:
            savepoint.rollback()
            previous = uow.decision(command.id)
            return Decided(command, previous[1] if previous else reply, "duplicate")
        return Decided(command, reply, outcome)


class _NeedsSavepoints(Exception):
    """A batch tried without savepoints met what only a savepoint can take back."""
