"""The dashboard's JSON endpoints under ``/dashboard/api/`` (same session as the page).

- ``me``: who is signed in.
- ``orgs``: the health line of a page of organizations. An operator first gets the recently active
  ones (``recent=1``: the organizations of the newest log entries, newest first), then every
  organization by id (``after`` the last id of the previous page, ``limit`` at most 100); an
  organization gets its own line only.
  Each line costs two bounded, indexed statements (``infra.store.dashboard_queries``), so a page
  costs the same with ten organizations or ten thousand.
- ``log``: a search of the provisioning log (``infra.store.provisioning_log.search_async``, the
  filters of ``domain.provisioning_log.parse_query``); an organization is held to its own entries.
"""

from __future__ import annotations

from aiohttp import web

from api.dashboard.guard import session
from api.keys import ENGINE
from api.management import json_response
from domain.org_health import assess
from domain.provisioning_log import InvalidLogQuery, parse_query
from infra.store.clock import utcnow
from infra.store.dashboard_queries import org_activity, organizations_page, recently_active
from infra.store.provisioning_log import search_async

MAX_ORGS_PAGE = 100
DEFAULT_ORGS_PAGE = 25


def bad_request(message: str) -> web.Response:
    return json_response({"error": {"status": 400, "message": message}}, 400)


async def me(request: web.Request) -> web.Response:
    viewer = session(request).viewer
    return json_response({"kind": viewer.kind, "name": viewer.name, "org_id": viewer.org_id, "role": viewer.role})


async def orgs(request: web.Request) -> web.Response:
    viewer = session(request).viewer
    try:
        limit = int(request.query.get("limit", DEFAULT_ORGS_PAGE))
    except ValueError:
        return bad_request("limit must be a whole number")
    if not 1 <= limit <= MAX_ORGS_PAGE:
        return bad_request(f"limit must be between 1 and {MAX_ORGS_PAGE}")
    after = request.query.get("after") or None
    if after is not None and len(after) > 64:
        return bad_request("after must be an organization id")
    now = utcnow()
    recent = viewer.is_operator and request.query.get("recent") == "1"
    async with request.config_dict[ENGINE].connect() as conn:
        if recent:
            page = await recently_active(conn, limit=limit)
        else:
            page = await organizations_page(conn, after=after, limit=limit,
                                            only=None if viewer.is_operator else viewer.org_id)
        lines = [assess(await org_activity(conn, org_id, name, now=now), now).to_dict() for org_id, name in page]
    more = viewer.is_operator and not recent and len(page) == limit
    return json_response({"organizations": lines, "next_cursor": page[-1][0] if more else None})


async def log(request: web.Request) -> web.Response:
    viewer = session(request).viewer
    try:
        query = parse_query(dict(request.query), now=utcnow(), org_id=None if viewer.is_operator else viewer.org_id,
                            allow_org=viewer.is_operator)
    except InvalidLogQuery as error:
        return bad_request(str(error))
    page = await search_async(request.config_dict[ENGINE], query)
    return json_response(page.to_dict())
