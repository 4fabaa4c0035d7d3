"""The provisioning log over HTTP, on the management sub-application (``api.management``).

- ``GET /api/v1/organizations/{organization_id}/provisioning-log``: an organization's own log,
  for any of its tokens (the sub-application's ``org_token`` middleware has checked it).
- ``GET /api/v1/provisioning-log``: every organization's, for operator tokens only (``org``
  narrows it to one); an organization's token gets 403, no token or an unknown one 401 (audited).

Filters (query string): ``user``, ``team``, ``action``, ``outcome``, ``idp``, ``requestId``,
``commandId``, ``since``, ``until`` (ISO 8601, or ``30m``/``24h``/``7d``), ``limit``, ``cursor``.
Answer: ``{"entries": [...], "next_cursor": ...}``, newest first; a filter it cannot read is a
400 JSON error (``domain.provisioning_log``).
"""

from __future__ import annotations

from aiohttp import web

from api import context
from api.keys import AUTHENTICATOR, ENGINE
from api.management import ApiError, json_response
from api.auth import bearer_token
from domain import events as ev
from domain.provisioning_log import InvalidLogQuery, LogQuery, parse_query
from infra.store.clock import utcnow
from infra.store.operators import OperatorPrincipal
from infra.store.provisioning_log import search_async


def _query(request: web.Request, *, org_id: str | None) -> LogQuery:
    try:
        return parse_query(dict(request.query.items()), now=utcnow(), org_id=org_id, allow_org=org_id is None)
    except InvalidLogQuery as error:
        raise ApiError(400, "invalid_filter", str(error)) from None


async def organization_log(request: web.Request) -> web.Response:
    query = _query(request, org_id=request.match_info["org_id"])
    return json_response((await search_async(request.config_dict[ENGINE], query)).to_dict())


async def _operator(request: web.Request) -> OperatorPrincipal:
    token = bearer_token(request.headers.get("Authorization"))
    principal = await request.config_dict[AUTHENTICATOR].principal_for(token) if token else None
    if isinstance(principal, OperatorPrincipal):
        return principal
    if principal is not None:
        error = ApiError(403, "operator_required",
                         "The provisioning log across organizations is for operator tokens; an organization's "
                         "token reads /api/v1/organizations/{organization_id}/provisioning-log")
    else:
        error = ApiError(401, "unauthorized", "Authentication required: send Authorization: Bearer <operator token>")
    event = ev.EVENTS.refusal(
        ev.ORG_AUTH_REFUSED, org_id=getattr(getattr(principal, "org", None), "id", None), method=request.method,
        path=request.path, reason=error.message, status=error.status,
        token_id=getattr(principal, "token_id", None), user_agent=request.headers.get("User-Agent", "")[:256],
        request_id=request.get("request_id"), detail={"via": "api"},
    )
    await context.publish_refusal(request, event)
    raise error


async def every_organization_log(request: web.Request) -> web.Response:
    await _operator(request)
    query = _query(request, org_id=None)
    return json_response((await search_async(request.config_dict[ENGINE], query)).to_dict())
