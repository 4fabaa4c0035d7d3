"""Celery tasks: thin. Decode, apply the batch in one transaction, then reply and relay the audit."""

from __future__ import annotations

import time

import structlog

from domain.commands import Command
from infra.celery_config import APPLY_BATCH_TASK
from infra.logging import get_logger
from worker.app import app, runtime

log = get_logger(__name__)


@app.task(name=APPLY_BATCH_TASK, acks_late=True, reject_on_worker_lost=True)
def apply_batch(payload: list[dict]) -> None:
    commands = [Command.from_wire(item) for item in payload]
    rt = runtime()
    started = time.time()
    relayed = rt.take_relayed()
    try:
        decided, events = rt.applier.apply(commands, forget=relayed)
    except Exception:
        rt.give_back_relayed(relayed)
        raise
    # After commit: answer the waiting requests and publish the audit events.
    try:
        rt.publish([(d.command.reply_to, d.reply) for d in decided], events)
    except Exception as exc:  # committed: the ingress fence answers, the sweeper relays the events
        log.warning("publish_after_commit_failed", error=str(exc))
    waited = started - min(command.deadline for command in commands) + rt.settings.command_timeout
    log.info("batch_applied", size=len(commands), waited_ms=round(waited * 1000, 1),
             apply_ms=round((time.time() - started) * 1000, 1))
    for d in decided:
        with structlog.contextvars.bound_contextvars(command_id=d.command.id, request_id=d.command.request_id):
            log.info("command_decided", kind=d.command.kind, org_id=d.command.org_id, outcome=d.outcome,
                     status=d.reply.status)
