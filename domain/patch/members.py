"""PATCH on a Group's ``members``: never materialised. A Team may have 100,000 members, kept
as rows; every operation on ``members`` becomes a ``MemberChange`` the store applies as a set
operation (RFC 7644 §3.5.2; ARCHITECTURE.md principle 3).

- ``add`` adds the given members (re-adding one is a successful no-op), ``replace`` makes the
  members exactly the given ones, ``remove`` without a value removes every member;
- ``remove`` with a ``value`` list removes only the listed members (Entra's default dialect);
- ``remove`` with a filter (``members[value eq "id"]``) removes the members it matches: a filter
  of ``value eq`` terms joined by ``or`` becomes their ids; any other is checked here and
  evaluated by the store's one SQL compiler (``infra.store.filter_sql``);
- sub-attributes of members are immutable (``display`` is set with the member).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from domain.errors import InvalidPath, InvalidValue, Mutability
from domain.filter.ast import Compare, Filter, Or
from domain.filter.evaluate import value_predicate
from domain.resource.values import coerce_member_refs, coerce_members
from domain.schema.model import ResolvedAttr
from domain.schema.registry import resolve

__all__ = ["MemberChange", "member_change"]


@dataclass(frozen=True)
class MemberChange:
    """A set operation on a Group's member rows, applied by the store in order.

    - ``add``: add ``ids`` (already-present ids are a no-op);
    - ``remove``: remove ``ids``; or, when ``filter`` is set (and ``ids`` empty), remove the
      members matching ``filter`` (relative to a member: ``value``, ``type``, ``display``…);
    - ``remove_all``: remove every member;
    - ``replace``: the members become exactly ``ids``.
    """

    kind: Literal["add", "remove", "remove_all", "replace"]
    ids: tuple[str, ...] = ()
    filter: Filter | None = None
    # For add/replace: (id, display) for the members whose ``display`` the client sent.
    displays: tuple[tuple[str, str], ...] = ()


def member_change(op: str, resolved: ResolvedAttr, value: Any, has_value: bool, flt: Filter | None,
                  post_sub: str | None, label: str) -> MemberChange | None:
    """The change one operation on ``members`` makes (None: none at all)."""
    if resolved.sub is not None or post_sub is not None:
        raise Mutability(f"'{label}': sub-attributes of members are immutable")
    if flt is not None:
        if op != "remove":
            raise InvalidPath(f"'{label}': members selected by a filter can only be removed")
        value_predicate("Group", resolved, flt, unknown=InvalidPath)  # a filter the store can run
        ids = _member_value_ids(resolved, flt)
        return MemberChange("remove", tuple(ids)) if ids is not None else MemberChange("remove", (), flt)
    if op == "add":
        if value is None:
            raise InvalidValue(f"'{label}': an add operation requires a non-null 'value'")
        refs = coerce_member_refs(value)
        return MemberChange("add", tuple(refs), displays=_shown(refs)) if refs else None
    if op == "replace":
        refs = coerce_member_refs(value)
        return MemberChange("replace", tuple(refs), displays=_shown(refs))
    if has_value and value is not None:
        ids = coerce_members(value)  # Entra: remove only the listed members
        return MemberChange("remove", tuple(ids)) if ids else None
    return MemberChange("remove_all")


def _shown(refs: dict[str, str | None]) -> tuple[tuple[str, str], ...]:
    return tuple((member, shown) for member, shown in refs.items() if shown)


def _member_value_ids(parent: ResolvedAttr, flt: Filter) -> list[str] | None:
    """The ids of a members filter made only of ``value eq "id"`` joined by ``or``."""
    if isinstance(flt, Compare):
        resolved = resolve("Group", flt.path, parent)
        if (flt.op == "eq" and isinstance(flt.value, str) and resolved is not None
                and resolved.sub is not None and resolved.sub.name == "value"):
            return [flt.value]
        return None
    if isinstance(flt, Or):
        left = _member_value_ids(parent, flt.left)
        right = _member_value_ids(parent, flt.right)
        if left is not None and right is not None:
            return left + [i for i in right if i not in left]
    return None
