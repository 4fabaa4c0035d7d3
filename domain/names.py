"""SCIM names are case-insensitive (RFC 7643 §2.1): the one lookup of a member by name.

Every reader of a client's JSON object or query string by member name goes through here: the
PATCH parser (``Operations``, ``op``, ``path``, ``value``), ``normalize`` (``schemas``), the
SearchRequest and Bulk readers and the query-string parameters (``startIndex``, ``attributes``…).
The exact spelling wins when present, else the first member in any case, so every reader
agrees on which of two spellings counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["find_member", "get_member"]


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
