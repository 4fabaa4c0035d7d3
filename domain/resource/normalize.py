"""Input: a client's POST or PUT body made into the canonical document scimgate stores.

Attribute names are spelled as the schema spells them, extension attributes nested under their
URN, values type-checked and tidied (``domain.resource.values``); liberal in the dialects it
accepts (RFC 7644 plus what Okta, Entra and OneLogin really send), strict in what comes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidSyntax, InvalidValue
from domain.filter.ast import AttrPath
from domain.names import find_member, is_name
from domain.resource.document import changed_attributes, check_immutable, check_required
from domain.resource.values import UNASSIGNED, coerce_member_refs, coerce_simple, coerce_value
from domain.schema.enterprise import ENTERPRISE_USER_SCHEMA
from domain.schema.model import READ_ONLY, ResolvedAttr
from domain.schema.registry import (
    known_resource_type,
    resolve,
    resolve_key,
    resource_type,
    schema_of,
    schema_urns,
)
from domain.secrets import is_password, password_given

__all__ = ["Normalized", "normalize"]

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
    """Check the body's ``schemas`` (any case) and return it (lower-cased); [] when absent."""
    present, listed = find_member(body, "schemas")
    if not present:
        return []
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
    ours = schema_urns(resource_type_name)
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
    rt_def = known_resource_type(resource_type)
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
        if is_name(key, "schemas"):
            continue
        if rt_def.id == "User" and key.lower() in _LEGACY_ENTERPRISE_URNS:
            key, value = ENTERPRISE_USER_SCHEMA, _from_legacy_enterprise(value)
        ext = schema_of(rt_def.id, key)
        if ext is not None:
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
        check_immutable(rt_def.id, existing, document)
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
        if is_name(key, "manager") and isinstance(manager, dict):
            renamed = {("value" if is_name(k, "managerId") else k): v
                       for k, v in manager.items()}
            if len(renamed) == len(manager):  # never two values for one sub-attribute
                out[key] = renamed
    return out


def _set(document: dict, keys: tuple[str, ...], value: Any) -> None:
    target = document
    for key in keys[:-1]:
        nxt = target.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            target[key] = nxt
        target = nxt
    target[keys[-1]] = value

