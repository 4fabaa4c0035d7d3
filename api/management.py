"""The organization management API: JSON over HTTP under ``/api/v1/organizations/{org_id}``.

What an organization's admins (and the CLI's twin commands) use to see the organization as SCIM
left it and to fix what the IdP cannot: list and show users and Teams, delete a leftover account,
manage Teams made before SCIM was turned on, and turn SCIM on or off; its tokens (``api.tokens``)
and its provisioning log (``api.provisioning_log``, also across organizations for operators).

Auth: the same Organization API tokens as SCIM (``Authorization: Bearer``). Reads take a Member or
Owner token of the organization; writes take an Owner token. A token of another organization gets
exactly the answer an unknown organization gets (401). SCIM need not be on.

Writes go to the store directly, in one transaction of the ingress, not through the SCIM command
pipeline (Redis → worker). The pipeline exists for IdP traffic: high volume, retried by the IdP,
needing coalescing, exactly-once redelivery and deadlines. Management writes are rare, made by a
person or a script that sees the answer, and must be checked against the organization's state
(SCIM on, Team IdP-managed) under the organization row's lock; a direct transaction gives the same
guarantees (a 2xx means committed; the audit event is in the same transaction's outbox, relayed to
the Redis stream by the worker's relay thread) with less machinery. The rules themselves live in
the management service (``domain.management``), shared with the CLI; this module runs it on the
ingress's connection (``AsyncConnection.run_sync``), maps its errors to HTTP statuses
(``STATUSES``) and audits the refusals of its rules.

Errors are JSON ``{"error": {"status": …, "code": …, "message": …}}``, never a SCIM error body.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from api import context
from api.auth import WWW_AUTHENTICATE, bearer_token
from api.keys import AUTHENTICATOR, ENGINE, SETTINGS
from api.middleware import OUTAGE_RETRY_AFTER_SECONDS
from api.requests import parse_json, read_body
from domain import events as ev
from domain.errors import PayloadTooLarge, RequestTimeout, ScimError
from domain.management import Management
from domain.management_errors import (
    EnterpriseTierRequired,
    InvalidRequest,
    ManagementError,
    NameTaken,
    NotFound,
    Refused,
    ScimManaged,
)
from domain.organizations import ManagementActor
from infra.logging import get_logger
from infra.outages import is_transient, is_unavailable
from infra.store.organizations import TokenGrant
from infra.store.unit_of_work import management_service

log = get_logger(__name__)

JSON = "application/json"
MAX_BODY_BYTES = 256 * 1024

# What each of the management service's errors answers (the first class that matches).
STATUSES: tuple[tuple[type[ManagementError], int], ...] = (
    (NotFound, 404),
    (InvalidRequest, 400),
    (EnterpriseTierRequired, 403),
    (ScimManaged, 409),
    (NameTaken, 409),
)


def status_of(error: ManagementError) -> int:
    return next((status for kind, status in STATUSES if isinstance(error, kind)), 400)


class ApiError(Exception):
    """A refusal of this API itself (auth, body, method): an HTTP status, a code, a message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def json_response(body, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, charset="utf-8")


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    response = json_response({"error": {"status": status, "code": code, "message": message}}, status)
    if headers:
        response.headers.update(headers)
    return response


@web.middleware
async def json_errors(request: web.Request, handler):
    """Every failure under the management API becomes its JSON error body (never a SCIM error,
    never a traceback): this sub-application's own error fence."""
    try:
        return await handler(request)
    except ApiError as error:
        headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if error.status == 401 else None
        return error_response(error.status, error.code, error.message, headers)
    except ManagementError as error:
        return error_response(status_of(error), error.code, error.message)
    except web.HTTPMethodNotAllowed as not_allowed:
        allowed = sorted(not_allowed.allowed_methods)
        return error_response(405, "method_not_allowed",
                              f"{request.method} is not allowed here; use {', '.join(allowed)}",
                              {"Allow": ", ".join(allowed)})
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        code = {404: "not_found", 413: "body_too_large"}.get(http_error.status, "http_error")
        message = "No such endpoint" if http_error.status == 404 else http_error.reason
        return error_response(http_error.status, code, message)
    except Exception as error:
        if is_unavailable(error) or is_transient(error):
            log.warning("backing_service_unavailable", path=request.path, error=str(error)[:200])
            message = "The service is temporarily unavailable; nothing was changed. Retry the request."
            return error_response(503, "unavailable", message, {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
        log.exception("management_unhandled_error", path=request.path, method=request.method)
        return error_response(500, "internal_error", "Internal server error")


# -- auth ---------------------------------------------------------------------------------------


async def _audit_auth_refusal(request: web.Request, error: ApiError, token_id: str | None) -> None:
    event = ev.EVENTS.refusal(
        ev.ORG_AUTH_REFUSED,
        org_id=request.match_info["org_id"],
        method=request.method,
        path=request.path,
        reason=error.message,
        status=error.status,
        token_id=token_id,
        user_agent=request.headers.get("User-Agent", "")[:256],
        request_id=request.get("request_id"),
        detail={"via": "api"},
    )
    await context.publish_refusal(request, event)


async def _authorize(request: web.Request, *, write: bool) -> TokenGrant:
    org_id = request.match_info["org_id"]
    token = bearer_token(request.headers.get("Authorization"))
    error: ApiError | None = None
    grant = None
    if token is None:
        error = ApiError(
            401, "unauthorized", "Authentication required: send Authorization: Bearer <Organization API token>"
        )
    else:
        grant = await request.config_dict[AUTHENTICATOR].grant_for(token)
        if grant is None or grant.org.id != org_id:
            error = ApiError(401, "invalid_token", f"The token is not valid for organization {org_id}")
            grant = None
        elif write and grant.role != "owner":
            error = ApiError(
                403, "owner_required", "This change requires an Organization API token with the Owner role"
            )
    if error is not None:
        await _audit_auth_refusal(request, error, grant.token_id if grant else None)
        raise error
    assert grant is not None
    return grant


READ_METHODS = frozenset({"GET", "HEAD"})
_GRANT = web.RequestKey("management_grant", TokenGrant) if hasattr(web, "RequestKey") else "scimgate.management_grant"


@web.middleware
async def org_token(request: web.Request, handler):
    """Every route of an organization answers only a token of that organization: any role
    reads, only an Owner writes. Refusals are audited. (404/405 need no token.)"""
    if "org_id" in request.match_info:
        request[_GRANT] = await _authorize(request, write=request.method not in READ_METHODS)
    return await handler(request)


def grant_of(request: web.Request) -> TokenGrant:
    """The grant the ``org_token`` middleware authorised this request of an organization with."""
    return request[_GRANT]


def _actor(request: web.Request, grant: TokenGrant) -> ManagementActor:
    return ManagementActor(
        via="api",
        token_id=grant.token_id,
        user_agent=request.headers.get("User-Agent", "")[:256],
        request_id=request.get("request_id"),
    )


async def _body(request: web.Request) -> dict:
    # Read and parsed with the bounds of every body of the ingress (size, read time, depth).
    try:
        raw = await read_body(request, MAX_BODY_BYTES, request.config_dict[SETTINGS].body_timeout)
        body = parse_json(raw) if raw.strip() else None
    except PayloadTooLarge:
        raise ApiError(413, "body_too_large", f"The request body must be at most {MAX_BODY_BYTES} bytes") from None
    except RequestTimeout as error:
        raise ApiError(408, "body_timeout", error.detail) from None
    except ScimError as error:
        raise ApiError(400, "invalid_json", error.detail) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object")
    return body


# -- running the service ------------------------------------------------------------------------


TRANSIENT_ATTEMPTS = 3


async def _service(request: web.Request, use):
    """``use(management)`` on one of the ingress's store connections (the service is synchronous).
    A deadlock with a concurrent writer (the worker's batch) rolled everything back: try again."""
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            async with request.config_dict[ENGINE].connect() as conn:
                return await conn.run_sync(lambda sync_conn: use(management_service(sync_conn)))
        except Exception as error:
            if attempt == TRANSIENT_ATTEMPTS or not is_transient(error):
                raise
            log.warning("management_retry_transient", attempt=attempt, error=str(error)[:200])
            await asyncio.sleep(0.02 * attempt)


async def _read(request: web.Request, use):
    return await _service(request, lambda m: use(m, request.match_info["org_id"]))


async def _write(request: web.Request, change):
    """``change(management, org_id, actor)``; a refusal of the rules is audited."""
    org_id = request.match_info["org_id"]
    actor = _actor(request, request[_GRANT])
    try:
        return await _service(request, lambda m: change(m, org_id, actor))
    except Refused as refusal:
        await _audit_refusal(request, refusal, actor)
        raise


async def _audit_refusal(request: web.Request, refusal: Refused, actor: ManagementActor) -> None:
    try:
        await _service(request, lambda m: m.record_refusal(refusal, actor, status=status_of(refusal)))
    except Exception as exc:  # the refusal stands even if its audit cannot be written
        log.warning("refusal_audit_failed", error=str(exc))


# -- handlers -----------------------------------------------------------------------------------


async def show_organization(request: web.Request) -> web.Response:
    return json_response(await _read(request, Management.organization))


async def list_users(request: web.Request) -> web.Response:
    query = request.query
    return json_response(await _read(request, lambda m, org: m.users(org, query.get("page"), query.get("pageSize"))))


async def show_user(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    return json_response(await _read(request, lambda m, org: m.user(org, user_id)))


async def delete_user(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    await _write(request, lambda m, org, actor: m.delete_user(org, user_id, actor))
    return web.Response(status=204)


async def list_teams(request: web.Request) -> web.Response:
    query = request.query
    return json_response(await _read(request, lambda m, org: m.teams(org, query.get("page"), query.get("pageSize"))))


async def show_team(request: web.Request) -> web.Response:
    query = request.query
    team_id = request.match_info["team_id"]
    return json_response(
        await _read(request, lambda m, org: m.team(org, team_id, query.get("page"), query.get("pageSize")))
    )


def _user_ids(body: dict, *, required: bool):
    if "userIds" in body:
        return body["userIds"]
    if isinstance(body.get("userId"), str):
        return [body["userId"]]
    if required:
        raise ApiError(400, "invalid_request", 'send {"userIds": ["<user id>", …]}')
    return None


async def create_team(request: web.Request) -> web.Response:
    body = await _body(request)
    name, user_ids = body.get("name"), _user_ids(body, required=False)
    team = await _write(request, lambda m, org, actor: m.create_team(org, name, user_ids, actor))
    response = json_response(team, 201)
    response.headers["Location"] = f"{request.path}/{team['id']}"
    return response


async def rename_team(request: web.Request) -> web.Response:
    team_id = request.match_info["team_id"]
    body = await _body(request)
    if "name" not in body:
        raise ApiError(400, "invalid_request", 'send {"name": "<new Team name>"}')
    name = body["name"]
    return json_response(await _write(request, lambda m, org, actor: m.rename_team(org, team_id, name, actor)))


async def delete_team(request: web.Request) -> web.Response:
    team_id = request.match_info["team_id"]
    await _write(request, lambda m, org, actor: m.delete_team(org, team_id, actor))
    return web.Response(status=204)


async def add_members(request: web.Request) -> web.Response:
    team_id = request.match_info["team_id"]
    body = await _body(request)
    user_ids = _user_ids(body, required=True)
    return json_response(
        await _write(request, lambda m, org, actor: m.add_members(org, team_id, user_ids, actor))
    )


async def remove_member(request: web.Request) -> web.Response:
    team_id, user_id = request.match_info["team_id"], request.match_info["user_id"]
    await _write(request, lambda m, org, actor: m.remove_member(org, team_id, user_id, actor))
    return web.Response(status=204)


async def set_scim(request: web.Request) -> web.Response:
    enabled = (await _body(request)).get("enabled")
    return json_response(await _write(request, lambda m, org, actor: m.set_scim(org, enabled, actor)))


# For the sibling modules of this sub-application's routes (``api.tokens``, ``api.provisioning_log``).
read, write, read_json_body = _read, _write, _body


def _routes() -> tuple[tuple[str, dict], ...]:
    from api import provisioning_log, tokens  # they build on this module's helpers

    return ROUTES + (
        ("/tokens", {"GET": tokens.list_tokens, "POST": tokens.create_token}),
        ("/tokens/{token_id}", {"DELETE": tokens.revoke_token}),
        ("/provisioning-log", {"GET": provisioning_log.organization_log}),
    )


ROUTES: tuple[tuple[str, dict], ...] = (
    ("", {"GET": show_organization}),
    ("/", {"GET": show_organization}),
    ("/users", {"GET": list_users}),
    ("/users/{user_id}", {"GET": show_user, "DELETE": delete_user}),
    ("/teams", {"GET": list_teams, "POST": create_team}),
    ("/teams/{team_id}", {"GET": show_team, "PATCH": rename_team, "DELETE": delete_team}),
    ("/teams/{team_id}/members", {"POST": add_members}),
    ("/teams/{team_id}/members/{user_id}", {"DELETE": remove_member}),
    ("/scim", {"PUT": set_scim}),
)
API_PREFIX = "/api/v1/"
ORGANIZATION = "/organizations/{org_id}"


def management_app() -> web.Application:
    """The management API, a sub-application under ``/api/v1/`` fenced by its own middlewares:
    JSON errors for every failure (404 and 405 included) and the organization token check for
    every route of an organization, so no handler can forget either."""
    from api.provisioning_log import every_organization_log

    app = web.Application(middlewares=[json_errors, org_token])
    for suffix, methods in _routes():
        resource = app.router.add_resource(ORGANIZATION + suffix)
        for method, handler in methods.items():
            resource.add_route(method, handler)
    app.router.add_resource("/provisioning-log").add_route("GET", every_organization_log)  # operators only
    return app
