"""The dashboard's fence: security headers, session auth, CSRF and error pages for every request.

- Every response (pages, JSON, the event stream, static files) carries a strict CSP (scripts
  only from our own static files, nothing inline), ``X-Frame-Options: DENY``, ``no-store``.
- ``guard`` (the sub-application's middleware) looks the session cookie up in Redis; pages
  without a session redirect to the sign-in form, JSON and the event stream answer 401. Every
  POST must come from our own origin (``Origin``, else ``Referer``) and carry the CSRF token in
  its ``csrf`` field: the session's, or before sign-in the one of the sign-in cookie
  (double-submit). Anything else is refused 403.
- Every failure becomes an error page (or ``{"error": …}`` under ``/dashboard/api/``), never a
  traceback; a store or Redis outage is a 503.
"""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlsplit

from aiohttp import web

from api.dashboard import pages
from api.dashboard.keys import SESSION, SESSIONS
from api.keys import ENGINE
from api.management import json_response
from api.origin import public_origin
from infra.logging import get_logger
from infra.outages import is_transient, is_unavailable
from infra.redis.dashboard_sessions import Session
from infra.store.dashboard_queries import credential_active

log = get_logger(__name__)

PREFIX = "/dashboard"
COOKIE = "scimgate_dash"
SIGNIN_COOKIE = "scimgate_dash_signin"  # the sign-in form's CSRF token (no session yet)
PUBLIC = frozenset({f"{PREFIX}/signin"})  # reachable without a session (static files too)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: also reaches streamed responses and static files."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Cache-Control"] = "no-store"


def secure_cookies(request: web.Request) -> bool:
    return public_origin(request).startswith("https://")


def is_api(request: web.Request) -> bool:
    return request.path.startswith(f"{PREFIX}/api/") or request.path == f"{PREFIX}/events"


def session(request: web.Request) -> Session:
    return request[SESSION]


def error_body(request: web.Request, status: int, message: str) -> web.Response:
    if is_api(request):
        return json_response({"error": {"status": status, "message": message}}, status)
    return pages.error_page(status, message)


def _same_origin(request: web.Request) -> bool:
    expected = public_origin(request)
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer", "")
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
    return origin is not None and origin.lower() == expected.lower()


async def _check_csrf(request: web.Request, current: Session | None) -> None:
    if not _same_origin(request):
        raise web.HTTPForbidden(reason="This form must be sent from the dashboard's own page")
    form = await request.post()
    sent = form.get("csrf")
    expected = current.csrf if current else request.cookies.get(SIGNIN_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise web.HTTPForbidden(reason="The form has expired or did not come from this dashboard; reload the page")


# A session's token is looked up again (revoked? deleted?) at most this often per process.
RECHECK_SECONDS = 10.0
_checked: dict[str, float] = {}


async def session_alive(request: web.Request, current: Session) -> bool:
    """Whether ``current`` still stands: still in Redis, and its token not revoked."""
    if await request.config_dict[SESSIONS].get(current.id) is None:
        return False
    return await _still_valid(request, current)


async def _still_valid(request: web.Request, current: Session) -> bool:
    now = time.monotonic()
    if now - _checked.get(current.id, -1e9) < RECHECK_SECONDS:
        return True
    async with request.config_dict[ENGINE].connect() as conn:
        active = await credential_active(conn, current.viewer)
    if len(_checked) > 10_000:
        _checked.clear()
    if active:
        _checked[current.id] = now
    else:
        _checked.pop(current.id, None)
    return active


@web.middleware
async def guard(request: web.Request, handler):
    try:
        return await _guarded(request, handler)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        message = {404: "No such page", 405: "Method not allowed here"}.get(http_error.status, http_error.reason)
        return error_body(request, http_error.status, message)
    except Exception as error:
        if is_unavailable(error) or is_transient(error):
            log.warning("dashboard_backing_service_unavailable", path=request.path, error=str(error)[:200])
            return error_body(request, 503, "The store or Redis cannot be reached right now; try again shortly")
        log.exception("dashboard_unhandled_error", path=request.path, method=request.method)
        return error_body(request, 500, "Something went wrong on our side")


async def _guarded(request: web.Request, handler):
    if request.path.startswith(f"{PREFIX}/static/"):
        return await handler(request)
    sessions = request.config_dict[SESSIONS]
    cookie = request.cookies.get(COOKIE, "")
    current = await sessions.get(cookie) if cookie else None
    if current is not None and not await _still_valid(request, current):
        await sessions.delete(current.id)
        current = None
    if request.method == "POST":
        await _check_csrf(request, current if request.path not in PUBLIC else None)
    if current is not None:
        request[SESSION] = current
    elif request.path not in PUBLIC:
        if is_api(request):
            return error_body(request, 401, "Sign in first (your session ended or never began)")
        raise web.HTTPSeeOther(f"{PREFIX}/signin")
    return await handler(request)
