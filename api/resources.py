"""The SCIM resource endpoints, /Users and /Groups: reads from the store, writes as commands.

One ``ResourceEndpoints`` serves each resource type; what differs between Users and Teams
(table, command kinds, the computed ``groups``/``members`` attribute) is data, not code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog
from aiohttp import web

from api import context
from api.keys import DISPATCHER, ENGINE, SETTINGS
from api.metrics import COMMAND_TIMEOUTS, COMMANDS
from api.requests import Projection, json_object, list_params, projection, read_json
from api.responses import scim_response
from domain import commands as c
from domain.commands import Command, Reply
from domain.errors import NotFound, ScimError, Unavailable
from domain.filter.ast import AttrPath
from domain.filter.parser import parse_filter, parse_patch_path
from domain.patch import parse_patch_request
from domain.resource import normalize, parse_attribute_list, render
from domain.secrets import strip_patch_passwords
from infra.ids import new_command_id
from infra.redis.dispatcher import CommandTimeout
from infra.store import queries
from infra.store.filter_sql import compile_filter, sort_column
from infra.store.tables import teams, users

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class ResourceKind:
    name: str  # "User" | "Group"
    endpoint: str  # "Users" | "Groups"
    table: object
    create: str
    replace: str
    patch: str
    delete: str
    computed: str  # the read-only attribute computed from memberships: groups / members


USER = ResourceKind("User", "Users", users, c.USER_CREATE, c.USER_REPLACE, c.USER_PATCH, c.USER_DELETE, "groups")
GROUP = ResourceKind(
    "Group", "Groups", teams, c.GROUP_CREATE, c.GROUP_REPLACE, c.GROUP_PATCH, c.GROUP_DELETE, "members"
)


def _with_refs(entries: list[dict], base: str, endpoint: str) -> list[dict]:
    return [dict(entry, **{"$ref": f"{base}/{endpoint}/{entry['value']}"}) for entry in entries]


class ResourceEndpoints:
    def __init__(self, kind: ResourceKind):
        self.kind = kind

    # -- rendering ---------------------------------------------------------------------------

    def _render(self, request, proj: Projection, *, id, document, created, updated, version, computed=None) -> dict:
        base = context.base_url(request)
        extra = {}
        if computed is not None:
            target = "Groups" if self.kind.computed == "groups" else "Users"
            extra[self.kind.computed] = _with_refs(computed, base, target)
        return render(
            self.kind.name,
            document,
            id=id,
            meta=context.meta(self.kind.name, id, created, updated, version, base),
            attributes=proj.attributes,
            excluded_attributes=proj.excluded,
            **extra,
        )

    def _render_row(self, request, proj: Projection, row, computed) -> dict:
        return self._render(
            request, proj, id=row.id, document=row.resource, created=row.created_at, updated=row.updated_at,
            version=row.version, computed=computed,
        )

    async def _computed(self, conn, proj: Projection, ids: list[str]) -> dict[str, list[dict]] | None:
        if not proj.wants(self.kind.computed) or not ids:
            return None if not proj.wants(self.kind.computed) else {}
        if self.kind.computed == "groups":
            return await queries.groups_of_users(conn, ids)
        return await queries.members_of_teams(conn, ids)

    # -- reads -------------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.StreamResponse:
        grant = await context.authorize(request)
        proj = projection(request)
        resource_id = request.match_info["id"]
        async with request.app[ENGINE].connect() as conn:
            row = await (queries.get_user if self.kind is USER else queries.get_team)(conn, grant.org.id, resource_id)
            if row is None:
                raise NotFound(f"{self.kind.name} {resource_id} not found")
            etag = f'W/"{row.version}"'
            if _matches(request.headers.get("If-None-Match"), etag):
                return web.Response(status=304, headers={"ETag": etag})
            computed = await self._computed(conn, proj, [row.id])
        body = self._render_row(request, proj, row, None if computed is None else computed.get(row.id, []))
        return scim_response(body, headers={"ETag": etag})

    async def list(self, request: web.Request) -> web.Response:
        await context.authorize(request)
        return await self._search(request, list_params(request, request.app[SETTINGS].max_results), projection(request))

    async def search(self, request: web.Request) -> web.Response:
        await context.authorize(request)
        body = json_object(await read_json(request, request.app[SETTINGS].max_body_bytes))
        return await self._search(request, *search_request(body, request.app[SETTINGS].max_results))

    async def _search(self, request: web.Request, params, proj: Projection) -> web.Response:
        org_id = request.match_info["org_id"]
        engine = request.app[ENGINE]
        dialect = engine.dialect.name
        where = compile_filter(self.kind.name, parse_filter(params.filter), dialect) if params.filter else None
        order = []
        if params.sort_by:
            column = sort_column(self.kind.name, _attr_path(params.sort_by), dialect)
            order.append(column.desc() if params.descending else column.asc())
        async with engine.connect() as conn:
            total, rows = await queries.page(
                conn, self.kind.table, org_id, where, order, params.start_index - 1, params.count
            )
            computed = await self._computed(conn, proj, [row.id for row in rows])
        resources = [
            self._render_row(request, proj, row, None if computed is None else computed.get(row.id, []))
            for row in rows
        ]
        return scim_response(
            {
                "schemas": [LIST_RESPONSE],
                "totalResults": total,
                "startIndex": params.start_index,
                "itemsPerPage": len(resources),
                "Resources": resources,
            }
        )

    # -- writes ------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        grant = await context.authorize(request)
        body = json_object(await read_json(request, request.app[SETTINGS].max_body_bytes))
        payload, options = _normalized_payload(self.kind.name, body)
        reply = await _submit(request, grant, self.kind.create, body=payload, options=options)
        return self._reply(request, reply, projection(request), created=True)

    async def replace(self, request: web.Request) -> web.Response:
        grant = await context.authorize(request)
        body = json_object(await read_json(request, request.app[SETTINGS].max_body_bytes))
        payload, options = _normalized_payload(self.kind.name, body)
        reply = await _submit(
            request, grant, self.kind.replace, resource_id=request.match_info["id"], body=payload, options=options
        )
        return self._reply(request, reply, projection(request))

    async def patch(self, request: web.Request) -> web.Response:
        grant = await context.authorize(request)
        body = json_object(await read_json(request, request.app[SETTINGS].max_body_bytes))
        parse_patch_request(body)  # syntax errors are answered here, before anything is queued
        cleaned, password_supplied = strip_patch_passwords(body)
        proj = projection(request)
        options: dict = {"password_supplied": password_supplied}
        if not cleaned["Operations"]:
            options["password_only"] = True
        if self.kind is GROUP:
            # Entra never reads members back and a Team may hold 100,000: a Group PATCH answers
            # 204 unless the client asks for attributes, and members only when asked by name.
            options["no_content"] = not proj.requested
            options["members"] = proj.requested and proj.wants("members") and bool(proj.attributes)
        reply = await _submit(
            request, grant, self.kind.patch, resource_id=request.match_info["id"], body=cleaned, options=options
        )
        return self._reply(request, reply, proj)

    async def delete(self, request: web.Request) -> web.Response:
        grant = await context.authorize(request)
        reply = await _submit(request, grant, self.kind.delete, resource_id=request.match_info["id"])
        return self._reply(request, reply, projection(request))

    def _reply(self, request: web.Request, reply: Reply, proj: Projection, *, created: bool = False) -> web.Response:
        if reply.status >= 400:
            headers = {"Retry-After": "5"} if reply.status == 503 else None
            return scim_response(reply.body, reply.status, headers)
        if reply.status == 204 or reply.body is None:
            return web.Response(status=204)
        view = reply.body
        body = self._render(
            request, proj, id=view["id"], document=view["document"], created=view["created"],
            updated=view["updated"], version=view["version"], computed=view.get(self.kind.computed),
        )
        headers = {"ETag": reply.etag} if reply.etag else {}
        if created:
            headers["Location"] = body["meta"]["location"]
        return scim_response(body, reply.status, headers)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in tags or etag.removeprefix("W/") in tags


def _attr_path(text: str) -> AttrPath:
    return parse_patch_path(text).attr


def _normalized_payload(resource_type: str, body: dict) -> tuple[dict, dict]:
    """Validate a POST/PUT body at the door and drop what must not travel (passwords)."""
    normalized = normalize(resource_type, body)
    payload = dict(normalized.document)
    if normalized.member_ids is not None:
        payload["members"] = [{"value": member} for member in normalized.member_ids]
    return payload, {"password_supplied": normalized.password_supplied}


def search_request(body: dict, max_results: int):
    schemas = body.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or SEARCH_REQUEST.lower() not in [str(s).lower() for s in schemas]
    ):
        raise ScimError(f"A search request must carry the schema {SEARCH_REQUEST}", scim_type="invalidSyntax")

    def joined(name):
        value = next((v for k, v in body.items() if k.lower() == name.lower()), None)
        if isinstance(value, list):
            return ",".join(str(item) for item in value)
        return value

    proj = Projection(parse_attribute_list(joined("attributes")), parse_attribute_list(joined("excludedAttributes")))
    return list_params(body, max_results), proj


async def _submit(request: web.Request, grant, kind: str, *, resource_id=None, body=None, options=None) -> Reply:
    settings = request.app[SETTINGS]
    dispatcher = request.app[DISPATCHER]
    command = Command(
        id=new_command_id(),
        kind=kind,
        org_id=grant.org.id,
        actor=context.actor(request, grant),
        request_id=request["request_id"],
        deadline=time.time() + settings.command_timeout,
        reply_to=dispatcher.reply_to,
        resource_id=resource_id,
        body=body,
        if_match=request.headers.get("If-Match"),
        options=options or {},
    )
    structlog.contextvars.bind_contextvars(command_id=command.id)
    try:
        reply = await dispatcher.submit(command)
    except CommandTimeout:
        COMMAND_TIMEOUTS.inc()
        COMMANDS.labels(kind, "503").inc()
        raise Unavailable(
            "The service is busy and did not apply the request in time; it was not applied. Retry it.",
            headers={"Retry-After": "5"},
        ) from None
    COMMANDS.labels(kind, str(reply.status)).inc()
    return reply
