"""An organization's API tokens over HTTP, for its owners: list, create (shown once), revoke.

``GET/POST /api/v1/organizations/{organization_id}/tokens`` and
``DELETE /api/v1/organizations/{organization_id}/tokens/{token_id}``, on the management
sub-application (its ``org_token`` middleware has checked the token; here only an Owner may even
list). Creating and revoking are audited through the management service; a listing shows ids,
roles and times, never a token or its hash. A token of another organization cannot be revoked
here (404, as for a token that does not exist).
"""

from __future__ import annotations

from aiohttp import web

from api import management as m
from domain.management import Management


def _owner(request: web.Request) -> None:
    if m.grant_of(request).role != "owner":
        raise m.ApiError(403, "owner_required", "Managing tokens requires an Organization API token with the Owner role")


async def list_tokens(request: web.Request) -> web.Response:
    _owner(request)
    return m.json_response({"tokens": await m.read(request, Management.tokens)})


async def create_token(request: web.Request) -> web.Response:
    body = await m.read_json_body(request)
    role, name = body.get("role", "member"), body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        raise m.ApiError(400, "invalid_request", "name must be a string of at most 255 characters")
    made = await m.write(request, lambda svc, org, actor: svc.create_token(org, role, name=name, actor=actor))
    return m.json_response({"token": made.token, "id": made.id, "role": role, "name": name}, 201)


async def revoke_token(request: web.Request) -> web.Response:
    token_id = request.match_info["token_id"]
    revoked = await m.write(request, lambda svc, org, actor: svc.revoke_token(token_id, actor, org_id=org))
    if not revoked:
        raise m.ApiError(404, "not_found", f"No live token {token_id} in this organization")
    return web.Response(status=204)
