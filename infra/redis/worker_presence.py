"""Which workers are alive: each worker stamps a sorted set twice a second; readers judge freshness.

The set is ``scimgate:workers:<queue>``, member ``<hostname>:<pid>``, score the epoch second of
the last stamp. A worker stamps only while it makes progress (``worker.heartbeat``): a worker
that was killed, stopped or is stuck in a task stops stamping, and once its stamp is older than
``stale_after`` seconds every ingress treats the batches it claimed as lost (``dispatcher``) and
``scimgate run`` replaces it. Operators see the count in ``/readyz``.
"""

from __future__ import annotations

import time
from typing import cast

import redis
import redis.asyncio as aioredis

WORKERS_KEY = "scimgate:workers"
STAMP_INTERVAL_SECONDS = 0.5
# Stamps older than this are pruned from the set by the stamping workers themselves.
FORGET_AFTER_SECONDS = 60.0


def key_for(queue: str) -> str:
    return f"{WORKERS_KEY}:{queue}"


def worker_id(hostname: str, pid: int) -> str:
    return f"{hostname}:{pid}"


def stamp(client: redis.Redis, worker: str, queue: str) -> None:
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(key_for(queue), {worker: now})
    pipe.zremrangebyscore(key_for(queue), "-inf", now - FORGET_AFTER_SECONDS)
    pipe.execute()


def leave(client: redis.Redis, worker: str, queue: str) -> None:
    client.zrem(key_for(queue), worker)


def last_stamp(client: redis.Redis, worker: str, queue: str) -> float | None:
    score = client.zscore(key_for(queue), worker)
    return None if score is None else float(score)


async def stamps(client: aioredis.Redis, queue: str) -> dict[str, float]:
    """Every worker's last stamp (epoch seconds)."""
    rows = cast(list[tuple[bytes | str, float]], await client.zrange(key_for(queue), 0, -1, withscores=True))
    return {(member.decode() if isinstance(member, bytes) else member): float(score) for member, score in rows}


def fresh(all_stamps: dict[str, float], stale_after: float, now: float | None = None) -> set[str]:
    now = time.time() if now is None else now
    return {worker for worker, at in all_stamps.items() if now - at <= stale_after}


async def live_workers(client: aioredis.Redis, queue: str, stale_after: float) -> int:
    return len(fresh(await stamps(client, queue), stale_after))


class WorkerRoster:
    """An ingress's view of the live workers, refreshed by its watchdog (and on demand)."""

    def __init__(self, client: aioredis.Redis, queue: str, stale_after: float):
        self.client = client
        self.queue = queue
        self.stale_after = stale_after
        self.stamps: dict[str, float] | None = None  # None: not known (never read, or Redis down)

    async def refresh(self) -> dict[str, float] | None:
        try:
            self.stamps = await stamps(self.client, self.queue)
        except Exception:  # Redis unreachable: liveness unknown, judge nothing
            self.stamps = None
        return self.stamps

    def is_live(self, worker: str) -> bool:
        return self.stamps is None or (worker in self.stamps and time.time() - self.stamps[worker] <= self.stale_after)

    def live_count(self) -> int | None:
        return None if self.stamps is None else len(fresh(self.stamps, self.stale_after))

    async def none_alive(self) -> bool:
        """True only when Redis says so: no worker has stamped recently (checked afresh)."""
        if self.live_count() != 0:
            return False
        await self.refresh()
        return self.live_count() == 0
