"""The dashboard's JSON endpoints under ``/dashboard/api/`` (same session as the page)."""

from __future__ import annotations

import orjson
from aiohttp import web

from api.dashboard.guard import session


def json_response(body, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def me(request: web.Request) -> web.Response:
    viewer = session(request).viewer
    return json_response({"kind": viewer.kind, "name": viewer.name, "org_id": viewer.org_id, "role": viewer.role})
