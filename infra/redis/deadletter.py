"""Dead letters: commands set aside because they made the workers applying them fail.

A command is dead-lettered when its worker was lost twice while holding it (the ingress decides)
or when its message was delivered more than ``max_deliveries`` times (a worker decides). It is
then decided as failed in the ledger (500, never applied, audited), and an entry describing it —
ids, organization, kind, why; never its body — is kept on a capped Redis list,
``scimgate:deadletter:<queue>``, newest first, for operators (``scimgate deadletters``).
"""

from __future__ import annotations

import time

import orjson
import redis
import redis.asyncio as aioredis

from domain.commands import Command

KEEP = 10_000


def key_for(queue: str) -> str:
    return f"scimgate:deadletter:{queue}"


def entry(command: Command, *, reason: str, deliveries: int, source: str) -> dict:
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command_id": command.id,
        "org_id": command.org_id,
        "kind": command.kind,
        "resource_id": command.resource_id,
        "request_id": command.request_id,
        "reason": reason,
        "deliveries": deliveries,
        "source": source,
    }


def record(client: redis.Redis, queue: str, entries: list[dict]) -> None:
    if not entries:
        return
    pipe = client.pipeline(transaction=False)
    pipe.lpush(key_for(queue), *(orjson.dumps(item) for item in entries))
    pipe.ltrim(key_for(queue), 0, KEEP - 1)
    pipe.execute()


async def record_async(client: aioredis.Redis, queue: str, item: dict) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.lpush(key_for(queue), orjson.dumps(item))
    pipe.ltrim(key_for(queue), 0, KEEP - 1)
    await pipe.execute()


def recent(client: redis.Redis, queue: str, count: int = 100) -> list[dict]:
    return [orjson.loads(raw) for raw in client.lrange(key_for(queue), 0, count - 1)]
