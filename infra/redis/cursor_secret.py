"""The HMAC key of cursors, shared by every ingress of a deployment."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from domain.errors import Unavailable
from infra.config import Settings
from infra.logging import get_logger

log = get_logger(__name__)

#: The Redis key of the random cursor secret shared by every ingress of a deployment.
CURSOR_SECRET_KEY = "scimgate:cursor-secret"


class CursorKey:
    """The HMAC key of cursors: from ``SCIMGATE_CURSOR_SECRET`` when set; otherwise a random
    32-byte secret kept in Redis (``SET … NX`` by whichever ingress starts first, then ``GET``),
    so that every ingress process of one deployment accepts the others' cursors and nobody can
    forge one from what they know of the deployment. Fetched once and cached for the process.
    (Integrity, not confidentiality: a cursor only ever positions a listing the caller's token
    may read anyway, and it is checked against the URL's organization.)"""

    def __init__(self, settings: Settings, redis):
        self._redis = redis
        self._key = _derive(settings.cursor_secret.encode()) if settings.cursor_secret else None

    async def get(self) -> bytes:
        if self._key is None:
            try:
                async with asyncio.timeout(5):
                    self._key = _derive(await _shared_secret(self._redis))
            except Exception as exc:  # Redis down: no cursor can be checked or made right now
                log.warning("cursor_secret_unavailable", error=str(exc)[:200])
                raise Unavailable(
                    "Cursor paging is unavailable for a moment; retry the request", headers={"Retry-After": "5"}
                ) from None
        return self._key


def _derive(secret: bytes) -> bytes:
    return hashlib.sha256(b"scimgate-cursor:" + secret).digest()


async def _shared_secret(redis) -> bytes:
    for _ in range(3):
        await redis.set(CURSOR_SECRET_KEY, secrets.token_hex(32), nx=True)
        value = await redis.get(CURSOR_SECRET_KEY)
        if value:
            return value if isinstance(value, bytes) else value.encode()
    raise RuntimeError(f"{CURSOR_SECRET_KEY} could not be read back from Redis")
