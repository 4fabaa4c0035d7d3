"""Middlewares: request id and structured logging, metrics, and SCIM errors for every failure."""

from __future__ import annotations

import functools
import os
import re
import time

import structlog
from aiohttp import web
from aiohttp.web_urldispatcher import SystemRoute

from api.metrics import LATENCY, REQUESTS
from api.responses import error_response
from domain.errors import NotFound, ScimError
from infra.logging import get_logger
from infra.outages import is_unavailable

log = get_logger("scimgate.http")

_HTTP_ERROR_DETAILS = {
    404: "No such endpoint",
    405: "Method not allowed on this endpoint",
    413: "The request body is larger than the service accepts",
}


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# A client's X-Request-Id is kept when it is printable ASCII of reasonable length; otherwise (it
# is echoed back, bound into every log line and copied into audit events) a fresh one is made.
_CLIENT_REQUEST_ID = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,127}")


@web.middleware
async def request_context(request: web.Request, handler):
    supplied = request.headers.get("X-Request-Id", "")
    request_id = supplied if _CLIENT_REQUEST_ID.fullmatch(supplied) else os.urandom(16).hex()
    request["request_id"] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response = await handler(request)
    elapsed = time.perf_counter() - started
    route = _route_name(request)
    REQUESTS.labels(request.method, route, str(response.status)).inc()
    LATENCY.labels(request.method, route).observe(elapsed)
    response.headers["X-Request-Id"] = request_id
    log.info(
        "http_request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round(elapsed * 1000, 2),
        org_id=request.match_info.get("org_id"),
        **_more_commands(request),
    )
    return response


def _more_commands(request: web.Request) -> dict:
    """Every command id of a request that sent several (a Bulk); one rides as ``command_id``."""
    ids = request.get("command_ids")
    return {"command_ids": ids} if ids and len(ids) > 1 else {}


@web.middleware
async def lenient_paths(request: web.Request, handler):
    """Serve ``/scim/v2/ORG//Users`` and ``/scim/v2/ORG/Users/`` as ``/scim/v2/ORG/Users``.

    Admins paste base URLs with a trailing slash and IdPs append ``/Users`` to them. A redirect
    would make the IdP resend (or drop) a POST, so the request is dispatched internally instead.
    An id in the path holding a NUL character names nothing (and no store could be asked about it).
    """
    if any("\x00" in value for value in request.match_info.values() if isinstance(value, str)):
        raise NotFound("No such resource")
    if isinstance(request.match_info.route, SystemRoute) and request.match_info.http_exception is not None:
        raw_path, _, query = request.raw_path.partition("?")
        path = re.sub("//+", "/", raw_path).rstrip("/") or "/"
        if path != raw_path:
            retried = request.clone(rel_url=f"{path}?{query}" if query else path)
            match = await request.app.router.resolve(retried)
            if match.http_exception is None:
                match.add_app(request.app)
                retried._match_info = match  # what aiohttp's own dispatch does once it has resolved
                return await _with_sub_app_middlewares(match)(retried)
    return await handler(request)


def _with_sub_app_middlewares(match):
    """The matched handler wrapped in the middlewares of the sub-applications it belongs to, as
    aiohttp's own dispatch would (this root middleware's chain is already running): a request
    re-dispatched here is authorised and error-mapped exactly like any other."""
    handler = match.handler
    for app in reversed(match.apps[1:]):
        for middleware in reversed(app.middlewares):
            handler = functools.update_wrapper(functools.partial(middleware, handler=handler), handler)
    return handler


@web.middleware
async def scim_errors(request: web.Request, handler):
    """Every failure becomes an RFC 7644 error body; never a traceback, never HTML."""
    try:
        return await handler(request)
    except ScimError as error:
        return error_response(error, error.headers)
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        if http_error.status == 405:
            headers = {"Allow": http_error.headers.get("Allow", "")}
        else:
            headers = None
        detail = _HTTP_ERROR_DETAILS.get(http_error.status, http_error.reason)
        if http_error.status == 404:
            answer: ScimError = NotFound(detail)
        else:
            answer = ScimError(detail, status=http_error.status)
        return error_response(answer, headers)
    except Exception as error:
        if is_unavailable(error):
            log.warning("backing_service_unavailable", path=request.path, error=str(error)[:200])
            return error_response(unavailable_error(), {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
        log.exception("unhandled_error", path=request.path, method=request.method)
        return error_response(ScimError("Internal server error", status=500))


OUTAGE_RETRY_AFTER_SECONDS = 2


def unavailable_error() -> ScimError:
    return ScimError(
        "The service is temporarily unavailable (its store or queue cannot be reached); nothing was changed. "
        "Retry the request.",
        status=503,
    )
