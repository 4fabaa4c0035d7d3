"""The abstract syntax of SCIM filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2).

The parser (``domain.filter.parser``) produces these nodes with attribute names exactly as the
client wrote them; resolving names against a schema (case-insensitively, with URN prefixes) is
the schema registry's job, and compiling to SQL is ``infra.store.filter_sql``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# A comparison value: JSON false / null / true / number / string (RFC 7644 compValue).
CompValue = Union[str, int, float, bool, None]

COMPARE_OPS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})


@dataclass(frozen=True)
class AttrPath:
    """``[URI ":"] ATTRNAME [ "." subAttr ]`` as written by the client.

    ``urn`` is the schema URN prefix when one was given (``urn:ietf:...:enterprise:2.0:User``),
    ``attr`` the attribute name, ``sub_attr`` the sub-attribute name. Inside a value filter
    (``emails[type eq "work"]``) paths are relative to the multi-valued attribute: ``type`` is
    ``AttrPath(None, "type", None)``.
    """

    urn: str | None
    attr: str
    sub_attr: str | None = None

    def __str__(self) -> str:
        text = f"{self.urn}:{self.attr}" if self.urn else self.attr
        return f"{text}.{self.sub_attr}" if self.sub_attr else text


@dataclass(frozen=True)
class Compare:
    """``attrPath compareOp compValue``; ``op`` is lower-cased, one of COMPARE_OPS."""

    path: AttrPath
    op: str
    value: CompValue


@dataclass(frozen=True)
class Present:
    """``attrPath pr``."""

    path: AttrPath


@dataclass(frozen=True)
class And:
    left: "Filter"
    right: "Filter"


@dataclass(frozen=True)
class Or:
    left: "Filter"
    right: "Filter"


@dataclass(frozen=True)
class Not:
    expr: "Filter"


@dataclass(frozen=True)
class ValuePath:
    """``attrPath "[" valFilter "]"``: some value of the multi-valued ``path`` matches ``filter``.

    ``filter``'s paths are relative to the values of ``path``. The non-RFC but common form
    ``emails[type eq "work"].value eq "x"`` is parsed as
    ``ValuePath(emails, And(type eq "work", value eq "x"))`` (the same value must match both).
    """

    path: AttrPath
    filter: "Filter"


Filter = Union[Compare, Present, And, Or, Not, ValuePath]


@dataclass(frozen=True)
class PatchPath:
    """A PATCH ``path``: ``attrPath / valuePath [subAttr]``.

    - ``name.familyName``            → PatchPath(AttrPath(None, "name", "familyName"), None, None)
    - ``members[value eq "x"]``      → PatchPath(AttrPath(None, "members"), <filter>, None)
    - ``emails[type eq "work"].value`` → PatchPath(AttrPath(None, "emails"), <filter>, "value")
    - ``urn:...:enterprise:2.0:User:manager`` → PatchPath(AttrPath(urn, "manager"), None, None)
    """

    attr: AttrPath
    value_filter: Filter | None = None
    sub_attr: str | None = None
