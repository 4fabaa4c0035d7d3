"""The SCIM API, an aiohttp sub-application under ``/scim/v2/``: its routes and its fence.

Its middlewares run for every request routed into it, so no handler can forget them:
``scim_errors`` turns every failure into an RFC 7644 error body, and ``owner_only`` authorises
every request of an organization (an Owner token of the URL's organization, SCIM on, Enterprise
tier; refusals audited) before the handler runs. Handlers read the grant with
``context.grant(request)``. Requests that match no route (404, 405) are answered as SCIM errors
without looking at the token, as before.
"""

from __future__ import annotations

from aiohttp import web

from api import bulk, context, discovery
from api.middleware import scim_errors
from api.resources import GROUP, USER, ResourceEndpoints, root_search
from domain.errors import NotImplementedScim

SCIM_PREFIX = "/scim/v2/"


@web.middleware
async def owner_only(request: web.Request, handler):
    if "org_id" in request.match_info:
        await context.authorize(request)
    return await handler(request)


async def not_implemented(_request: web.Request) -> web.Response:
    """``/Me`` (RFC 7644 §3.11): tokens here are an organization's, not a user's."""
    raise NotImplementedScim("This endpoint is not supported by this service provider")


def scim_app() -> web.Application:
    app = web.Application(middlewares=[scim_errors, owner_only])
    org = "/{org_id}"
    for endpoints in (ResourceEndpoints(USER), ResourceEndpoints(GROUP)):
        collection = f"{org}/{endpoints.kind.endpoint}"
        app.router.add_get(collection, endpoints.list)
        app.router.add_post(collection, endpoints.create)
        app.router.add_post(f"{collection}/.search", endpoints.search)
        app.router.add_get(collection + "/{id}", endpoints.get)
        app.router.add_put(collection + "/{id}", endpoints.replace)
        app.router.add_patch(collection + "/{id}", endpoints.patch)
        app.router.add_delete(collection + "/{id}", endpoints.delete)
    app.router.add_get(f"{org}/ServiceProviderConfig", discovery.service_provider_config_handler)
    app.router.add_get(f"{org}/ResourceTypes", discovery.resource_types_handler)
    app.router.add_get(org + "/ResourceTypes/{id}", discovery.resource_types_handler)
    app.router.add_get(f"{org}/Schemas", discovery.schemas_handler)
    app.router.add_get(org + "/Schemas/{id}", discovery.schemas_handler)
    app.router.add_post(f"{org}/.search", root_search)
    app.router.add_post(f"{org}/Bulk", bulk.bulk)
    app.router.add_route("*", f"{org}/Me", not_implemented)
    return app
