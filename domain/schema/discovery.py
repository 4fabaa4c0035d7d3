"""The discovery documents: ``/Schemas``, ``/ResourceTypes`` and ``/ServiceProviderConfig``
(RFC 7643 §5, §6, §7; RFC 7644 §4).

Built from the registry's definitions, so they describe exactly what the service validates.
Each function returns plain JSON-ready data; wrapping lists in a ListResponse is the caller's job.
The common attributes ``id``, ``externalId`` and ``meta`` are not listed in any Schema resource:
RFC 7643 §3.1 defines them outside every schema, as its §8.7.1 representation does.
"""

from __future__ import annotations

from domain.schema.model import COMPLEX, REFERENCE, AttributeDef, ResourceTypeDef, SchemaDef
from domain.schema.registry import resource_types, schemas

SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SERVICE_PROVIDER_CONFIG_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def attribute_document(attr: AttributeDef) -> dict:
    """One attribute definition as RFC 7643 §7 represents it."""
    doc: dict = {
        "name": attr.name,
        "type": attr.type,
        "multiValued": attr.multi_valued,
        "description": attr.description,
        "required": attr.required,
    }
    if attr.type != COMPLEX:
        doc["caseExact"] = attr.case_exact
    if attr.canonical_values:
        doc["canonicalValues"] = list(attr.canonical_values)
    if attr.type == REFERENCE:
        doc["referenceTypes"] = list(attr.reference_types)
    doc["mutability"] = attr.mutability
    doc["returned"] = attr.returned
    if attr.type != COMPLEX:
        doc["uniqueness"] = attr.uniqueness
    if attr.type == COMPLEX:
        doc["subAttributes"] = [attribute_document(sub) for sub in attr.sub_attributes]
    return doc


def schema_document(base_url: str, schema_def: SchemaDef) -> dict:
    """One Schema resource (RFC 7643 §7)."""
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": schema_def.id,
        "name": schema_def.name,
        "description": schema_def.description,
        "attributes": [attribute_document(attr) for attr in schema_def.attributes],
        "meta": {
            "resourceType": "Schema",
            "location": f"{_base(base_url)}/Schemas/{schema_def.id}",
        },
    }


def schemas_document(base_url: str) -> list[dict]:
    """Every Schema resource served: core User, Enterprise User, Group."""
    return [schema_document(base_url, schema_def) for schema_def in schemas()]


def resource_type_document(base_url: str, rt: ResourceTypeDef) -> dict:
    """One ResourceType resource (RFC 7643 §6)."""
    doc: dict = {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema,
    }
    if rt.extensions:
        doc["schemaExtensions"] = [
            {"schema": ext.schema, "required": ext.required} for ext in rt.extensions
        ]
    doc["meta"] = {
        "resourceType": "ResourceType",
        "location": f"{_base(base_url)}/ResourceTypes/{rt.id}",
    }
    return doc


def resource_types_document(base_url: str) -> list[dict]:
    """Every ResourceType resource served: User, Group."""
    return [resource_type_document(base_url, rt) for rt in resource_types()]


def service_provider_config(
    base_url: str,
    *,
    patch: bool = True,
    bulk_supported: bool,
    max_operations: int,
    max_payload_size: int,
    filter_max_results: int,
    sort_supported: bool,
    etag_supported: bool,
    change_password: bool = False,
    documentation_uri: str | None = None,
    cursor_timeout: int | None = None,
) -> dict:
    """The ServiceProviderConfig resource (RFC 7643 §5); bearer tokens are the one scheme.

    ``pagination`` (RFC 9865 §4): index paging (RFC 7644 §3.4.2.4) is the default, cursor paging
    is offered when ``cursor_timeout`` (seconds a cursor stays valid) is given; a page holds
    ``filter.maxResults`` resources by default and at most.
    """
    doc: dict = {"schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA]}
    if documentation_uri:
        doc["documentationUri"] = documentation_uri
    doc.update(
        {
            "patch": {"supported": patch},
            "bulk": {
                "supported": bulk_supported,
                "maxOperations": max_operations,
                "maxPayloadSize": max_payload_size,
            },
            "filter": {"supported": True, "maxResults": filter_max_results},
            "changePassword": {"supported": change_password},
            "sort": {"supported": sort_supported},
            "pagination": _pagination(filter_max_results, cursor_timeout),
            "etag": {"supported": etag_supported},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": "Authentication scheme using the OAuth Bearer Token Standard: "
                    "an Organization API token with the Owner role.",
                    "specUri": "http://www.rfc-editor.org/info/rfc6750",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{_base(base_url)}/ServiceProviderConfig",
            },
        }
    )
    return doc


def _pagination(page_size: int, cursor_timeout: int | None) -> dict:
    doc: dict = {
        "cursor": cursor_timeout is not None,
        "index": True,
        "defaultPaginationMethod": "index",
        "defaultPageSize": page_size,
        "maxPageSize": page_size,
    }
    if cursor_timeout is not None:
        doc["cursorTimeout"] = cursor_timeout
    return doc
