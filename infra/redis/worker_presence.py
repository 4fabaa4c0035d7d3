"""Which workers are alive: each worker stamps a sorted set every second; readers count the fresh.

Operators see it in ``/readyz`` (``workers``): with none alive, reads are still served but every
write will be answered 503 once its deadline passes.
"""

from __future__ import annotations

import time

import redis
import redis.asyncio as aioredis

WORKERS_KEY = "scimgate:workers"
FRESH_SECONDS = 5.0


def stamp(client: redis.Redis, worker_id: str, queue: str) -> None:
    now = time.time()
    key = f"{WORKERS_KEY}:{queue}"
    pipe = client.pipeline(transaction=False)
    pipe.zadd(key, {worker_id: now})
    pipe.zremrangebyscore(key, "-inf", now - 10 * FRESH_SECONDS)
    pipe.execute()


def leave(client: redis.Redis, worker_id: str, queue: str) -> None:
    client.zrem(f"{WORKERS_KEY}:{queue}", worker_id)


async def live_workers(client: aioredis.Redis, queue: str) -> int:
    return await client.zcount(f"{WORKERS_KEY}:{queue}", time.time() - FRESH_SECONDS, "+inf")
