"""The aiohttp application factory of the ingress."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web

from api import health, management
from api.dashboard import dashboard_app
from api.auth import Authenticator
from api.keys import AUTHENTICATOR, CURSOR_KEY, DISPATCHER, ENGINE, REDIS, SETTINGS
from api.limits import rate_limits
from api.middleware import lenient_paths, request_context, scim_errors
from api.scim_app import SCIM_PREFIX, scim_app
from domain.errors import Unavailable
from infra.config import Settings
from infra.redis.cursor_secret import CursorKey
from infra.ops_snapshot import read_snapshot
from infra.redis.dispatcher import CommandDispatcher
from infra.store.engine import make_async_engine
from infra.store.fence import StoreFence


async def _store(app: web.Application):
    engine = make_async_engine(app[SETTINGS].database_url)
    app[ENGINE] = engine
    app[AUTHENTICATOR] = Authenticator(engine, cache_seconds=app[SETTINGS].auth_cache_seconds)
    yield
    await engine.dispose()


async def _redis(app: web.Application):
    client = aioredis.from_url(app[SETTINGS].redis_url)
    app[REDIS] = client
    yield
    await client.aclose()


async def _cursor_key(app: web.Application):
    """The cursor key, fetched at start (or on first use, if Redis is not reachable yet)."""
    holder = CursorKey(app[SETTINGS], app[REDIS])
    try:
        await holder.get()
    except Unavailable:
        pass  # logged; the first cursor request tries again
    app[CURSOR_KEY] = holder
    yield


async def _dispatcher(app: web.Application):
    settings = app[SETTINGS]
    dispatcher = CommandDispatcher(settings, StoreFence(app[ENGINE], patience=settings.fence_patience))
    await dispatcher.start()
    app[DISPATCHER] = dispatcher
    yield
    await dispatcher.stop()


def create_app(settings: Settings) -> web.Application:
    settings = settings.resolved()
    app = web.Application(
        middlewares=[request_context, scim_errors, rate_limits(settings), lenient_paths],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_store, _redis, _dispatcher])
    app.cleanup_ctx.append(_cursor_key)  # after _redis: the shared cursor secret
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.add_subapp(SCIM_PREFIX, scim_app())  # the SCIM API: every request authorised by its middleware
    app.add_subapp(management.API_PREFIX, management.management_app())  # the organization management API

    async def snapshot() -> dict:
        return (await read_snapshot(app[REDIS], app[ENGINE], settings)).to_dict()

    app.add_subapp("/dashboard", dashboard_app(settings, snapshot=snapshot))  # the live ops dashboard
    return app
