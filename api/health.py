"""Health and metrics endpoints for operators and orchestrators: /healthz (process up), /readyz
(store and Redis reachable, writes servable), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from api.keys import ENGINE, REDIS, SETTINGS
from infra.metrics.exposition import scrape
from infra.metrics.snapshot import SnapshotCollector
from infra.ops_snapshot import read_snapshot
from infra.redis.worker_presence import live_workers


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """503 when the store or Redis is unreachable. With both up the ingress is ready (reads are
    served), and ``writes`` says whether a live worker is there to apply them: without one,
    writes are refused at once with 503."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with request.config_dict[ENGINE].connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unavailable: {type(exc).__name__}"
    workers = None
    try:
        settings = request.config_dict[SETTINGS]
        async with asyncio.timeout(2):
            await request.config_dict[REDIS].ping()
            workers = await live_workers(request.config_dict[REDIS], settings.queue_name, settings.worker_stale_seconds)
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        writes = "unavailable: the store or Redis cannot be reached"
    elif not workers:
        writes = "unavailable: no live worker"
    else:
        writes = "ok"
    body = {"status": "ok" if ready else "unavailable", "checks": checks, "workers": workers, "writes": writes}
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Every process's series (multiprocess mode under ``scimgate run``) and the pipeline's
    snapshot gauges, read now (``infra.metrics.snapshot``)."""
    app = request.config_dict
    snapshot = await read_snapshot(app[REDIS], app[ENGINE], app[SETTINGS])
    response = web.Response(body=scrape(SnapshotCollector(snapshot)))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response
