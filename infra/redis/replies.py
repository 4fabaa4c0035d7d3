"""Request-reply over Redis lists.

Each ingress process owns one reply list (``scimgate:reply:<process id>``) and one connection
that blocks on it; a worker pushes each command's reply onto the list named in the command. So
a waiting request costs a dict entry and a future: no connection, thread or poll of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

import orjson
import redis
import redis.asyncio as aioredis

from domain.commands import Reply
from infra.logging import get_logger

REPLY_TTL_SECONDS = 120
log = get_logger(__name__)


def new_reply_key() -> str:
    return f"scimgate:reply:{uuid.uuid4().hex}"


def add_replies(pipe: redis.client.Pipeline, replies: Iterable[tuple[str, Reply]]) -> None:
    """Queue a push of each ``(reply_to, reply)`` on a pipeline (worker side, after commit)."""
    by_key: dict[str, list[bytes]] = {}
    for reply_to, reply in replies:
        by_key.setdefault(reply_to, []).append(orjson.dumps(reply.to_wire()))
    for key, payloads in by_key.items():
        pipe.rpush(key, *payloads)
        pipe.expire(key, REPLY_TTL_SECONDS)


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Stop a background task of ours and wait until it has."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class ReplyListener:
    """Resolves the futures of waiting requests as their replies arrive (ingress side)."""

    def __init__(self, redis_url: str, key: str | None = None):
        self.redis_url = redis_url
        self.key = key or new_reply_key()
        self._waiting: dict[str, asyncio.Future] = {}
        self._task: asyncio.Task | None = None
        self._client: aioredis.Redis | None = None

    def expect(self, command_id: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        return future

    def forget(self, command_id: str) -> None:
        self._waiting.pop(command_id, None)

    async def start(self) -> None:
        self._client = aioredis.from_url(self.redis_url)
        self._task = asyncio.create_task(self._run(), name="reply-listener")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._client:
            await self._client.aclose()

    def _deliver(self, payload: bytes) -> None:
        reply = Reply.from_wire(orjson.loads(payload))
        future = self._waiting.pop(reply.command_id, None)
        if future is not None and not future.done():
            future.set_result(reply)

    async def _run(self) -> None:
        assert self._client is not None
        while True:
            try:
                item = await self._client.blpop([self.key], timeout=1)
                if item is None:
                    continue
                self._deliver(item[1])
                more = await self._client.lpop(self.key, 512)
                for payload in more or ():
                    self._deliver(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone for a moment: keep listening
                log.warning("reply_listener_error", error=str(exc))
                await asyncio.sleep(0.5)
