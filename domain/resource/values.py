"""One attribute's value checked against its definition: liberal in what it accepts, strict in
what it keeps. Shared by ``normalize`` (POST/PUT) and the PATCH engine, so a value is accepted or
refused the same way whichever request carries it.

``UNASSIGNED`` marks a value that is null, an empty list or an empty complex value.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from domain.errors import InvalidValue
from domain.limits import MAX_INDEXED_STRING
from domain.names import get_member, read_boolean
from domain.schema.model import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    INTEGER,
    READ_ONLY,
    REFERENCE,
    STRING,
    AttributeDef,
)

__all__ = ["UNASSIGNED", "coerce_value", "coerce_simple", "coerce_members", "coerce_member_refs"]

#: Marks a value that is null, an empty list or an empty complex value: "unassigned".
UNASSIGNED: Any = type("Unassigned", (), {"__repr__": lambda self: "UNASSIGNED"})()


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
        flag = read_boolean(value)
        if flag is not None:
            return flag
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


# The sub-attributes a client may send for a member (lower-cased).
_MEMBER_KEYS = frozenset({"value", "type", "$ref", "display"})


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
        for key in item:
            if not isinstance(key, str) or key.lower() not in _MEMBER_KEYS:
                raise InvalidValue(f"unknown attribute 'members.{key}'")
        kind = get_member(item, "type")
        if kind is not None and not isinstance(kind, str):
            raise InvalidValue("'members.type' must be a string")
        if isinstance(kind, str) and kind.lower() == "group":
            raise InvalidValue("nested groups are not supported: a Group cannot be a member of a Group")
        for name in ("$ref", "display"):
            text = get_member(item, name)
            if text is not None and not isinstance(text, str):
                raise InvalidValue(f"'members.{name}' must be a string")
        member_id = get_member(item, "value")
        display: str | None = get_member(item, "display") or None
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValue("each value of 'members' must have a non-empty string 'value'")
        if "\x00" in member_id or (display and "\x00" in display):
            raise InvalidValue("'members' must not contain the NUL character (\\u0000)")
        if display and len(display) > MAX_INDEXED_STRING:
            raise InvalidValue(f"'members.display' must be at most {MAX_INDEXED_STRING} characters")
        if member_id not in refs or refs[member_id] is None:
            refs[member_id] = display
    return refs

