"""The audit stream: a Redis Stream of JSON events that dashboards and ``scimgate audit tail`` read."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import redis
import redis.asyncio as aioredis


def add_events(pipe: redis.client.Pipeline, stream: str, events: list[dict], *, maxlen: int) -> None:
    """Queue an XADD of each event on a pipeline."""
    for event in events:
        pipe.xadd(stream, {"event": orjson.dumps(event)}, maxlen=maxlen, approximate=True)


async def publish_event_async(client: aioredis.Redis, stream: str, event: dict, *, maxlen: int) -> None:
    await client.xadd(stream, {"event": orjson.dumps(event)}, maxlen=maxlen, approximate=True)


def _decode(entries) -> Iterator[tuple[str, dict]]:
    for entry_id, fields in entries:
        raw = fields.get(b"event") or fields.get("event")
        yield (entry_id.decode() if isinstance(entry_id, bytes) else entry_id), orjson.loads(raw)


def read_events(
    client: redis.Redis, stream: str, *, org_id: str | None = None, follow: bool = False, count: int = 100
) -> Iterator[tuple[str, dict]]:
    """The stream's most recent ``count`` events, oldest first; with ``follow``, then every new one."""
    last_id = "$"
    recent = list(reversed(client.xrevrange(stream, count=count)))
    for entry_id, event in _decode(recent):
        last_id = entry_id
        if org_id is None or event.get("org_id") == org_id:
            yield entry_id, event
    if not follow:
        return
    if last_id == "$":
        info = client.xinfo_stream(stream) if client.exists(stream) else None
        last_id = (info["last-generated-id"].decode() if info else "0-0")
    while True:
        response = client.xread({stream: last_id}, block=1000, count=100)
        for _name, entries in response or ():
            for entry_id, event in _decode(entries):
                last_id = entry_id
                if org_id is None or event.get("org_id") == org_id:
                    yield entry_id, event
