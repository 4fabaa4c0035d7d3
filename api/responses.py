"""SCIM responses: ``application/scim+json`` bodies serialised with orjson, and error bodies."""

from __future__ import annotations

import orjson
from aiohttp import web

from domain.errors import ScimError

SCIM_CONTENT_TYPE = "application/scim+json"


def scim_response(body, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        headers=headers,
        content_type=SCIM_CONTENT_TYPE,
        charset="utf-8",
    )


def error_response(error: ScimError, headers: dict | None = None) -> web.Response:
    return scim_response(error.to_body(), error.status, headers)
