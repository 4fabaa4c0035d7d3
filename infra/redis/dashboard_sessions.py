"""Ops dashboard sessions, kept server-side in Redis with an expiry.

A session is a random id (32 bytes from ``secrets``) that only the browser's cookie holds; Redis
holds, under the SHA-256 of that id (so a Redis dump names no live cookie), who signed in (a
``domain.viewers.Viewer``: never a token) and the session's CSRF token, for ``ttl`` seconds from
sign-in. Sign-out deletes the key; an expired key is simply gone.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from domain.viewers import Viewer

PREFIX = "scimgate:dashboard:session:"


@dataclass(frozen=True)
class Session:
    id: str
    viewer: Viewer
    csrf: str


def _key(session_id: str) -> str:
    return PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


class DashboardSessions:
    def __init__(self, client: aioredis.Redis, ttl_seconds: int):
        self.client = client
        self.ttl = max(1, int(ttl_seconds))

    async def create(self, viewer: Viewer) -> Session:
        session = Session(secrets.token_urlsafe(32), viewer, secrets.token_urlsafe(32))
        record = {"viewer": viewer.to_dict(), "csrf": session.csrf}
        await self.client.set(_key(session.id), orjson.dumps(record), ex=self.ttl)
        return session

    async def get(self, session_id: str) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        raw = await self.client.get(_key(session_id))
        if raw is None:
            return None
        try:
            record = orjson.loads(raw)
            return Session(session_id, Viewer.from_dict(record["viewer"]), str(record["csrf"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None

    async def delete(self, session_id: str) -> None:
        if session_id:
            await self.client.delete(_key(session_id))
