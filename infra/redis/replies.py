"""Request-reply over Redis lists.

Each ingress process owns one inbox (``scimgate:reply:<process id>``) and one connection that
blocks on it. A worker pushes two kinds of message onto the inbox named in a command:

- a **claim** when it starts applying a batch (``{"claim": <batch id>, "worker": <worker id>}``),
  so the ingress knows whose heartbeat to watch for that batch;
- a **reply** per decided command (``Reply.to_wire()``).

So a waiting request costs a dict entry and a future: no connection, thread or poll of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import cast
from collections.abc import Callable, Iterable

import orjson
import redis
import redis.asyncio as aioredis

from domain.commands import Reply
from infra.logging import get_logger

REPLY_TTL_SECONDS = 120
# After Redis comes back, the inbox is read again within this.
RECONNECT_PAUSE_SECONDS = 0.1
log = get_logger(__name__)


def new_reply_key() -> str:
    return f"scimgate:reply:{uuid.uuid4().hex}"


def _push(pipe: redis.client.Pipeline, by_key: dict[str, list[bytes]]) -> None:
    for key, payloads in by_key.items():
        pipe.rpush(key, *payloads)
        pipe.expire(key, REPLY_TTL_SECONDS)


def add_replies(pipe: redis.client.Pipeline, replies: Iterable[tuple[str, Reply]]) -> None:
    """Queue a push of each ``(reply_to, reply)`` on a pipeline (worker side, after commit)."""
    by_key: dict[str, list[bytes]] = {}
    for reply_to, reply in replies:
        by_key.setdefault(reply_to, []).append(orjson.dumps(reply.to_wire()))
    _push(pipe, by_key)


def add_claims(pipe: redis.client.Pipeline, reply_tos: Iterable[str], batch_id: str, worker: str) -> None:
    """Queue a claim of batch ``batch_id`` by ``worker`` to every inbox that awaits it."""
    claim = orjson.dumps({"claim": batch_id, "worker": worker})
    _push(pipe, {key: [claim] for key in set(reply_tos)})


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
    """Hands each message of the process's inbox to ``on_reply`` or ``on_claim`` (ingress side)."""

    def __init__(
        self,
        redis_url: str,
        on_reply: Callable[[Reply], None],
        on_claim: Callable[[str, str], None],
        key: str | None = None,
    ):
        self.redis_url = redis_url
        self.key = key or new_reply_key()
        self.on_reply = on_reply
        self.on_claim = on_claim
        self._task: asyncio.Task | None = None
        self._client: aioredis.Redis | None = None

    async def start(self) -> None:
        self._client = aioredis.from_url(self.redis_url)
        self._task = asyncio.create_task(self._run(), name="reply-listener")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._client:
            await self._client.aclose()

    def _deliver(self, payload: bytes | str) -> None:
        try:
            message = orjson.loads(payload)
            if "claim" in message:
                self.on_claim(message["claim"], message["worker"])
            else:
                self.on_reply(Reply.from_wire(message))
        except Exception as exc:  # a malformed message must not stop the inbox
            log.warning("inbox_message_unreadable", error=str(exc)[:200])

    async def _run(self) -> None:
        assert self._client is not None
        while True:
            try:
                item = await self._client.blpop([self.key], timeout=1)
                if item is None:
                    continue
                self._deliver(item[1])
                more = cast(list[bytes] | None, await self._client.lpop(self.key, 512))
                for payload in more or ():
                    self._deliver(payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis gone for a moment: keep listening
                log.warning("reply_listener_error", error=str(exc))
                await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
