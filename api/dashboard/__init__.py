"""The live ops dashboard: an aiohttp sub-application under ``/dashboard`` of the ingress.

Its own middleware (``guard``: session auth, CSRF, error pages) and response headers (CSP, no
framing, no-store) fence every request routed into it; its cleanup context starts the process's
one reader of the audit stream (``live.LiveFeed``) on a Redis client of its own. Static files
(the page's JS modules, CSS and the vendored uPlot) ship inside the package.
"""

from __future__ import annotations

import time
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web

from api.dashboard import data, guard, pages, signin, stream
from api.dashboard.keys import FEED, SESSIONS, SIGNIN_BUCKETS
from api.dashboard.live import LiveFeed
from domain.ratelimit import Budget, Buckets
from infra.config import Settings
from infra.redis.dashboard_sessions import DashboardSessions

STATIC_DIR = Path(__file__).parent / "static"
# Sign-in attempts per source address: bursts of 20, then one every 3 s.
SIGNIN_BUDGET = Budget(rate=1 / 3, burst=20)


async def page(request: web.Request) -> web.Response:
    current = guard.session(request)
    return pages.dashboard_page(current.viewer, current.csrf)


def dashboard_app(settings: Settings, *, signin_budget: Budget = SIGNIN_BUDGET, snapshot=None) -> web.Application:
    """``snapshot``: an async callable returning the pipeline's state as a dict (operators see it)."""
    app = web.Application(middlewares=[guard.guard])
    app.on_response_prepare.append(guard.security_headers)
    app[SIGNIN_BUCKETS] = Buckets(signin_budget, clock=time.monotonic, capacity=10_000)

    async def live(app: web.Application):
        sessions_client = aioredis.from_url(settings.redis_url)
        stream_client = aioredis.from_url(settings.redis_url)  # XREAD BLOCK holds its connection
        app[SESSIONS] = DashboardSessions(sessions_client, settings.dashboard_session_seconds)
        feed = LiveFeed(stream_client, settings.audit_stream, snapshot=snapshot)
        app[FEED] = feed
        await feed.start()
        yield
        await feed.stop()
        await stream_client.aclose()
        await sessions_client.aclose()

    app.cleanup_ctx.append(live)
    app.router.add_get("", page)
    app.router.add_get("/", page)
    app.router.add_get("/signin", signin.signin_form)
    app.router.add_post("/signin", signin.signin)
    app.router.add_post("/signout", signin.signout)
    app.router.add_get("/events", stream.events)
    app.router.add_get("/api/me", data.me)
    app.router.add_get("/api/orgs", data.orgs)
    app.router.add_get("/api/log", data.log)
    app.router.add_static("/static", STATIC_DIR, follow_symlinks=False)
    return app
