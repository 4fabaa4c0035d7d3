"""The organization management API: JSON over HTTP under ``/api/v1/organizations/{org_id}``.

What an organization's admins (and the CLI's twin commands) use to see the organization as SCIM
left it and to fix what the IdP cannot: list and show users and Teams, delete a leftover account,
manage Teams made before SCIM was turned on, and turn SCIM on or off.

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
``infra.store.management`` and are shared with the CLI.

Errors are JSON ``{"error": {"status": …, "code": …, "message": …}}``, never a SCIM error body.
"""

from __future__ import annotations

import functools

import orjson
from aiohttp import web

from api.auth import WWW_AUTHENTICATE, bearer_token
from api import context
from api.keys import AUTHENTICATOR, ENGINE, SETTINGS
from api.middleware import OUTAGE_RETRY_AFTER_SECONDS
from api.requests import parse_json, read_body
from domain import events as ev
from domain.errors import PayloadTooLarge, RequestTimeout, ScimError
from infra.logging import get_logger
from infra.outages import is_unavailable
from infra.store import management as store
from infra.store.clock import utcnow
from infra.store.management import ManagementActor, ManagementError
from infra.store.organizations import TokenGrant

log = get_logger(__name__)

PREFIX = "/api/v1/organizations/{org_id}"
JSON = "application/json"
MAX_BODY_BYTES = 256 * 1024


def json_response(body, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, charset="utf-8")


def error_response(error: ManagementError, headers: dict | None = None) -> web.Response:
    response = json_response(error.to_body(), error.status)
    if headers:
        response.headers.update(headers)
    return response


def _json_errors(handler):
    """Every failure of a management handler becomes the JSON error body (the SCIM middleware never sees it)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except ManagementError as error:
            headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if error.status == 401 else None
            return error_response(error, headers)
        except web.HTTPException as http_error:
            if http_error.status < 400:
                raise
            code = {413: "body_too_large"}.get(http_error.status, "http_error")
            return error_response(ManagementError(http_error.status, code, http_error.reason))
        except Exception as error:
            if is_unavailable(error):
                log.warning("backing_service_unavailable", path=request.path, error=str(error)[:200])
                unavailable = ManagementError(
                    503, "unavailable", "The service is temporarily unavailable; nothing was changed. Retry the request."
                )
                return error_response(unavailable, {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
            log.exception("management_unhandled_error", path=request.path, method=request.method)
            return error_response(ManagementError(500, "internal_error", "Internal server error"))

    return wrapped


# -- auth ---------------------------------------------------------------------------------------


async def _audit_auth_refusal(request: web.Request, error: ManagementError, token_id: str | None) -> None:
    event = ev.refusal_event(
        store.AUTH_REFUSED,
        org_id=request.match_info["org_id"],
        method=request.method,
        path=request.path,
        reason=error.message,
        status=error.status,
        time=utcnow().isoformat() + "Z",
        token_id=token_id,
        user_agent=request.headers.get("User-Agent", "")[:256],
        request_id=request.get("request_id"),
        detail={"via": "api"},
    )
    await context.publish_refusal(request, event)


async def _authorize(request: web.Request, *, write: bool) -> TokenGrant:
    org_id = request.match_info["org_id"]
    token = bearer_token(request.headers.get("Authorization"))
    error: ManagementError | None = None
    grant = None
    if token is None:
        error = ManagementError(
            401, "unauthorized", "Authentication required: send Authorization: Bearer <Organization API token>"
        )
    else:
        grant = await request.config_dict[AUTHENTICATOR].grant_for(token)
        if grant is None or grant.org.id != org_id:
            error = ManagementError(401, "invalid_token", f"The token is not valid for organization {org_id}")
            grant = None
        elif write and grant.role != "owner":
            error = ManagementError(
                403, "owner_required", "This change requires an Organization API token with the Owner role"
            )
    if error is not None:
        await _audit_auth_refusal(request, error, grant.token_id if grant else None)
        raise error
    return grant


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
        raise ManagementError(413, "body_too_large", f"The request body must be at most {MAX_BODY_BYTES} bytes") from None
    except RequestTimeout as error:
        raise ManagementError(408, "body_timeout", error.detail) from None
    except ScimError as error:
        raise ManagementError(400, "invalid_json", error.detail) from None
    if not isinstance(body, dict):
        raise ManagementError(400, "invalid_json", "The request body must be a JSON object")
    return body


async def _read(request: web.Request, func, *args, **kwargs):
    await _authorize(request, write=False)
    async with request.config_dict[ENGINE].connect() as conn:
        return await store.run(conn, func, request.match_info["org_id"], *args, **kwargs)


async def _write(request: web.Request, func, *args, action: str, resource_type: str | None = None,
                 resource_id: str | None = None, grant: TokenGrant | None = None):
    grant = grant or await _authorize(request, write=True)
    org_id = request.match_info["org_id"]
    actor = _actor(request, grant)
    try:
        async with request.config_dict[ENGINE].begin() as conn:
            return await store.run(conn, func, org_id, *args, actor=actor)
    except ManagementError as error:
        if error.status == 409 or error.code == "enterprise_tier_required":
            try:
                async with request.config_dict[ENGINE].begin() as conn:
                    await store.run(conn, store.record_refusal, org_id, action, error, actor,
                                    resource_type=resource_type, resource_id=resource_id)
            except Exception as exc:  # the refusal stands even if its audit cannot be written
                log.warning("refusal_audit_failed", error=str(exc))
        raise


# -- handlers -----------------------------------------------------------------------------------


@_json_errors
async def show_organization(request: web.Request) -> web.Response:
    return json_response(await _read(request, store.organization_summary))


@_json_errors
async def list_users(request: web.Request) -> web.Response:
    query = request.query
    return json_response(await _read(request, store.list_users, query.get("page"), query.get("pageSize")))


@_json_errors
async def show_user(request: web.Request) -> web.Response:
    return json_response(await _read(request, store.get_user, request.match_info["user_id"]))


@_json_errors
async def delete_user(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    await _write(request, store.delete_user, user_id, action=store.USER_DELETE, resource_type="User",
                 resource_id=user_id)
    return web.Response(status=204)


@_json_errors
async def list_teams(request: web.Request) -> web.Response:
    query = request.query
    return json_response(await _read(request, store.list_teams, query.get("page"), query.get("pageSize")))


@_json_errors
async def show_team(request: web.Request) -> web.Response:
    query = request.query
    team_id = request.match_info["team_id"]
    return json_response(await _read(request, store.get_team, team_id, query.get("page"), query.get("pageSize")))


def _user_ids(body: dict, *, required: bool):
    if "userIds" in body:
        return body["userIds"]
    if isinstance(body.get("userId"), str):
        return [body["userId"]]
    if required:
        raise ManagementError(400, "invalid_request", 'send {"userIds": ["<user id>", …]}')
    return None


@_json_errors
async def create_team(request: web.Request) -> web.Response:
    grant = await _authorize(request, write=True)
    body = await _body(request)
    team = await _write(request, store.create_team, body.get("name"), _user_ids(body, required=False),
                        action=store.TEAM_CREATE, resource_type="Team", grant=grant)
    response = json_response(team, 201)
    response.headers["Location"] = f"{request.path}/{team['id']}"
    return response


@_json_errors
async def rename_team(request: web.Request) -> web.Response:
    team_id = request.match_info["team_id"]
    grant = await _authorize(request, write=True)
    body = await _body(request)
    if "name" not in body:
        raise ManagementError(400, "invalid_request", 'send {"name": "<new Team name>"}')
    team = await _write(request, store.rename_team, team_id, body["name"], action=store.TEAM_RENAME,
                        resource_type="Team", resource_id=team_id, grant=grant)
    return json_response(team)


@_json_errors
async def delete_team(request: web.Request) -> web.Response:
    team_id = request.match_info["team_id"]
    await _write(request, store.delete_team, team_id, action=store.TEAM_DELETE, resource_type="Team",
                 resource_id=team_id)
    return web.Response(status=204)


@_json_errors
async def add_members(request: web.Request) -> web.Response:
    team_id = request.match_info["team_id"]
    grant = await _authorize(request, write=True)
    body = await _body(request)
    result = await _write(request, store.add_members, team_id, _user_ids(body, required=True),
                          action=store.TEAM_MEMBER_ADD, resource_type="Team", resource_id=team_id, grant=grant)
    return json_response(result)


@_json_errors
async def remove_member(request: web.Request) -> web.Response:
    team_id = request.match_info["team_id"]
    await _write(request, store.remove_member, team_id, request.match_info["user_id"],
                 action=store.TEAM_MEMBER_REMOVE, resource_type="Team", resource_id=team_id)
    return web.Response(status=204)


@_json_errors
async def set_scim(request: web.Request) -> web.Response:
    grant = await _authorize(request, write=True)
    body = await _body(request)
    enabled = body.get("enabled")
    action = store.SCIM_ENABLE if enabled is True else store.SCIM_DISABLE
    org_id = request.match_info["org_id"]
    result = await _write(request, store.set_scim, enabled, action=action, resource_type="Organization",
                          resource_id=org_id, grant=grant)
    return json_response(result)


@_json_errors
async def no_such_endpoint(request: web.Request) -> web.Response:
    raise ManagementError(404, "not_found", "No such endpoint")


def _method_not_allowed(allowed: list[str]):
    @_json_errors
    async def handler(request: web.Request) -> web.Response:
        response = error_response(
            ManagementError(
                405, "method_not_allowed", f"{request.method} is not allowed here; use {', '.join(allowed)}"
            )
        )
        response.headers["Allow"] = ", ".join(allowed)
        return response

    return handler


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


def add_routes(app: web.Application) -> None:
    """Register the management API on the ingress (each path answers a JSON 405 for other methods)."""
    for suffix, methods in ROUTES:
        resource = app.router.add_resource(PREFIX + suffix)
        for method, handler in methods.items():
            resource.add_route(method, handler)
        resource.add_route("*", _method_not_allowed(sorted(methods)))
    app.router.add_route("*", "/api/v1/{tail:.*}", no_such_endpoint)
