"""Celery tasks: thin. Decode, apply the batch in one transaction, reply, relay the audit events."""

from __future__ import annotations

import structlog

from domain.commands import Command
from infra.celery_config import APPLY_BATCH_TASK
from infra.logging import get_logger
from infra.redis.replies import send_replies
from worker.app import app, runtime

log = get_logger(__name__)


@app.task(name=APPLY_BATCH_TASK, acks_late=True, reject_on_worker_lost=True)
def apply_batch(payload: list[dict]) -> None:
    commands = [Command.from_wire(item) for item in payload]
    rt = runtime()
    decided, seqs = rt.applier.apply(commands)
    # After commit: answer the waiting requests, then publish the audit events.
    send_replies(rt.redis, [(d.command.reply_to, d.reply) for d in decided])
    for d in decided:
        with structlog.contextvars.bound_contextvars(command_id=d.command.id, request_id=d.command.request_id):
            log.info("command_decided", kind=d.command.kind, org_id=d.command.org_id, outcome=d.outcome,
                     status=d.reply.status)
    try:
        rt.relay(seqs)
    except Exception as exc:  # the sweeper relays them later; the change is committed
        log.warning("relay_failed", error=str(exc))
