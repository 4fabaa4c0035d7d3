"""SCIM resources in and out: input normalisation (POST/PUT) and output rendering/projection.

``normalize`` turns a client's JSON body into the canonical document scimgate stores (attribute
names spelled as the schema spells them, extension attributes nested under their URN, values
type-checked and tidied), liberal in the dialects it accepts (RFC 7644 plus what Okta, Entra and
OneLogin really send), strict in what comes out. ``render`` builds the JSON sent back, applying
the ``returned`` characteristics and the ``attributes``/``excludedAttributes`` parameters
(RFC 7644 §3.9).

``coerce_value`` (one attribute's value checked against its definition) is shared with the PATCH
engine.
"""

from __future__ import annotations

import base64
import binascii
import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.errors import InvalidSyntax, InvalidValue, Mutability
from domain.filter.ast import AttrPath
from domain.limits import MAX_ATTRIBUTE_NAMES, MAX_INDEXED_STRING
from domain.schema.enterprise import ENTERPRISE_USER_SCHEMA
from domain.schema.model import (
    ALWAYS,
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    IMMUTABLE,
    INTEGER,
    NEVER,
    READ_ONLY,
    REFERENCE,
    REQUEST,
    STRING,
    WRITE_ONLY,
    AttributeDef,
    ResolvedAttr,
)
from domain.schema.registry import (
    COMMON_ATTRIBUTES,
    resolve,
    resource_type,
    schema,
    schemas_for,
    split_urn,
)
from domain.secrets import is_password, password_given

__all__ = [
    "UNASSIGNED",
    "Normalized",
    "normalize",
    "render",
    "parse_attribute_list",
    "Selection",
    "selection",
    "is_requested",
    "coerce_value",
    "coerce_member_refs",
    "coerce_members",
    "coerce_simple",
    "resolve_key",
    "check_required",
    "check_indexed_lengths",
    "check_patch_values",
    "changed_attributes",
]

#: Marks a value that is null, an empty list or an empty complex value: "unassigned".
UNASSIGNED: Any = type("Unassigned", (), {"__repr__": lambda self: "UNASSIGNED"})()

# Legacy URNs some clients (OneLogin templates) put in ``schemas`` instead of the SCIM 2.0 ones.
_LEGACY_CORE_URNS = {
    "User": ("urn:scim:schemas:core:2.0", "urn:scim:schemas:core:1.0"),
    "Group": ("urn:scim:schemas:core:2.0", "urn:scim:schemas:core:1.0"),
}
# OneLogin's "Enterprise" templates nest the enterprise attributes under a legacy URN (SCIM 1.1's
# ``enterprise:1.0``, or ``enterprise:2.0`` without ``:User``); they mean the Enterprise User
# extension, so they are read as it (SCIM 1.1's ``manager.managerId`` is ``manager.value``).
_LEGACY_ENTERPRISE_URNS = (
    "urn:scim:schemas:extension:enterprise:1.0",
    "urn:scim:schemas:extension:enterprise:2.0",
)
# Attributes the store keeps elsewhere or never: not part of the stored document.
_NOT_STORED = {"id", "meta", "groups", "members", "password", "schemas"}


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def coerce_value(attr: AttributeDef, value: Any, *, name: str, sub_level: bool = False) -> Any:
    """Check and tidy ``value`` for attribute ``attr``; return the value to store or UNASSIGNED.

    ``name`` is how the attribute is called in error details. Rules (liberal in, strict out):
    null, ``[]`` and ``{}`` are unassigned; a multi-valued attribute given one value is wrapped
    in a list; a single-valued complex attribute given a one-element list is unwrapped, and one
    with a ``value`` sub-attribute given a bare string gets ``{"value": string}`` (Entra's
    ``manager``); booleans accept "true"/"false" strings in any case; dateTime must be ISO 8601;
    binary must be base64; readOnly sub-attributes are dropped; at most one ``primary: true``.
    """
    if value is None:
        return UNASSIGNED
    if attr.multi_valued and not sub_level:
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            coerced = coerce_value(attr, item, name=name, sub_level=True)
            if coerced is not UNASSIGNED:
                out.append(coerced)
        if not out:
            return UNASSIGNED
        if attr.type == COMPLEX:
            primaries = [v for v in out if v.get("primary") is True]
            if len(primaries) > 1:
                raise InvalidValue(f"at most one value of '{name}' may be primary")
        return out
    if attr.type == COMPLEX:
        return _coerce_complex(attr, value, name=name)
    return coerce_simple(attr, value, name=name)


def _coerce_complex(attr: AttributeDef, value: Any, *, name: str) -> Any:
    if isinstance(value, list) and not attr.multi_valued:
        if len(value) == 0:
            return UNASSIGNED
        if len(value) == 1:
            value = value[0]
    if isinstance(value, str) and not attr.multi_valued and attr.sub("value") is not None:
        value = {"value": value}
    if not isinstance(value, dict):
        raise InvalidValue(f"'{name}' must be a complex value (a JSON object)")
    out: dict = {}
    for key, sub_value in value.items():
        sub = attr.sub(key) if isinstance(key, str) else None
        if sub is None:
            raise InvalidValue(f"unknown attribute '{name}.{key}'")
        if sub.name in out:
            raise InvalidValue(f"attribute '{name}.{sub.name}' given more than once")
        if sub.mutability == READ_ONLY:
            continue
        coerced = coerce_simple(sub, sub_value, name=f"{name}.{sub.name}")
        if coerced is not UNASSIGNED:
            out[sub.name] = coerced
    return out if out else UNASSIGNED


def coerce_simple(attr: AttributeDef, value: Any, *, name: str) -> Any:
    """Check and tidy the value of a simple (non-complex, single) attribute or sub-attribute."""
    if value is None:
        return UNASSIGNED
    kind = attr.type
    if kind in (STRING, REFERENCE):
        if isinstance(value, str):
            if "\x00" in value:
                # JSON allows \u0000; no text column (nor PostgreSQL's JSONB) can keep it.
                raise InvalidValue(f"'{name}' must not contain the NUL character (\\u0000)")
            return value
    elif kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    elif kind == INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == DECIMAL:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif kind == DATETIME:
        if isinstance(value, str) and _is_datetime(value):
            return value
        raise InvalidValue(f"'{name}' must be an ISO 8601 dateTime (e.g. 2024-01-31T12:00:00Z)")
    elif kind == BINARY:
        if isinstance(value, str) and _is_base64(value):
            return value
        raise InvalidValue(f"'{name}' must be base64-encoded binary")
    elif kind == COMPLEX:  # a complex sub-attribute does not exist in SCIM
        raise InvalidValue(f"'{name}' is not a valid attribute")
    raise InvalidValue(f"'{name}' must be of type {kind}, got {_json_type(value)}")


def _is_datetime(text: str) -> bool:
    if "T" not in text.upper():
        return False
    try:
        datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return False
    return True


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def coerce_members(value: Any) -> list[str]:
    """The member ids of a Group ``members`` value, in order, deduplicated."""
    return list(coerce_member_refs(value))


def coerce_member_refs(value: Any) -> dict[str, str | None]:
    """The members of a Group ``members`` value: id → the ``display`` the client sent (or None),
    in order, deduplicated.

    Each member must be an object with a non-empty string ``value``; ``$ref`` (also null) and
    ``type`` are accepted and not kept; ``type: "Group"`` is refused because nested groups are
    not supported.
    """
    if value is None:
        return {}
    items = value if isinstance(value, list) else [value]
    refs: dict[str, str | None] = {}
    for item in items:
        if not isinstance(item, dict):
            raise InvalidValue("each value of 'members' must be an object with a 'value'")
        member_id: Any = None
        display: str | None = None
        for key, sub_value in item.items():
            lowered = key.lower() if isinstance(key, str) else key
            if lowered == "value":
                member_id = sub_value
            elif lowered == "type":
                if isinstance(sub_value, str) and sub_value.lower() == "group":
                    raise InvalidValue(
                        "nested groups are not supported: a Group cannot be a member of a Group"
                    )
                if sub_value is not None and not isinstance(sub_value, str):
                    raise InvalidValue("'members.type' must be a string")
            elif lowered in ("$ref", "display"):
                if sub_value is not None and not isinstance(sub_value, str):
                    raise InvalidValue(f"'members.{key}' must be a string")
                if lowered == "display":
                    display = sub_value or None
            else:
                raise InvalidValue(f"unknown attribute 'members.{key}'")
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue("each value of 'members' must have a non-empty string 'value'")
        if "\x00" in member_id or (display and "\x00" in display):
            raise InvalidValue("'members' must not contain the NUL character (\\u0000)")
        if display and len(display) > MAX_INDEXED_STRING:
            raise InvalidValue(f"'members.display' must be at most {MAX_INDEXED_STRING} characters")
        if member_id not in refs or refs[member_id] is None:
            refs[member_id] = display
    return refs


def changed_attributes(resource_type_name: str, before: dict, after: dict) -> list[str]:
    """The top-level attributes whose values differ between two stored documents, in schema
    order; extension attributes are named ``<urn>:<attr>``."""
    changed: list[str] = []
    rt = resource_type(resource_type_name)
    for schema_def in schemas_for(resource_type_name):
        extension = schema_def.id != rt.schema
        old_root = before.get(schema_def.id, {}) if extension else before
        new_root = after.get(schema_def.id, {}) if extension else after
        attrs = schema_def.attributes if extension else schema_def.attributes + COMMON_ATTRIBUTES
        for attr in attrs:
            if attr.name in _NOT_STORED:
                continue
            if old_root.get(attr.name, UNASSIGNED) != new_root.get(attr.name, UNASSIGNED):
                changed.append(f"{schema_def.id}:{attr.name}" if extension else attr.name)
    return changed


def check_required(resource_type_name: str, document: dict) -> None:
    """Raise InvalidValue unless the document holds every required attribute (``userName`` and
    a Group's ``displayName`` must be non-empty strings) and fits the store's columns."""
    rt = resource_type(resource_type_name)
    for schema_def in schemas_for(resource_type_name):
        root = document if schema_def.id == rt.schema else document.get(schema_def.id, {})
        for attr in schema_def.attributes:
            if not attr.required or attr.name in _NOT_STORED:
                continue
            value = root.get(attr.name)
            if value is None or value == [] or value == {}:
                raise InvalidValue(f"required attribute '{attr.name}' is missing")
            if attr.type == STRING and not attr.multi_valued and not str(value).strip():
                raise InvalidValue(f"'{attr.name}' must be a non-empty string")
    check_indexed_lengths(resource_type_name, document)


#: The attributes the store copies into ``String(512)`` columns (``infra/store/tables.py``).
_INDEXED = {"User": ("userName", "displayName", "externalId"), "Group": ("displayName", "externalId")}


def check_indexed_lengths(resource_type_name: str, document: dict) -> None:
    """Raise InvalidValue when an attribute the store indexes is longer than its column.

    PostgreSQL would refuse it and SQLite would keep it; both backends answer the same."""
    for name in _INDEXED.get(resource_type(resource_type_name).id, ()):
        _check_indexed(name, document.get(name))


def _check_indexed(name: str, value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_INDEXED_STRING:
        raise InvalidValue(f"'{name}' must be at most {MAX_INDEXED_STRING} characters, got {len(value)}")


def check_patch_values(resource_type_name: str, operations: list) -> None:
    """What the ingress can check of a PATCH's values without the stored resource: that the
    strings it would put in the store's indexed columns fit them, and that members added or
    set are well-formed (``coerce_member_refs``). The PATCH engine applies the same rules to
    the outcome, so the answer is the same wherever it is found.

    ``operations`` are parsed PATCH operations (``op``, ``path``, ``value``)."""
    rt_id = _rt(resource_type_name).id
    for operation in operations:
        if operation.op == "remove":
            continue
        path = operation.path
        if path is None:
            if isinstance(operation.value, dict):
                for key, value in operation.value.items():
                    _check_patch_target(rt_id, resolve_key(rt_id, key) if isinstance(key, str) else None, value)
        elif path.value_filter is None and path.sub_attr is None:
            _check_patch_target(rt_id, resolve(rt_id, path.attr), operation.value)


def _check_patch_target(rt_id: str, resolved: ResolvedAttr | None, value: Any) -> None:
    if resolved is None or resolved.sub is not None or len(resolved.json_keys) != 1:
        return
    name = resolved.attr.name
    if rt_id == "Group" and name == "members":
        coerce_member_refs(value)
    elif name in _INDEXED[rt_id]:
        _check_indexed(name, value)


# --------------------------------------------------------------------------------------------
# Input: POST and PUT
# --------------------------------------------------------------------------------------------


@dataclass
class Normalized:
    """The outcome of ``normalize``: what to store, and what the store and audit need to know."""

    document: dict
    member_ids: list[str] | None = None
    password_supplied: bool = False
    changed: list[str] = field(default_factory=list)
    # The ``display`` a client sent for a member (RFC 7643 §4.2: immutable, set with the member).
    member_displays: dict[str, str] = field(default_factory=dict)


def _schemas_listed(resource_type_name: str, body: dict) -> list[str]:
    """Check the body's ``schemas`` and return it (lower-cased); [] when absent."""
    if "schemas" not in body:
        return []
    listed = body["schemas"]
    if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
        raise InvalidSyntax("'schemas' must be a list of schema URIs (strings)")
    lowered = [s.strip().lower() for s in listed]
    rt = resource_type(resource_type_name)
    accepted = {rt.schema.lower(), *_LEGACY_CORE_URNS.get(rt.id, ())}
    if not accepted.intersection(lowered):
        raise InvalidSyntax(f"'schemas' must include {rt.schema}")
    return lowered


def _is_ignored_urn_key(resource_type_name: str, key: str, listed: list[str]) -> bool:
    """A key that names, or is qualified by, a schema URI the client listed in ``schemas``
    that is not one of ours (an extension we don't know)."""
    ours = _schema_urns(resource_type_name)
    lowered = key.lower()
    return any(lowered == urn or lowered.startswith(urn + ":")
               for urn in listed if urn and urn not in ours)


def normalize(resource_type: str, body: Any, *, existing: dict | None = None) -> Normalized:
    """Validate a POST (``existing`` None) or PUT (``existing`` = stored document) body.

    See the module docstring; the returned document never holds ``id``, ``meta``, ``groups``,
    ``members``, ``password`` or ``schemas``.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("the request body must be a JSON object")
    rt_def = _rt(resource_type)
    listed = _schemas_listed(rt_def.id, body)
    document: dict = {}
    member_refs: dict[str, str | None] | None = None
    password_supplied = False
    seen: set[tuple[str, ...]] = set()

    def assign(resolved: ResolvedAttr, value: Any, key: str) -> None:
        nonlocal member_refs, password_supplied
        attr = resolved.attr
        if resolved.json_keys in seen:
            raise InvalidValue(f"attribute '{key}' given more than once")
        seen.add(resolved.json_keys)
        if rt_def.id == "Group" and attr.name == "members" and resolved.sub is None:
            member_refs = coerce_member_refs(value)
            return
        if is_password(rt_def.id, resolved):
            password_supplied = password_given("replace", value)  # dropped: never stored
            return
        if attr.mutability == READ_ONLY or (resolved.sub and resolved.sub.mutability == READ_ONLY):
            return  # readOnly attributes are ignored on input (RFC 7644 §3.5.1)
        label = ".".join(resolved.canonical)
        if resolved.sub is None:
            coerced = coerce_value(attr, value, name=label)
        elif attr.multi_valued:
            raise InvalidValue(f"'{key}' cannot be set for every value of '{attr.name}'")
        else:
            coerced = coerce_simple(resolved.sub, value, name=label)
        if coerced is UNASSIGNED:
            return
        _set(document, resolved.json_keys, coerced)

    for key, value in body.items():
        if not isinstance(key, str):
            raise InvalidValue(f"unknown attribute {key!r}")
        lowered = key.lower()
        if lowered == "schemas":
            continue
        if rt_def.id == "User" and lowered in _LEGACY_ENTERPRISE_URNS:
            key, value = ENTERPRISE_USER_SCHEMA, _from_legacy_enterprise(value)
        ext = schema(key)
        if ext is not None and ext.id.lower() in _schema_urns(rt_def.id):
            if ext.id == rt_def.schema:
                raise InvalidValue(f"core attributes must not be nested under '{key}'")
            if value is None:
                continue
            if not isinstance(value, dict):
                raise InvalidValue(f"'{key}' must be a JSON object of extension attributes")
            for sub_key, sub_value in value.items():
                resolved = resolve(rt_def.id, AttrPath(ext.id, sub_key)) if isinstance(sub_key, str) else None
                if resolved is None:
                    raise InvalidValue(f"unknown attribute '{key}:{sub_key}'")
                assign(resolved, sub_value, f"{ext.id}:{sub_key}")
            continue
        resolved = resolve_key(rt_def.id, key)
        if resolved is None:
            if _is_ignored_urn_key(rt_def.id, key, listed):
                continue  # an extension we don't know, declared by the client: ignored
            raise InvalidValue(f"unknown attribute '{key}'")
        assign(resolved, value, key)

    if existing is not None:
        _check_immutable(rt_def.id, existing, document)
    check_required(rt_def.id, document)
    changed = changed_attributes(rt_def.id, existing or {}, document)
    member_ids = None if member_refs is None else list(member_refs)
    if member_ids is not None and (existing is not None or member_ids):
        changed.append("members")
    displays = {mid: shown for mid, shown in (member_refs or {}).items() if shown}
    return Normalized(document=document, member_ids=member_ids, member_displays=displays,
                      password_supplied=password_supplied, changed=changed)


def _from_legacy_enterprise(value: Any) -> Any:
    """A legacy enterprise object with SCIM 1.1's ``manager.managerId`` spelled ``manager.value``."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, manager in value.items():
        if isinstance(key, str) and key.lower() == "manager" and isinstance(manager, dict):
            renamed = {("value" if isinstance(k, str) and k.lower() == "managerid" else k): v
                       for k, v in manager.items()}
            if len(renamed) == len(manager):  # never two values for one sub-attribute
                out[key] = renamed
    return out


def _rt(name: str):
    try:
        return resource_type(name)
    except KeyError:
        raise InvalidValue(f"unknown resource type '{name}'") from None


def _schema_urns(resource_type_name: str) -> set[str]:
    return {s.id.lower() for s in schemas_for(resource_type_name)}


def resolve_key(resource_type_name: str, key: str) -> ResolvedAttr | None:
    """Resolve a JSON key: ``userName``, ``name.givenName`` (Entra), ``urn:...:User:manager``."""
    urn, rest = split_urn(resource_type_name, key)
    if urn is None and ":" in key:
        return None
    attr, _, sub = rest.partition(".")
    return resolve(resource_type_name, AttrPath(urn, attr, sub or None))


def _set(document: dict, keys: tuple[str, ...], value: Any) -> None:
    target = document
    for key in keys[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            target[key] = nxt
        target = nxt
    target[keys[-1]] = value


def _check_immutable(resource_type_name: str, existing: dict, document: dict) -> None:
    """PUT: an immutable attribute that has a value may not change (RFC 7644 §3.5.1)."""
    rt = resource_type(resource_type_name)
    for schema_def in schemas_for(resource_type_name):
        extension = schema_def.id != rt.schema
        old_root = existing.get(schema_def.id, {}) if extension else existing
        new_root = document.get(schema_def.id, {}) if extension else document
        for attr in schema_def.attributes:
            if attr.name in _NOT_STORED:
                continue
            old = old_root.get(attr.name)
            if old is None:
                continue
            new = new_root.get(attr.name)
            if attr.mutability == IMMUTABLE and new != old:
                raise Mutability(f"attribute '{attr.name}' is immutable and cannot be changed")
            if attr.type == COMPLEX and not attr.multi_valued and isinstance(old, dict):
                for sub in attr.sub_attributes:
                    if sub.mutability != IMMUTABLE or sub.name not in old:
                        continue
                    if not isinstance(new, dict) or new.get(sub.name) != old[sub.name]:
                        raise Mutability(
                            f"attribute '{attr.name}.{sub.name}' is immutable and cannot be changed"
                        )


# --------------------------------------------------------------------------------------------
# Output: rendering and projection
# --------------------------------------------------------------------------------------------


def parse_attribute_list(value: Any) -> list[str] | None:
    """The names of an ``attributes``/``excludedAttributes`` parameter; None when empty.

    A query parameter is one comma-separated string; a SearchRequest member is a list of
    strings (each may itself be comma-separated) or one string. Names are deduplicated
    case-insensitively, keeping the first spelling. Anything but strings is 400 invalidValue,
    and so are more than ``MAX_ATTRIBUTE_NAMES`` names (before deduplication: the list is what
    costs the work).
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = [part for item in value for part in item.split(",")]
    else:
        raise InvalidValue("'attributes' and 'excludedAttributes' must be strings (or a list of strings)")
    names: dict[str, str] = {}
    count = 0
    for part in parts:
        name = part.strip()
        if not name:
            continue
        count += 1
        if count > MAX_ATTRIBUTE_NAMES:
            raise InvalidValue(
                f"'attributes' and 'excludedAttributes' may name at most {MAX_ATTRIBUTE_NAMES} attributes"
            )
        names.setdefault(name.lower(), name)
    return list(names.values()) or None


@dataclass
class _Names:
    """Attribute names selected by a parameter: top-level key path → sub-attribute names
    (None for the whole attribute)."""

    entries: dict[tuple[str, ...], set[str] | None] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], sub: str | None) -> None:
        if sub is None:
            self.entries[key] = None
        elif key not in self.entries:
            self.entries[key] = {sub}
        elif self.entries[key] is not None:
            self.entries[key].add(sub)  # type: ignore[union-attr]


def _names(resource_type_name: str, names: list[str] | None) -> _Names | None:
    if names is None:
        return None
    selected = _Names()
    rt = resource_type(resource_type_name)
    urns = _schema_urns(resource_type_name)
    for name in names:
        ext = schema(name)
        if ext is not None and ext.id.lower() in urns:
            for attr in ext.attributes:
                key = (attr.name,) if ext.id == rt.schema else (ext.id, attr.name)
                selected.add(key, None)
            continue
        resolved = resolve_key(resource_type_name, name)
        if resolved is None:
            continue  # unknown names are ignored (liberal)
        top = resolved.json_keys[: len(resolved.json_keys) - (1 if resolved.sub else 0)]
        selected.add(top, resolved.sub.name if resolved.sub else None)
    return selected


@dataclass(frozen=True)
class Selection:
    """The ``attributes``/``excludedAttributes`` of a request resolved against one resource
    type: built once per request (``selection``) and applied to every resource rendered."""

    resource_type: str
    include: _Names | None = None
    exclude: _Names | None = None


def selection(
    resource_type_name: str, attributes: list[str] | None = None, excluded_attributes: list[str] | None = None
) -> Selection:
    """Resolve the names of ``attributes``/``excludedAttributes`` for ``resource_type_name``."""
    rt = _rt(resource_type_name)
    return Selection(rt.id, _names(rt.id, attributes), _names(rt.id, excluded_attributes))


def is_requested(
    resource_type: str,
    name: str,
    attributes: list[str] | None = None,
    excluded_attributes: list[str] | None = None,
    *,
    selected: Selection | None = None,
) -> bool:
    """Whether top-level attribute ``name`` (e.g. ``members``) would appear in the rendered
    resource, so callers can skip loading what would not be sent."""
    resolved = resolve_key(resource_type, name)
    if resolved is None:
        return False
    key = resolved.json_keys[: len(resolved.json_keys) - (1 if resolved.sub else 0)]
    chosen = selected or selection(resource_type, attributes, excluded_attributes)
    return _decide(resolved.attr, key, chosen.include, chosen.exclude) is not False


def _decide(attr: AttributeDef, key: tuple[str, ...], include: _Names | None,
            exclude: _Names | None) -> bool | set[str]:
    """Whether a top-level attribute is sent: False (drop it), True (send it; sub-attribute
    exclusions are applied by the caller) or a set (send only these sub-attributes)."""
    if attr.returned == NEVER or attr.mutability == WRITE_ONLY:
        return False
    if attr.returned == ALWAYS:
        return True
    if include is not None:
        if key not in include.entries:
            return False
        subs = include.entries[key]
        return True if subs is None else set(subs)
    if attr.returned == REQUEST:
        return False
    if exclude is not None and key in exclude.entries and exclude.entries[key] is None:
        return False
    return True


def _project_complex(attr: AttributeDef, value: Any, keep: set[str] | None,
                     drop: set[str] | None, requested: set[str] | None) -> Any:
    def one(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        out = {}
        for sub_name, sub_value in item.items():
            sub = attr.sub(sub_name)
            if sub is None or sub.returned == NEVER or sub.mutability == WRITE_ONLY:
                continue
            canonical = sub.name
            if sub.returned != ALWAYS:
                if keep is not None and canonical not in keep:
                    continue
                if drop is not None and canonical in drop:
                    continue
                if sub.returned == REQUEST and (requested is None or canonical not in requested):
                    continue
            out[canonical] = sub_value
        return out

    if isinstance(value, list):
        items = [one(item) for item in value]
        return [item for item in items if item != {}]
    return one(value)


def render(
    resource_type: str,
    document: dict,
    *,
    id: str,
    meta: dict,
    members: list[dict] | None = None,
    groups: list[dict] | None = None,
    attributes: list[str] | None = None,
    excluded_attributes: list[str] | None = None,
    selected: Selection | None = None,
) -> dict:
    """The SCIM JSON of a stored resource, projected per RFC 7644 §3.9.

    ``schemas`` lists the core URN and each extension present in the output; ``id`` is always
    sent; ``meta`` is sent as given (``resourceType``, ``created``, ``lastModified``,
    ``location``, ``version``); ``members`` (Group) and ``groups`` (User) are sent when given.
    Attributes and sub-attributes returned ``never`` are never sent, ``always`` always,
    ``request`` only when named in ``attributes``. Unknown names in either list are ignored.
    ``selected`` is the request's ``selection`` (resolve the names once, render many resources);
    without it ``attributes``/``excluded_attributes`` are resolved for this one call.
    """
    rt = _rt(resource_type)
    if selected is None:
        selected = selection(rt.id, attributes, excluded_attributes)
    elif selected.resource_type != rt.id:
        raise ValueError(f"a selection for {selected.resource_type} cannot render a {rt.id}")
    include, exclude = selected.include, selected.exclude
    core_schema = schemas_for(rt.id)[0]

    full: list[tuple[AttributeDef, tuple[str, ...], Any]] = [
        (COMMON_ATTRIBUTES[0], ("id",), id)
    ]
    if "externalId" in document:
        full.append((COMMON_ATTRIBUTES[1], ("externalId",), document["externalId"]))
    for attr in core_schema.attributes:
        if attr.name == "members" and rt.id == "Group":
            if members is not None:
                full.append((attr, ("members",), members))
            continue
        if attr.name == "groups" and rt.id == "User":
            if groups is not None:
                full.append((attr, ("groups",), groups))
            continue
        if attr.name in document:
            full.append((attr, (attr.name,), document[attr.name]))
    for ext in rt.extensions:
        ext_doc = document.get(ext.schema)
        ext_schema = schema(ext.schema)
        if not isinstance(ext_doc, dict) or ext_schema is None:
            continue
        for attr in ext_schema.attributes:
            if attr.name in ext_doc:
                full.append((attr, (ext_schema.id, attr.name), ext_doc[attr.name]))
    full.append((COMMON_ATTRIBUTES[2], ("meta",), meta))

    out: dict = {"schemas": [rt.schema]}
    for attr, key, value in full:
        decision = _decide(attr, key, include, exclude)
        if decision is False:
            continue
        if attr.type == COMPLEX and attr.sub_attributes and value is not None:
            keep = decision if isinstance(decision, set) else None
            drop = None
            if exclude is not None and include is None and isinstance(exclude.entries.get(key), set):
                drop = exclude.entries[key]
            requested = keep
            # _project_complex builds new objects of simple sub-values: nothing of ``value`` is shared.
            value = _project_complex(attr, value, keep, drop, requested)
            if (value == {} or value == []) and attr.returned != ALWAYS and key != ("members",) \
                    and key != ("groups",):
                continue
        else:
            value = copy.deepcopy(value)
        if len(key) == 2:
            out.setdefault(key[0], {})[key[1]] = value
        else:
            out[key[0]] = value
    for ext in rt.extensions:
        if ext.schema in out:
            out["schemas"].append(ext.schema)
    return out

