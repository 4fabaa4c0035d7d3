"""SCIM names are case-insensitive (RFC 7643 §2.1): the one lookup of a member by name (and
the one reading of a loosely spelled boolean).

Every reader of a client's JSON object or query string by member name goes through here: the
PATCH parser (``Operations``, ``op``, ``path``, ``value``), ``normalize`` (``schemas``), the
SearchRequest and Bulk readers and the query-string parameters (``startIndex``, ``attributes``…).
The exact spelling wins when present, else the first member in any case, so every reader
agrees on which of two spellings counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["find_member", "get_member", "is_name", "read_boolean"]


def find_member(obj: Mapping, name: str) -> tuple[bool, Any]:
    """``(present, value)`` of member ``name`` of ``obj``, matched case-insensitively."""
    if name in obj:
        return True, obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return True, value
    return False, None


def get_member(obj: Mapping, name: str, default: Any = None) -> Any:
    """The value of member ``name`` of ``obj`` (any case), or ``default`` when there is none."""
    present, value = find_member(obj, name)
    return value if present else default


def is_name(key: object, name: str) -> bool:
    """Whether the member key ``key`` is ``name`` in any case (``Schemas`` is ``schemas``)."""
    return isinstance(key, str) and key.lower() == name.lower()


def read_boolean(value: object) -> bool | None:
    """A boolean as clients send it: JSON true/false, or the strings "true"/"false" in any case
    (Entra sends ``"False"``); None for anything else. Values and filters read booleans alike."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
