"""The SCIM resource endpoints, /Users and /Groups: reads from the store, writes as commands.

One ``ResourceEndpoints`` serves each resource type; what differs between Users and Teams
(table, command kinds, the computed ``groups``/``members`` attribute) is data, not code.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from aiohttp import web

from api import context, origin
from api.keys import CURSOR_KEY, DISPATCHER, ENGINE, SETTINGS
from api.metrics import COMMAND_TIMEOUTS, COMMANDS
from api.requests import Projection, json_object, list_params, projection, read_json
from api.responses import scim_response
from domain import commands as c
from domain.commands import Reply
from domain.errors import InvalidValue, NotFound, PayloadTooLarge, ScimError, Unavailable
from domain.limits import MAX_PATCH_OPERATIONS
from domain.names import get_member
from domain.patch import prepare_patch
from domain.resource import check_patch_values, normalize, parse_attribute_list, render
from infra.ids import new_command_id
from infra.redis.dispatcher import Backpressure, CommandTimeout, WritesUnavailable
from infra.redis.wire import UnencodableCommand
from infra.store.fence import FenceUnavailable
from infra.store import listing, queries

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class ResourceKind:
    name: str  # "User" | "Group"
    endpoint: str  # "Users" | "Groups"
    create: type[c.CreateUser | c.CreateTeam]
    replace: type[c.ReplaceUser | c.ReplaceTeam]
    patch: type[c.PatchUser | c.PatchTeam]
    delete: type[c.DeleteUser | c.DeleteTeam]
    computed: str  # the read-only attribute computed from memberships: groups / members


USER = ResourceKind("User", "Users", c.CreateUser, c.ReplaceUser, c.PatchUser, c.DeleteUser, "groups")
GROUP = ResourceKind("Group", "Groups", c.CreateTeam, c.ReplaceTeam, c.PatchTeam, c.DeleteTeam, "members")


def _with_refs(entries: list[dict], base: str, endpoint: str) -> list[dict]:
    return [dict(entry, **{"$ref": f"{base}/{endpoint}/{entry['value']}"}) for entry in entries]


class ResourceEndpoints:
    def __init__(self, kind: ResourceKind):
        self.kind = kind

    # -- rendering ---------------------------------------------------------------------------

    def _render(self, request, proj: Projection, *, id, document, created, updated, version, computed=None) -> dict:
        base = origin.base_url(request)
        refs = None
        if computed is not None:
            refs = _with_refs(computed, base, "Groups" if self.kind.computed == "groups" else "Users")
        return render(
            self.kind.name,
            document,
            id=id,
            meta=context.meta(self.kind.name, id, created, updated, version, base),
            selected=proj.selection(self.kind.name),
            groups=refs if self.kind.computed == "groups" else None,
            members=refs if self.kind.computed == "members" else None,
        )

    def _render_row(self, request, proj: Projection, row, computed) -> dict:
        return self._render(
            request, proj, id=row.id, document=row.resource, created=row.created_at, updated=row.updated_at,
            version=row.version, computed=computed,
        )

    async def _computed(self, conn, proj: Projection, ids: list[str]) -> dict[str, list[dict]] | None:
        """The memberships (``groups`` / ``members``) of ``ids``; None when not to be returned."""
        if not proj.wants(self.kind.name, self.kind.computed):
            return None
        if not ids:
            return {}
        if self.kind.computed == "groups":
            return await queries.groups_of_users(conn, ids)
        return await queries.members_of_teams(conn, ids)

    # -- reads -------------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.StreamResponse:
        grant = context.grant(request)
        proj = projection(request)
        resource_id = request.match_info["id"]
        async with request.config_dict[ENGINE].connect() as conn:
            row = await (queries.get_user if self.kind is USER else queries.get_team)(conn, grant.org.id, resource_id)
            if row is None:
                raise NotFound(f"{self.kind.name} {resource_id} not found")
            etag = f'W/"{row.version}"'
            if _matches(request.headers.get("If-None-Match"), etag):
                return web.Response(status=304, headers={"ETag": etag})
            computed = await self._computed(conn, proj, [row.id])
        entries = None if computed is None else computed.get(row.id, [])
        return await render_off_loop_if_heavy(
            len(entries or ()), lambda: scim_response(self._render_row(request, proj, row, entries), headers={"ETag": etag})
        )

    async def list(self, request: web.Request) -> web.Response:
        params = list_params(request, request.config_dict[SETTINGS].max_results)
        return await list_response(request, [self], params, projection(request))

    async def search(self, request: web.Request) -> web.Response:
        body = json_object(await read_json(request, request.config_dict[SETTINGS].max_body_bytes))
        return await list_response(request, [self], *search_request(body, request.config_dict[SETTINGS].max_results))

    # -- writes ------------------------------------------------------------------------------

    # The commands a write sends (its type and typed fields), built once for the HTTP endpoints
    # and for /Bulk alike.

    def create_command(self, body: dict) -> Order:
        payload, supplied = _normalized_payload(self.kind.name, body)
        return Order(self.kind.create, {"body": payload, "password_supplied": supplied})

    def replace_command(self, resource_id: str, body: dict) -> Order:
        payload, supplied = _normalized_payload(self.kind.name, body)
        return Order(self.kind.replace, {"resource_id": resource_id, "body": payload, "password_supplied": supplied})

    def patch_command(self, resource_id: str, body: dict, proj: Projection) -> Order:
        raw_operations = get_member(body, "Operations")
        if isinstance(raw_operations, list) and len(raw_operations) > MAX_PATCH_OPERATIONS:
            raise PayloadTooLarge(
                f"The number of PATCH operations ({len(raw_operations)}) exceeds the maximum ({MAX_PATCH_OPERATIONS})."
            )
        # Parsed and resolved here, so bad requests (and values the store could not keep) are
        # answered before anything is queued; only the operations the parser read travel, never
        # a password.
        prepared = prepare_patch(self.kind.name, body)
        check_patch_values(self.kind.name, prepared.operations)
        fields: dict = {
            "resource_id": resource_id, "operations": prepared.body(),
            "password_supplied": prepared.password_supplied, "password_only": not prepared.operations,
        }
        if self.kind is GROUP:
            # A Team may hold 100,000 members: the reply carries them only when asked for by name.
            fields["members_in_reply"] = bool(proj.attributes) and proj.wants(self.kind.name, "members")
        return Order(self.kind.patch, fields)

    def delete_command(self, resource_id: str) -> Order:
        return Order(self.kind.delete, {"resource_id": resource_id})

    async def create(self, request: web.Request) -> web.Response:
        grant = context.grant(request)
        body = json_object(await read_json(request, request.config_dict[SETTINGS].max_body_bytes))
        reply = await submit_command(request, grant, self.create_command(body))
        return self._reply(request, reply, projection(request), created=True)

    async def replace(self, request: web.Request) -> web.Response:
        grant = context.grant(request)
        body = json_object(await read_json(request, request.config_dict[SETTINGS].max_body_bytes))
        reply = await submit_command(request, grant, self.replace_command(request.match_info["id"], body))
        return self._reply(request, reply, projection(request))

    async def patch(self, request: web.Request) -> web.Response:
        grant = context.grant(request)
        body = json_object(await read_json(request, request.config_dict[SETTINGS].max_body_bytes))
        proj = projection(request)
        reply = await submit_command(request, grant, self.patch_command(request.match_info["id"], body, proj))
        # Entra never reads members back and a Team may hold 100,000: a Group PATCH answers 204
        # unless the client asks for attributes (RFC 7644 §3.5.2 allows either).
        return self._reply(request, reply, proj, no_content=self.kind is GROUP and not proj.requested)

    async def delete(self, request: web.Request) -> web.Response:
        grant = context.grant(request)
        reply = await submit_command(request, grant, self.delete_command(request.match_info["id"]))
        return self._reply(request, reply, projection(request))

    def _reply(self, request: web.Request, reply: Reply, proj: Projection, *, created: bool = False,
               no_content: bool = False) -> web.Response:
        if reply.status >= 400:
            headers = {"Retry-After": "5"} if reply.status == 503 else None
            return scim_response(reply.body, reply.status, headers)
        if no_content or reply.status == 204 or reply.body is None:
            return web.Response(status=204)
        view = reply.body
        body = self._render(
            request, proj, id=view["id"], document=view["document"], created=view["created"],
            updated=view["updated"], version=view["version"], computed=view.get(self.kind.computed),
        )
        headers = {"ETag": reply.etag} if reply.etag else {}
        if created:
            # From the view, not the body: ?attributes= may leave meta out of the body.
            headers["Location"] = f"{origin.base_url(request)}/{self.kind.endpoint}/{view['id']}"
        return scim_response(body, reply.status, headers)


async def list_response(request: web.Request, endpoints: list, params, proj: Projection) -> web.Response:
    """A ListResponse of one or more resource types (RFC 7644 §3.4.2, RFC 9865 with a cursor)."""
    org_id = request.match_info["org_id"]
    settings = request.config_dict[SETTINGS]
    cursor_key = None if params.cursor is None else await request.config_dict[CURSOR_KEY].get()
    async with request.config_dict[ENGINE].connect() as conn:
        page = await listing.list_page(
            conn, org_id, [e.kind.name for e in endpoints], params, cursor_key=cursor_key,
            cursor_timeout=settings.cursor_timeout,
        )
        computed: dict = {}
        for e in endpoints:
            ids = [row.id for source, row in page.rows if source.resource_type == e.kind.name]
            computed[e.kind.name] = await e._computed(conn, proj, ids) if ids else {}
    by_kind = {e.kind.name: e for e in endpoints}
    origin.base_url(request)  # computed once, here on the loop, before rendering may move to a thread
    weight = sum(len(entries) for extra in computed.values() if extra for entries in extra.values())
    return await render_off_loop_if_heavy(weight, lambda: _list_body(request, proj, page, by_kind, computed))


def _list_body(request: web.Request, proj: Projection, page, by_kind: dict, computed: dict) -> web.Response:
    resources = []
    for source, row in page.rows:
        extra = computed[source.resource_type]
        resources.append(
            by_kind[source.resource_type]._render_row(request, proj, row, None if extra is None else extra.get(row.id, []))
        )
    body: dict = {"schemas": [LIST_RESPONSE]}
    if page.total is not None:
        body["totalResults"] = page.total
    if page.start_index is not None:
        body["startIndex"] = page.start_index
    body["itemsPerPage"] = len(resources)
    if page.next_cursor:
        body["nextCursor"] = page.next_cursor
    if page.previous_cursor:
        body["previousCursor"] = page.previous_cursor
    body["Resources"] = resources
    return scim_response(body)


# Members/groups on one response above which it is rendered and serialised in a thread: a page of
# large Teams costs tens of milliseconds of CPU per 10,000 members, which must not stall the
# event loop (and every other organization's requests) meanwhile.
OFF_LOOP_ENTRIES = 2_000


async def render_off_loop_if_heavy(entries: int, build):
    if entries <= OFF_LOOP_ENTRIES:
        return build()
    return await asyncio.get_running_loop().run_in_executor(None, build)


async def root_search(request: web.Request) -> web.Response:
    """``POST /.search`` at the base URL: Users, then Groups (RFC 7644 §3.4.3)."""
    body = json_object(await read_json(request, request.config_dict[SETTINGS].max_body_bytes))
    return await list_response(
        request, [ResourceEndpoints(USER), ResourceEndpoints(GROUP)], *search_request(body, request.config_dict[SETTINGS].max_results)
    )


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in tags or etag.removeprefix("W/") in tags


def _normalized_payload(resource_type: str, body: dict) -> tuple[dict, bool]:
    """Validate a POST/PUT body at the door and drop what must not travel (passwords)."""
    normalized = normalize(resource_type, body)
    payload = dict(normalized.document)
    if normalized.member_ids is not None:
        shown = normalized.member_displays
        payload["members"] = [
            {"value": member, "display": shown[member]} if member in shown else {"value": member}
            for member in normalized.member_ids
        ]
    return payload, normalized.password_supplied


def search_request(body: dict, max_results: int):
    """The list parameters and projection of a SearchRequest body (RFC 7644 §3.4.3); member
    names are case-insensitive, and a member of the wrong JSON type is 400 invalidValue."""
    schemas = get_member(body, "schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or SEARCH_REQUEST.lower() not in [str(s).lower() for s in schemas]
    ):
        raise ScimError(f"A search request must carry the schema {SEARCH_REQUEST}", scim_type="invalidSyntax")
    proj = Projection(
        parse_attribute_list(get_member(body, "attributes")),
        parse_attribute_list(get_member(body, "excludedAttributes")),
    )
    return list_params(body, max_results), proj


_FROM_REQUEST = object()


@dataclass(frozen=True)
class Order:
    """A command to send: its type and its typed fields (the envelope is added on submission)."""

    kind: type[c.Command]
    fields: dict


async def submit_command(request: web.Request, grant, order: Order, *, if_match=_FROM_REQUEST) -> Reply:
    settings = request.config_dict[SETTINGS]
    dispatcher = request.config_dict[DISPATCHER]
    command = order.kind(
        id=new_command_id(),
        org_id=grant.org.id,
        actor=context.actor(request, grant),
        request_id=request["request_id"],
        deadline=time.time() + settings.command_timeout,
        reply_to=dispatcher.reply_to,
        if_match=request.headers.get("If-Match") if if_match is _FROM_REQUEST else if_match,
        **order.fields,
    )
    kind = command.kind
    structlog.contextvars.bind_contextvars(command_id=command.id)
    request.setdefault("command_ids", []).append(command.id)  # a Bulk request's are all logged
    try:
        reply = await dispatcher.submit(command)
    except CommandTimeout:
        COMMAND_TIMEOUTS.inc()
        COMMANDS.labels(kind, "503").inc()
        raise Unavailable(
            "The service is busy and did not apply the request in time; it was not applied. Retry it.",
            headers={"Retry-After": "5"},
        ) from None
    except WritesUnavailable:
        COMMANDS.labels(kind, "503").inc()
        raise Unavailable(
            "No worker is running to apply writes; the request was not applied. Retry it shortly.",
            headers={"Retry-After": "2"},
        ) from None
    except FenceUnavailable:
        COMMANDS.labels(kind, "503").inc()
        raise Unavailable(
            "The store is unreachable; the request was not applied. Retry it.", headers={"Retry-After": "5"}
        ) from None
    except Backpressure:
        COMMANDS.labels(kind, "429").inc()
        raise ScimError(
            "Too many writes from this organization are waiting; slow down and retry",
            status=429, headers={"Retry-After": "1"},
        ) from None
    except UnencodableCommand:
        raise InvalidValue("The request holds a value that cannot be queued (nested too deeply)") from None
    COMMANDS.labels(kind, str(reply.status)).inc()
    return reply
