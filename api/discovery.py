"""Discovery endpoints: /ServiceProviderConfig, /ResourceTypes, /Schemas (RFC 7644 §4)."""

from __future__ import annotations

from aiohttp import web

from api import origin
from api.keys import SETTINGS
from api.resources import LIST_RESPONSE
from api.responses import scim_response
from domain.errors import NotFound
from domain.schema.discovery import resource_types_document, schemas_document, service_provider_config


def _list(resources: list[dict]) -> dict:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


async def service_provider_config_handler(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    body = service_provider_config(
        origin.base_url(request),
        patch=True,
        bulk_supported=True,
        max_operations=settings.bulk_max_operations,
        max_payload_size=settings.max_body_bytes,
        filter_max_results=settings.max_results,
        sort_supported=True,
        etag_supported=True,
        cursor_timeout=settings.cursor_timeout,
    )
    return scim_response(body)


def _list_or_one(request: web.Request, documents: list[dict], what: str) -> web.Response:
    """The ListResponse of ``documents``, or the one named by the URL's ``{id}``."""
    wanted = request.match_info.get("id")
    if wanted is None:
        return scim_response(_list(documents))
    for document in documents:
        if document["id"].lower() == wanted.lower():
            return scim_response(document)
    raise NotFound(f"No {what} {wanted}")


async def resource_types_handler(request: web.Request) -> web.Response:
    return _list_or_one(request, resource_types_document(origin.base_url(request)), "resource type")


async def schemas_handler(request: web.Request) -> web.Response:
    return _list_or_one(request, schemas_document(origin.base_url(request)), "schema")
