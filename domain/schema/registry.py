"""The resource types scimgate serves and name resolution against their schemas.

``resolve`` is the one place an attribute path written by a client (any case, optionally
URN-qualified, optionally relative to a multi-valued complex attribute) becomes a definition
with its canonical spelling and its key path in the stored JSON document.

The common attributes ``id``, ``externalId`` and ``meta`` (RFC 7643 §3.1) belong to no schema;
they resolve against every resource type, reported under the core schema URN.
"""

from __future__ import annotations

from domain.errors import InvalidValue
from domain.filter.ast import AttrPath
from domain.schema.enterprise import ENTERPRISE_USER, ENTERPRISE_USER_SCHEMA
from domain.schema.group import GROUP as GROUP_SCHEMA_DEF
from domain.schema.group import GROUP_SCHEMA
from domain.schema.model import (
    ALWAYS,
    COMPLEX,
    DATETIME,
    READ_ONLY,
    REFERENCE,
    STRING,
    AttributeDef,
    ResolvedAttr,
    ResourceTypeDef,
    SchemaDef,
    SchemaExtensionRef,
)
from domain.schema.user import USER as USER_SCHEMA_DEF
from domain.schema.user import USER_SCHEMA

__all__ = [
    "USER_SCHEMA",
    "ENTERPRISE_USER_SCHEMA",
    "GROUP_SCHEMA",
    "USER",
    "GROUP",
    "COMMON_ATTRIBUTES",
    "ID",
    "EXTERNAL_ID",
    "META",
    "resource_type",
    "known_resource_type",
    "resource_types",
    "schema",
    "schemas",
    "schemas_for",
    "schema_of",
    "schema_urns",
    "resolve",
    "resolve_key",
    "split_urn",
]

ID = AttributeDef(
    name="id",
    type=STRING,
    description="A unique identifier for a SCIM resource as defined by the service provider.",
    case_exact=True,
    mutability=READ_ONLY,
    returned=ALWAYS,
    uniqueness="server",
)
EXTERNAL_ID = AttributeDef(
    name="externalId",
    type=STRING,
    description="A String that is an identifier for the resource as defined by the "
    "provisioning client.",
    case_exact=True,
)
META = AttributeDef(
    name="meta",
    type=COMPLEX,
    description="A complex attribute containing resource metadata.",
    mutability=READ_ONLY,
    sub_attributes=(
        AttributeDef(name="resourceType", type=STRING, case_exact=True, mutability=READ_ONLY,
                     description="The name of the resource type of the resource."),
        AttributeDef(name="created", type=DATETIME, mutability=READ_ONLY,
                     description="The DateTime that the resource was added to the service "
                     "provider."),
        AttributeDef(name="lastModified", type=DATETIME, mutability=READ_ONLY,
                     description="The most recent DateTime that the details of this resource "
                     "were updated at the service provider."),
        AttributeDef(name="location", type=REFERENCE, reference_types=("uri",), case_exact=True,
                     mutability=READ_ONLY, description="The URI of the resource being returned."),
        AttributeDef(name="version", type=STRING, case_exact=True, mutability=READ_ONLY,
                     description="The version of the resource being returned."),
    ),
)
COMMON_ATTRIBUTES: tuple[AttributeDef, ...] = (ID, EXTERNAL_ID, META)

USER = ResourceTypeDef(
    id="User",
    name="User",
    endpoint="/Users",
    description="User Account",
    schema=USER_SCHEMA,
    extensions=(SchemaExtensionRef(schema=ENTERPRISE_USER_SCHEMA, required=False),),
)
GROUP = ResourceTypeDef(
    id="Group",
    name="Group",
    endpoint="/Groups",
    description="Group",
    schema=GROUP_SCHEMA,
)

_RESOURCE_TYPES: dict[str, ResourceTypeDef] = {"user": USER, "group": GROUP}
_SCHEMAS: dict[str, SchemaDef] = {
    USER_SCHEMA.lower(): USER_SCHEMA_DEF,
    ENTERPRISE_USER_SCHEMA.lower(): ENTERPRISE_USER,
    GROUP_SCHEMA.lower(): GROUP_SCHEMA_DEF,
}


def resource_types() -> list[ResourceTypeDef]:
    """Every resource type served, in discovery order."""
    return [USER, GROUP]


def resource_type(name: str) -> ResourceTypeDef:
    """The resource type called ``name`` ("User"/"Group", case-insensitive); KeyError if none."""
    try:
        return _RESOURCE_TYPES[name.lower()]
    except KeyError:
        raise KeyError(f"unknown resource type {name!r}") from None


def known_resource_type(name: str) -> ResourceTypeDef:
    """``resource_type`` for a name that comes with a request: 400 invalidValue if unknown."""
    try:
        return resource_type(name)
    except KeyError:
        raise InvalidValue(f"unknown resource type '{name}'") from None


def schemas() -> list[SchemaDef]:
    """Every schema served (core User, Enterprise User, Group), in discovery order."""
    return [USER_SCHEMA_DEF, ENTERPRISE_USER, GROUP_SCHEMA_DEF]


def schema(urn: str) -> SchemaDef | None:
    """The schema with URN ``urn`` (case-insensitive), or None."""
    return _SCHEMAS.get(urn.lower())


def schemas_for(resource_type_name: str) -> list[SchemaDef]:
    """The core schema of ``resource_type_name`` followed by its extensions."""
    rt = resource_type(resource_type_name)
    return [_SCHEMAS[rt.schema.lower()]] + [_SCHEMAS[ext.schema.lower()] for ext in rt.extensions]


def schema_urns(resource_type_name: str) -> set[str]:
    """The URNs of ``resource_type_name``'s core schema and extensions, lower-cased."""
    return {s.id.lower() for s in schemas_for(resource_type_name)}


def schema_of(resource_type_name: str, urn: str) -> SchemaDef | None:
    """The schema of ``resource_type_name`` (its core schema or an extension) that ``urn``
    names, in any case; None when ``urn`` names no schema of this resource type."""
    found = schema(urn)
    if found is not None and found.id.lower() in schema_urns(resource_type_name):
        return found
    return None


def split_urn(resource_type_name: str, text: str) -> tuple[str | None, str]:
    """Split ``text`` into (schema URN, rest) when it starts with one of the resource type's
    schema URNs followed by ``:`` (case-insensitive); otherwise (None, text).

    ``"urn:...:core:2.0:User:name.givenName"`` → ``("urn:...:core:2.0:User", "name.givenName")``.
    The URN returned is the canonical spelling.
    """
    lowered = text.lower()
    # Longest first so that a URN that is a prefix of another never wins wrongly.
    for schema_def in sorted(schemas_for(resource_type_name), key=lambda s: -len(s.id)):
        prefix = schema_def.id.lower() + ":"
        if lowered.startswith(prefix):
            return schema_def.id, text[len(prefix):]
    return None, text


def _common(name: str) -> AttributeDef | None:
    lowered = name.lower()
    for attr in COMMON_ATTRIBUTES:
        if attr.name.lower() == lowered:
            return attr
    return None


def _normalise_path(resource_type_name: str, path: AttrPath) -> AttrPath | None:
    """Fold the forms a parser may produce for URN-qualified names into (urn, attr, sub).

    Handles a URN left inside ``attr`` (``AttrPath(None, "urn:...:User:manager")``) and a
    sub-attribute left inside ``attr`` (``"name.givenName"``).
    """
    urn, attr, sub = path.urn, path.attr, path.sub_attr
    if urn is None and ":" in attr:
        urn, rest = split_urn(resource_type_name, attr)
        if urn is None:
            return None
        attr = rest
    if sub is None and "." in attr:
        attr, _, sub = attr.partition(".")
    if not attr:
        return None
    return AttrPath(urn, attr, sub)


def resolve(
    resource_type_name: str,
    path: AttrPath,
    parent: ResolvedAttr | None = None,
) -> ResolvedAttr | None:
    """Resolve ``path`` against ``resource_type_name``'s schemas; None when it names nothing.

    - attribute and sub-attribute names are case-insensitive;
    - ``path.urn`` (case-insensitive) must be one of the resource type's schema URNs; the core
      URN also qualifies the common attributes ``id``, ``externalId`` and ``meta``;
    - without a URN, core attributes and common attributes are found first, then extension
      attributes (so ``manager`` and ``department`` resolve on a User);
    - with ``parent`` (a multi-valued complex attribute, e.g. the ``emails`` of
      ``emails[type eq "work"]``), ``path`` is relative to it: ``type`` names the sub-attribute
      ``emails.type``. A path with a URN or a sub-attribute never resolves relative to a parent,
      except that the parent's own name (``emails.type`` inside ``emails[...]``) is tolerated.
    """
    if parent is not None:
        return _resolve_relative(resource_type_name, path, parent)
    try:
        rt = resource_type(resource_type_name)
    except KeyError:
        return None
    normal = _normalise_path(resource_type_name, path)
    if normal is None:
        return None
    if normal.urn is not None:
        schema_def = schema(normal.urn)
        allowed = {rt.schema.lower()} | {ext.schema.lower() for ext in rt.extensions}
        if schema_def is None or schema_def.id.lower() not in allowed:
            return None
        attr = schema_def.attribute(normal.attr)
        if attr is None and schema_def.id == rt.schema:
            attr = _common(normal.attr)
        if attr is None:
            return None
        return _build(schema_def.id, attr, normal.sub_attr, extension=schema_def.id != rt.schema)
    core = _SCHEMAS[rt.schema.lower()]
    attr = core.attribute(normal.attr) or _common(normal.attr)
    if attr is not None:
        return _build(core.id, attr, normal.sub_attr, extension=False)
    for ext in rt.extensions:
        ext_schema = _SCHEMAS[ext.schema.lower()]
        attr = ext_schema.attribute(normal.attr)
        if attr is not None:
            return _build(ext_schema.id, attr, normal.sub_attr, extension=True)
    return None


def resolve_key(resource_type_name: str, key: str) -> ResolvedAttr | None:
    """Resolve a JSON key or an ``attributes`` name: ``userName``, ``name.givenName`` (dotted,
    as Entra sends it), ``urn:...:User:manager`` (URN-qualified); None when it names nothing."""
    urn, rest = split_urn(resource_type_name, key)
    if urn is None and ":" in key:
        return None
    attr, _, sub = rest.partition(".")
    return resolve(resource_type_name, AttrPath(urn, attr, sub or None))


def _build(urn: str, attr: AttributeDef, sub_name: str | None, *, extension: bool) -> ResolvedAttr | None:
    sub: AttributeDef | None = None
    if sub_name is not None:
        if attr.type != COMPLEX:
            return None
        sub = attr.sub(sub_name)
        if sub is None:
            return None
    canonical = (attr.name,) if sub is None else (attr.name, sub.name)
    json_keys = ((urn,) if extension else ()) + canonical
    return ResolvedAttr(schema=urn, attr=attr, sub=sub, canonical=canonical, json_keys=json_keys)


def _resolve_relative(
    resource_type_name: str, path: AttrPath, parent: ResolvedAttr
) -> ResolvedAttr | None:
    if parent.sub is not None or parent.attr.type != COMPLEX:
        return None
    name: str | None
    if path.urn is None and path.sub_attr is None and "." not in path.attr:
        name = path.attr
    else:
        # Tolerate a fully spelled path to a sub-attribute of the parent itself.
        full = resolve(resource_type_name, path)
        if full is None or full.sub is None or full.attr != parent.attr or full.schema != parent.schema:
            return None
        name = full.sub.name
    sub = parent.attr.sub(name)
    if sub is None:
        return None
    canonical = (parent.attr.name, sub.name)
    json_keys = parent.json_keys[: len(parent.json_keys) - 1] + canonical
    return ResolvedAttr(schema=parent.schema, attr=parent.attr, sub=sub, canonical=canonical,
                        json_keys=json_keys)
