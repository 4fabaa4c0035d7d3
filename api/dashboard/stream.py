"""``GET /dashboard/events``: the browser's server-sent-events stream (``api.dashboard.live``).

The first message is the catch-up (since ``Last-Event-ID``, or the recent events); then one
message per tick while there is news, a comment every 15 s to keep proxies from closing an idle
stream. Every 30 s the session is looked up again, so signing out, its expiry or its token's
revocation ends the stream.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from api.dashboard.guard import session, session_alive
from api.dashboard.keys import FEED

KEEPALIVE_SECONDS = 15.0
RECHECK_SECONDS = 30.0


async def events(request: web.Request) -> web.StreamResponse:
    current = session(request)
    feed = request.config_dict[FEED]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    sub = feed.subscribe(current.viewer)  # before the catch-up: nothing falls between the two
    transport = request.transport
    sub.close = transport.close if transport is not None else None
    checked = time.monotonic()
    last_event_id = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    try:
        await response.write(b"retry: 1000\n\n")
        await response.write(await feed.catch_up(current.viewer, last_event_id))
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                message = b": keep-alive\n\n"
            if message is None:  # dropped (too slow) or shutting down: the browser reconnects
                break
            await response.write(message)
            if time.monotonic() - checked > RECHECK_SECONDS:
                checked = time.monotonic()
                if not await session_alive(request, current):
                    break
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        feed.unsubscribe(sub)
    return response
