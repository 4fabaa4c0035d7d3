"""What each ingress has waiting: its undecided commands, reported to Redis twice a second.

The commands an IdP's requests wait on live in the ingress that took them (its schedule, then
the batch it published) until a worker's reply or the fence decides them; the Celery list only
ever holds the few batches in flight. So "queue depth" is the ingresses' own count. Each ingress's
watchdog (``infra.redis.dispatcher``) writes one field of the hash ``scimgate:ingress-queue:<queue>``
— field its reply inbox (one per process), value ``{"waiting", "oldest", "at"}`` (``oldest``: the
epoch second the oldest undecided command was submitted; ``at``: when this was written). Readers
ignore reports older than ``FRESH_SECONDS`` (an ingress that died) and prune them after
``FORGET_AFTER_SECONDS``. The hash has one field per ingress process: reading it is bounded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

FRESH_SECONDS = 5.0
FORGET_AFTER_SECONDS = 60.0


def key_for(queue: str) -> str:
    return f"scimgate:ingress-queue:{queue}"


@dataclass(frozen=True)
class IngressQueue:
    ingress: str
    waiting: int  # undecided commands (not yet batched, or in a batch not yet answered)
    oldest: float | None  # epoch seconds the oldest of them was submitted; None when none waits
    at: float  # epoch seconds of the report


async def report(client: aioredis.Redis, queue: str, ingress: str, waiting: int, oldest: float | None) -> None:
    payload = orjson.dumps({"waiting": waiting, "oldest": oldest, "at": time.time()})
    await client.hset(key_for(queue), ingress, payload)


async def withdraw(client: aioredis.Redis, queue: str, ingress: str) -> None:
    await client.hdel(key_for(queue), ingress)


async def fresh_reports(client: aioredis.Redis, queue: str, now: float | None = None) -> list[IngressQueue]:
    """The reports of the ingresses alive now (and the long-dead ones pruned)."""
    now = time.time() if now is None else now
    raw = await client.hgetall(key_for(queue))
    reports, dead = [], []
    for field_name, value in raw.items():
        name = field_name.decode() if isinstance(field_name, bytes) else field_name
        try:
            data = orjson.loads(value)
            item = IngressQueue(name, int(data["waiting"]), data.get("oldest"), float(data["at"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            dead.append(name)
            continue
        if now - item.at > FORGET_AFTER_SECONDS:
            dead.append(name)
        elif now - item.at <= FRESH_SECONDS:
            reports.append(item)
    if dead:
        await client.hdel(key_for(queue), *dead)
    return reports
