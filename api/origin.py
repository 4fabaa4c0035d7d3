"""Where a request comes from, seen from outside: the public base URL and the client's address.

``SCIMGATE_PUBLIC_URL`` when set; otherwise what trusted proxies assert (``api/forwarded.py``
parses the headers), else the request's own ``Host``.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from api import forwarded
from api.keys import SETTINGS

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
        settings = request.config_dict[SETTINGS]
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
    trusted = request.config_dict[SETTINGS].trusted_proxies
    if not forwarded.is_trusted(request.remote, trusted):
        return forwarded.client_address(request.remote, ())
    return forwarded.client_address(
        request.remote, trusted, _forwarded(request), request.headers.getall(hdrs.X_FORWARDED_FOR, ())
    )


def _forwarded(request: web.Request):
    """The parsed RFC 7239 ``Forwarded`` elements (parsed only when there is such a header)."""
    return request.forwarded if hdrs.FORWARDED in request.headers else ()
