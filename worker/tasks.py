"""Celery tasks: thin. Claim the batch, apply it in one transaction, then reply and relay the audit."""

from __future__ import annotations

import time

import structlog

from domain.commands import Command
from infra import failpoints
from infra.celery_config import APPLY_BATCH_TASK
from infra.logging import get_logger
from infra.metrics import pipeline as metrics
from infra.redis import deadletter, org_outcomes
from infra.redis.replies import add_claims
from worker.app import app, heartbeat, runtime
from worker.publisher import PUBLISH_PATIENCE_SECONDS, send_patiently

log = get_logger(__name__)

DELIVERIES_KEY = "scimgate:deliveries:"
DELIVERIES_TTL_SECONDS = 3600


def _decode(payload: list) -> list[Command]:
    commands = []
    for index, item in enumerate(payload):
        try:
            commands.append(Command.from_wire(item))
        except Exception as exc:  # not ours: say which, never what it holds
            log.error("command_undecodable", index=index, error=type(exc).__name__)
    return commands


@app.task(name=APPLY_BATCH_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def apply_batch(self, payload: list | None = None, batch_id: str | None = None, undecodable: bool = False) -> None:
    task_id = self.request.id
    if undecodable or not isinstance(payload, list):
        log.error("batch_undecodable", task_id=task_id)
        return
    commands = _decode(payload)
    if not commands:
        return
    rt = runtime()
    beat = heartbeat()
    beat.task_started(task_id)
    try:
        deliveries = _claim(rt, commands, batch_id, task_id)
        if deliveries > rt.settings.max_deliveries:
            _dead_letter(rt, commands, deliveries)
            return
        if failpoints.armed("worker.apply"):
            for command in commands:
                failpoints.crash_if("worker.apply", str(command.to_wire()))
        _apply(rt, commands, batch_id)
    finally:
        beat.task_finished(task_id)


def _claim(rt, commands: list[Command], batch_id: str | None, task_id: str | None) -> int:
    """Tell the waiting ingresses who holds their batch; count this message's deliveries."""
    pipe = rt.redis.pipeline(transaction=False)
    if batch_id:
        add_claims(pipe, (command.reply_to for command in commands), batch_id, rt.worker_id)
    counter = f"{DELIVERIES_KEY}{task_id}"
    pipe.incr(counter)
    pipe.expire(counter, DELIVERIES_TTL_SECONDS)
    results = pipe.execute()
    return int(results[-2])


def _apply(rt, commands: list[Command], batch_id: str | None = None) -> None:
    started = time.time()
    for command in commands:
        metrics.QUEUE_WAIT.observe(max(0.0, started - command.deadline + rt.settings.command_timeout))
    relayed = rt.relay.take_relayed()
    try:
        decided, events = rt.applier.apply(commands, forget=relayed)
    except Exception:
        rt.relay.give_back_relayed(relayed)
        raise
    committed = time.time()
    _publish(rt, decided, events, until=max(command.deadline for command in commands))
    metrics.BATCH_SIZE.observe(len(commands))
    metrics.BATCH_SECONDS.observe(committed - started)
    waited = started - min(command.deadline for command in commands) + rt.settings.command_timeout
    log.info("batch_applied", batch_id=batch_id, size=len(commands), waited_ms=round(waited * 1000, 1),
             apply_ms=round((committed - started) * 1000, 1))
    for d in decided:
        metrics.COMMANDS.labels(d.command.kind, d.outcome).inc()
        with structlog.contextvars.bound_contextvars(command_id=d.command.id, request_id=d.command.request_id):
            log.info("command_decided", batch_id=batch_id, kind=d.command.kind, org_id=d.command.org_id,
                     outcome=d.outcome, status=d.reply.status)


def _publish(rt, decided, events, *, until: float) -> None:
    """After commit: answer the waiting requests, publish the audit events and count each
    organization's outcomes, on the worker's publisher thread (so the next batch need not wait
    for the round trips)."""
    replies = [(d.command.reply_to, d.reply) for d in decided]
    outcomes = [(d.command.org_id, d.outcome) for d in decided]

    def send() -> None:
        sending = time.time()
        rt.relay.publish(replies, events)
        metrics.RELAY_SECONDS.observe(time.time() - sending)

    rt.publisher.submit(send, until=until)
    rt.publisher.submit(lambda: _count_outcomes(rt, outcomes), until=until)


def _count_outcomes(rt, outcomes: list[tuple[str, str]]) -> None:
    """Per organization, the decided and the failed writes (``infra.redis.org_outcomes``, best
    effort: a Redis blip loses a count, nothing else)."""
    try:
        org_outcomes.record(rt.redis, rt.settings.queue_name, outcomes)
    except Exception as exc:
        log.warning("org_outcomes_not_recorded", error=str(exc)[:200])


def _dead_letter(rt, commands: list[Command], deliveries: int) -> None:
    reason = f"its message was delivered {deliveries} times without completing"
    decided, events = rt.applier.dead_letter(commands, reason)
    send_patiently(lambda: rt.relay.publish([(d.command.reply_to, d.reply) for d in decided], events),
                   until=time.time() + PUBLISH_PATIENCE_SECONDS)
    fresh = [d.command for d in decided if d.outcome != "duplicate"]
    metrics.DEAD_LETTERED.inc(len(fresh))
    _count_outcomes(rt, decided)
    for command in fresh:
        log.error("command_dead_lettered", command_id=command.id, org_id=command.org_id, kind=command.kind,
                  deliveries=deliveries)
    deadletter.record(rt.redis, rt.settings.queue_name, [
        deadletter.entry(command, reason=reason, deliveries=deliveries, source="worker") for command in fresh
    ])
