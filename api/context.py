"""Per-request context: the authorised grant, the actor, audited refusals, resource metadata."""

from __future__ import annotations

from aiohttp import web

from api import limits
from api.keys import AUTHENTICATOR, REDIS, SETTINGS
from api.metrics import AUTH_REFUSED
from api.auth import WWW_AUTHENTICATE, AuthRefused
from domain import events as ev
from domain.commands import Actor
from domain.idp import identify_idp
from infra.logging import get_logger
from infra.redis.audit_stream import AuditStream
from infra.store.organizations import TokenGrant

log = get_logger(__name__)

ENTRA_FLAG = "aadoptscim062020"
GRANT = web.RequestKey("grant", TokenGrant) if hasattr(web, "RequestKey") else "scimgate.grant"


def actor(request: web.Request, grant: TokenGrant | None) -> Actor:
    entra_flag = any(key.lower() == ENTRA_FLAG for key in request.query)
    user_agent = request.headers.get("User-Agent", "")
    return Actor(
        token_id=grant.token_id if grant else "",
        user_agent=user_agent[:256],
        idp=identify_idp(user_agent, entra_flag=entra_flag),
    )


async def authorize(request: web.Request) -> TokenGrant:
    """The grant of an Owner token of the URL's organization, or a 401/403 SCIM error (audited)."""
    org_id = request.match_info["org_id"]
    try:
        grant = await request.config_dict[AUTHENTICATOR].authorize(request.headers.get("Authorization"), org_id)
    except AuthRefused as refused:
        AUTH_REFUSED.labels(str(refused.error.status)).inc()
        await _audit_refusal(request, refused)
        if refused.error.status == 401:
            refused.error.headers = {"WWW-Authenticate": WWW_AUTHENTICATE}
        raise refused.error
    request[GRANT] = grant
    return grant


def grant(request: web.Request) -> TokenGrant:
    """The grant the SCIM sub-application's middleware authorised this request with."""
    return request[GRANT]


async def _audit_refusal(request: web.Request, refused: AuthRefused) -> None:
    who = actor(request, None)
    event = ev.EVENTS.refusal(
        ev.AUTH_REFUSED,
        org_id=request.match_info["org_id"],
        method=request.method,
        path=request.path,
        reason=refused.error.detail,
        status=refused.error.status,
        token_id=refused.token_id,
        user_agent=who.user_agent,
        idp=who.idp,
        request_id=request.get("request_id"),
    )
    await publish_refusal(request, event)


async def publish_refusal(request: web.Request, event: ev.AuditEvent) -> None:
    """Refusals change nothing, so they go straight to the audit stream (no outbox), once per
    ``event_id``. Past the source's refusal budget they are only counted (``api.limits``)."""
    if not limits.admit_refusal(request):
        return
    settings = request.config_dict[SETTINGS]
    try:
        await AuditStream.from_settings(settings).publish_async(request.config_dict[REDIS], event.to_dict())
    except Exception as exc:  # auditing a refusal must not turn it into a 500
        log.warning("refusal_audit_failed", error=str(exc))


def iso(value) -> str:
    text = value if isinstance(value, str) else value.isoformat()
    return text if text.endswith("Z") else text + "Z"


def meta(resource_type: str, view_id: str, created, updated, version: int, base: str) -> dict:
    endpoint = "Users" if resource_type == "User" else "Groups"
    return {
        "resourceType": resource_type,
        "created": iso(created),
        "lastModified": iso(updated),
        "location": f"{base}/{endpoint}/{view_id}",
        "version": f'W/"{version}"',
    }
