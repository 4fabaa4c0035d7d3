"""Per-request context: the authorised grant, the actor, the SCIM base URL, resource metadata."""

from __future__ import annotations

from aiohttp import hdrs, web

from api import forwarded
from api.keys import AUTHENTICATOR, REDIS, SETTINGS
from api.metrics import AUTH_REFUSED
from api.auth import WWW_AUTHENTICATE, AuthRefused
from domain import events as ev
from domain.commands import Actor
from domain.idp import identify_idp
from infra.logging import get_logger
from infra.redis.audit_stream import publish_event_async
from infra.store.clock import utcnow
from infra.store.organizations import TokenGrant

log = get_logger(__name__)

ENTRA_FLAG = "aadoptscim062020"
# The public origin, computed once per request (a typed key from aiohttp 3.14 on; pyproject
# allows older releases, which only have string keys).
_ORIGIN = web.RequestKey("public_origin", str) if hasattr(web, "RequestKey") else "scimgate.public_origin"


def base_url(request: web.Request) -> str:
    """The SCIM base URL of the request's organization, as the client reaches it: every URL
    scimgate generates (``meta.location``, ``Location``, ``$ref``) starts with it."""
    return f"{public_origin(request)}/scim/v2/{request.match_info['org_id']}"


def public_origin(request: web.Request) -> str:
    """``SCIMGATE_PUBLIC_URL`` when set; otherwise the request's scheme and host, as trusted
    proxies assert them (``api/forwarded.py``). A host that is not a valid ``host[:port]``
    is never reflected: the address the request arrived on stands in for it."""
    origin = request.get(_ORIGIN)
    if origin is None:
        settings = request.app[SETTINGS]
        origin = settings.public_url or _request_origin(request, settings.trusted_proxies)
        request[_ORIGIN] = origin
    return origin


def _request_origin(request: web.Request, trusted) -> str:
    proto = host = None
    if forwarded.is_trusted(request.remote, trusted):
        headers = request.headers
        proto, host = forwarded.forwarded_origin(
            request.remote, trusted, _forwarded(request),
            headers.getall(hdrs.X_FORWARDED_PROTO, ()), headers.getall(hdrs.X_FORWARDED_HOST, ()),
        )
    host = host or forwarded.valid_host(request.headers.get(hdrs.HOST))
    if host is None:
        transport = request.transport
        host = forwarded.socket_host(transport.get_extra_info("sockname") if transport else None)
    return f"{proto or request.scheme}://{host or 'localhost'}"


def client_ip(request: web.Request) -> str:
    """The client's IP address: the direct peer, or behind trusted proxies the rightmost
    address of ``Forwarded: for=`` / ``X-Forwarded-For`` that is not a trusted proxy
    ("" when unknown, e.g. on a unix socket)."""
    trusted = request.app[SETTINGS].trusted_proxies
    if not forwarded.is_trusted(request.remote, trusted):
        return forwarded.client_address(request.remote, ())
    return forwarded.client_address(
        request.remote, trusted, _forwarded(request), request.headers.getall(hdrs.X_FORWARDED_FOR, ())
    )


def _forwarded(request: web.Request):
    """The parsed RFC 7239 ``Forwarded`` elements (parsed only when there is such a header)."""
    return request.forwarded if hdrs.FORWARDED in request.headers else ()


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
        grant = await request.app[AUTHENTICATOR].authorize(request.headers.get("Authorization"), org_id)
    except AuthRefused as refused:
        AUTH_REFUSED.labels(str(refused.error.status)).inc()
        await _audit_refusal(request, refused)
        if refused.error.status == 401:
            refused.error.headers = {"WWW-Authenticate": WWW_AUTHENTICATE}
        raise refused.error
    request["grant"] = grant
    return grant


async def _audit_refusal(request: web.Request, refused: AuthRefused) -> None:
    who = actor(request, None)
    event = ev.AuditEvent(
        action=ev.AUTH_REFUSED,
        org_id=request.match_info["org_id"],
        outcome=ev.REFUSED,
        time=utcnow().isoformat() + "Z",
        token_id=refused.token_id,
        user_agent=who.user_agent,
        idp=who.idp,
        request_id=request.get("request_id"),
        status=refused.error.status,
        detail={"method": request.method, "path": request.path, "reason": refused.error.detail},
    )
    await publish_refusal(request, event)


async def publish_refusal(request: web.Request, event: ev.AuditEvent) -> None:
    """Refusals change nothing, so they go straight to the audit stream (no outbox)."""
    settings = request.app[SETTINGS]
    try:
        await publish_event_async(
            request.app[REDIS], settings.audit_stream, event.to_dict(), maxlen=settings.audit_stream_maxlen
        )
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
