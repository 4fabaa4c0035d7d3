"""Signing in and out of the dashboard.

``POST /dashboard/signin`` takes ONE field, ``token``. An organization's token (Owner or Member:
the dashboard only reads) signs in as that organization; an operator token as an operator. The
token is resolved once (``viewer_for``) and forgotten: the session (``infra.redis.dashboard_sessions``)
holds only who signed in. Wrong tokens get the form again with one message that says nothing
about why; every attempt takes a token from its source address's sign-in budget (a bounded LRU of
token buckets, ``domain.ratelimit``), and past it the answer is 429 without a lookup.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from api.dashboard import pages
from api.dashboard.guard import COOKIE, PREFIX, SIGNIN_COOKIE, secure_cookies, session
from api.dashboard.keys import SESSION, SESSIONS, SIGNIN_BUCKETS
from api.keys import AUTHENTICATOR
from api.limits import Limits
from domain.ratelimit import retry_after
from domain.viewers import OPERATOR, ORGANIZATION, Viewer
from infra.logging import get_logger
from infra.store.operators import OperatorPrincipal
from infra.store.organizations import TokenGrant

log = get_logger(__name__)

MAX_TOKEN = 512
INVALID = "That token is not valid for the dashboard."


async def viewer_for(request: web.Request, token: str) -> Viewer | None:
    """Who ``token`` signs in as, or None."""
    principal = await request.config_dict[AUTHENTICATOR].principal_for(token)
    if isinstance(principal, OperatorPrincipal):
        return Viewer(OPERATOR, principal.operator_id, principal.name)
    if isinstance(principal, TokenGrant):
        return Viewer(ORGANIZATION, principal.token_id, principal.org.name, principal.org.id, principal.role)
    return None


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _form(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    csrf = secrets.token_urlsafe(24)
    response = pages.signin_page(csrf, error, status)
    response.set_cookie(SIGNIN_COOKIE, csrf, path=PREFIX, httponly=True, samesite="Strict",
                        secure=secure_cookies(request), max_age=3600)
    return response


async def signin_form(request: web.Request) -> web.StreamResponse:
    if SESSION in request:
        return redirect(PREFIX)
    return _form(request)


async def signin(request: web.Request) -> web.StreamResponse:
    wait = request.config_dict[SIGNIN_BUCKETS].take(Limits.source(request))
    if wait:
        response = _form(request, f"Too many sign-in attempts from your address; wait {retry_after(wait)} s.", 429)
        response.headers["Retry-After"] = str(retry_after(wait))
        return response
    form = await request.post()
    token = form.get("token")
    viewer = None
    if isinstance(token, str) and 0 < len(token.strip()) <= MAX_TOKEN:
        viewer = await viewer_for(request, token.strip())
    if viewer is None:
        log.info("dashboard_signin_refused")
        return _form(request, INVALID, 401)
    created = await request.config_dict[SESSIONS].create(viewer)
    if SESSION in request:  # signing in again replaces the old session
        await request.config_dict[SESSIONS].delete(session(request).id)
    log.info("dashboard_signin", viewer=viewer.kind, subject_id=viewer.subject_id, org_id=viewer.org_id)
    response = redirect(PREFIX)
    response.set_cookie(COOKIE, created.id, path=PREFIX, httponly=True, samesite="Strict",
                        secure=secure_cookies(request), max_age=request.config_dict[SESSIONS].ttl)
    response.del_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


async def signout(request: web.Request) -> web.StreamResponse:
    await request.config_dict[SESSIONS].delete(session(request).id)
    response = redirect(f"{PREFIX}/signin")
    response.del_cookie(COOKIE, path=PREFIX)
    return response
