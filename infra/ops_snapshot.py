"""The live state of the pipeline, read in a few bounded queries: one home for ``/metrics`` and
the ops dashboard.

Every figure is cheap whatever the load: a hash with one field per ingress process, Redis
``LLEN`` and ``ZRANGE`` on small keys, a few minutes' top failing organizations
(``infra.redis.org_outcomes``), the outbox's first row by primary key and a count capped at
``OUTBOX_COUNT_CAP``. A figure that cannot be read (Redis or the store unreachable) is
``None``; reading never raises for an outage.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.config import Settings
from infra.logging import get_logger
from infra.redis import deadletter, ingress_queue, org_outcomes, worker_presence
from infra.redis.org_outcomes import FailingOrganization
from infra.store.tables import audit_outbox

log = get_logger(__name__)

# The outbox is counted up to this many rows ("at least" beyond: a count must stay bounded).
OUTBOX_COUNT_CAP = 10_000
# Each source gets this long before its figures are reported unknown.
READ_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class OpsSnapshot:
    """The pipeline at ``at`` (epoch seconds). ``None`` means "could not be read"."""

    at: float
    queue_depth: int | None  # write commands submitted and not yet decided, over every live ingress
    oldest_queued_seconds: float | None  # age of the oldest of them (0.0 when none waits)
    queued_batches: int | None  # batch messages on the Celery queue, not yet taken by a worker
    ingresses: int | None  # ingress processes reporting (alive)
    outbox_pending: int | None  # audit events committed but not yet relayed (capped at OUTBOX_COUNT_CAP)
    outbox_lag_seconds: float | None  # age of the oldest of them (0.0 when the outbox is empty)
    live_workers: int | None  # workers whose heartbeat is fresh
    dead_letters: int | None  # entries on the dead-letter list (capped at deadletter.KEEP)
    # Organizations whose writes mostly fail over the last minutes (infra.redis.org_outcomes):
    # how many, and the worst few (org id, failures, writes), worst first.
    failing_organizations: int | None = None
    top_failing: tuple[FailingOrganization, ...] = ()

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["top_failing"] = [dict(f.__dict__) for f in self.top_failing]
        return data


async def read_snapshot(redis: aioredis.Redis, engine: AsyncEngine, settings: Settings) -> OpsSnapshot:
    """Read the pipeline's live state.

    ``redis``: an asyncio Redis client on the deployment's Redis (the ingress's ``REDIS`` app key);
    ``engine``: the async store engine (``ENGINE``); ``settings``: resolved settings (the queue
    name and the worker staleness are taken from them). Costs three Redis round trips and two
    indexed SQL statements (three round trips when organizations are failing); never raises for an unreachable Redis or store (those figures are
    ``None``).
    """
    now = time.time()
    redis_part, store_part = await asyncio.gather(_from_redis(redis, settings, now), _from_store(engine, now))
    return OpsSnapshot(at=now, **redis_part, **store_part)


async def _from_redis(client: aioredis.Redis, settings: Settings, now: float) -> dict:
    queue = settings.queue_name
    try:
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            reports = await ingress_queue.fresh_reports(client, queue, now)
            pipe = client.pipeline(transaction=False)
            pipe.llen(queue)
            pipe.llen(deadletter.key_for(queue))
            pipe.zrange(worker_presence.key_for(queue), 0, -1, withscores=True)
            queued_batches, dead_letters, stamps = await pipe.execute()
            failing_count, top_failing = await org_outcomes.failing(client, queue, now)
    except Exception as exc:  # Redis unreachable (or slow): these figures are unknown
        log.warning("ops_snapshot_redis_unavailable", error=type(exc).__name__)
        return dict(queue_depth=None, oldest_queued_seconds=None, queued_batches=None, ingresses=None,
                    live_workers=None, dead_letters=None, failing_organizations=None, top_failing=())
    oldest = min((r.oldest for r in reports if r.waiting and r.oldest is not None), default=None)
    live = worker_presence.fresh({_text(m): float(s) for m, s in stamps}, settings.worker_stale_seconds, now)
    return dict(
        queue_depth=sum(r.waiting for r in reports),
        oldest_queued_seconds=0.0 if oldest is None else max(0.0, now - oldest),
        queued_batches=int(queued_batches),
        ingresses=len(reports),
        live_workers=len(live),
        dead_letters=int(dead_letters),
        failing_organizations=failing_count,
        top_failing=tuple(top_failing),
    )


async def _from_store(engine: AsyncEngine, now: float) -> dict:
    capped = select(audit_outbox.c.seq).limit(OUTBOX_COUNT_CAP).subquery()
    try:
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            async with engine.connect() as conn:
                pending = (await conn.execute(select(func.count()).select_from(capped))).scalar_one()
                first = (await conn.execute(
                    select(audit_outbox.c.created_at).order_by(audit_outbox.c.seq).limit(1)
                )).scalar_one_or_none()
    except Exception as exc:  # store unreachable (or slow)
        log.warning("ops_snapshot_store_unavailable", error=type(exc).__name__)
        return dict(outbox_pending=None, outbox_lag_seconds=None)
    lag = 0.0 if first is None else max(0.0, now - _epoch(first))
    return dict(outbox_pending=int(pending), outbox_lag_seconds=lag)


def _epoch(value: datetime) -> float:
    """Store times are naive UTC (``infra.store.clock``)."""
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member
