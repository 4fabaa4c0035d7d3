"""What a SCIM filter means (RFC 7644 §3.4.2.2): decided here, once, for the two places that
run one — the SQL compiler (``infra.store.filter_sql``, listing and PATCH ``remove
members[…]``) and the in-memory evaluator (``domain.filter.evaluate``, PATCH value filters).
Both walk a filter with ``fold`` and ask ``plan`` / ``plan_relative`` what each leaf means, so
they cannot disagree on which attribute a name means, which operator a type supports or how a
value compares; they differ only in how they reach a value (a column, JSON in SQL, a dict).

The rules:

- Names resolve as the schema registry resolves them (any case, URN-qualified); an unknown
  name, a ``returned: never`` attribute (``password``) and ``meta.location``/``meta.version``
  are ``invalidFilter``.
- ``ne`` is ``not eq``: it also matches a resource or value lacking the attribute; ``not``
  holds for what lacks the attribute (negation is NULL-safe). ``eq null`` is ``not pr``,
  ``ne null`` is ``pr``; any other operator with null is ``invalidFilter``.
- ``pr``: present and not null, not ``""``, not ``[]``, not ``{}``.
- Comparisons (``domain.filter.comparison``): strings compare by the attribute's
  ``caseExact``; a number or boolean compared with a string attribute compares as its string
  form. Booleans support only ``eq``/``ne`` and accept
  ``"True"``/``"false"`` strings; integers and decimals, and dateTimes (ISO 8601 with ``Z`` or
  an offset, compared chronologically), support no ``co``/``sw``/``ew``; binary attributes no
  ``gt``/``ge``/``lt``/``le`` (RFC 7644 §3.4.2.2); a complex attribute compares by its
  ``value`` sub-attribute when it has one (``emails co "x"``), else ``invalidFilter``.
- A multi-valued attribute matches when some value does; ``emails[type eq "work"]`` when some
  value matches the bracketed filter, whose names are relative to the values.
- ``schemas eq "<URN>"``: the core URN always holds, an extension URN when the resource has
  attributes of that extension; only ``eq``, ``ne`` and ``pr``.
- Memberships (a User's ``groups``, a Group's ``members``) expose ``value`` (the other side's
  id, compared case-exact as ids are), ``display`` and ``type``; nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from domain.errors import InvalidFilter, ScimError
from domain.filter.ast import And, AttrPath, Compare, Filter, Not, Or, Present, ValuePath
from domain.filter.comparison import ORDERING, Comparison, as_text, comparison
from domain.schema import registry
from domain.schema.model import COMPLEX, NEVER, AttributeDef, ResolvedAttr

__all__ = [
    "Leaf",
    "SchemasLeaf",
    "ValueLeaf",
    "AnyValueLeaf",
    "RelativeLeaf",
    "fold",
    "plan",
    "plan_relative",
    "sortable",
    "whole",
    "is_membership",
]

Leaf = Compare | Present | ValuePath
T = TypeVar("T")


# ============================================================================ boolean structure


def fold(
    node: Filter,
    leaf: Callable[[Leaf, bool], T],
    all_of: Callable[[list[T]], T],
    any_of: Callable[[list[T]], T],
    positive: bool = True,
) -> T:
    """``node`` (or its negation when not ``positive``) built from ``leaf(leaf_node, positive)``
    with ``all_of``/``any_of``: negation is pushed down to the leaves (De Morgan), ``ne`` and
    comparisons with null are rewritten as above, so a leaf is a ``Present``, a ``ValuePath`` or
    a ``Compare`` with one of eq, co, sw, ew, gt, ge, lt, le and a non-null value."""
    if isinstance(node, (And, Or)):
        parts = [fold(child, leaf, all_of, any_of, positive) for child in _chain(node, type(node))]
        return all_of(parts) if isinstance(node, And) == positive else any_of(parts)
    if isinstance(node, Not):
        return fold(node.expr, leaf, all_of, any_of, not positive)
    if isinstance(node, Compare) and node.op == "ne":
        return fold(Compare(node.path, "eq", node.value), leaf, all_of, any_of, not positive)
    if isinstance(node, Compare) and node.value is None:
        if node.op != "eq":
            raise InvalidFilter(f'"{node.op}" cannot compare with null (only eq and ne can)')
        return fold(Present(node.path), leaf, all_of, any_of, not positive)
    if isinstance(node, (Compare, Present, ValuePath)):
        return leaf(node, positive)
    raise InvalidFilter(f"unsupported filter node {type(node).__name__}")


def _chain(node: Filter, kind: type) -> list[Filter]:
    """The operands of a chain of the same binary operator, flattened, in order (a chain of
    500 terms is 500 deep as a tree; this never recurses)."""
    out: list[Filter] = []
    stack: list[Filter] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, kind):
            stack.append(current.right)  # type: ignore[union-attr]
            stack.append(current.left)  # type: ignore[union-attr]
        else:
            out.append(current)
    return out


# ============================================================================ what a leaf means


@dataclass(frozen=True)
class SchemasLeaf:
    """``schemas eq/pr``: ``holds`` when ``holder`` is None; else holds when the resource has
    attributes of the extension whose object ``holder`` resolves."""

    holds: bool
    holder: ResolvedAttr | None = None


@dataclass(frozen=True)
class ValueLeaf:
    """A singular attribute (``resolved``): present when ``comparison`` is None, else compared."""

    resolved: ResolvedAttr
    comparison: Comparison | None


@dataclass(frozen=True)
class AnyValueLeaf:
    """A multi-valued attribute ``parent``: some value of it matches ``inner`` (names relative
    to the value), or exists when ``inner`` is None. ``membership``: the values are a User's
    ``groups`` or a Group's ``members`` (rows, not JSON)."""

    parent: ResolvedAttr
    inner: Filter | None
    membership: bool


@dataclass(frozen=True)
class RelativeLeaf:
    """A leaf inside a value filter: the value's sub-attribute ``sub`` (None: a simple
    attribute's value itself), ``attr`` the definition its value is compared by; present when
    ``comparison`` is None."""

    sub: AttributeDef | None
    attr: AttributeDef
    comparison: Comparison | None


def plan(resource_type: str, node: Leaf) -> SchemasLeaf | ValueLeaf | AnyValueLeaf:
    """What leaf ``node`` of a filter over whole resources of ``resource_type`` means."""
    if _is_schemas(node.path):
        return _schemas(resource_type, node)
    resolved = _resolve(resource_type, node.path)
    attr = resolved.attr
    membership = is_membership(resource_type, resolved)
    if isinstance(node, ValuePath):
        if not attr.multi_valued or resolved.sub is not None:
            raise InvalidFilter(f"{node.path} is not multi-valued: it takes no [filter]")
        return AnyValueLeaf(whole(resolved), node.filter, membership)
    if attr.multi_valued:
        if isinstance(node, Present) and resolved.sub is None:
            return AnyValueLeaf(whole(resolved), None, membership)
        if resolved.sub is None and attr.type == COMPLEX:
            if isinstance(node, Compare) and node.op in ORDERING:
                raise InvalidFilter(f'{node.path} is complex: "{node.op}" needs a sub-attribute')
            if attr.sub("value") is None:
                raise InvalidFilter(f"{node.path} is complex: filter on a sub-attribute")
        relative = AttrPath(None, resolved.sub.name if resolved.sub else "value")
        inner = Present(relative) if isinstance(node, Present) else Compare(relative, node.op, node.value)
        return AnyValueLeaf(whole(resolved), inner, membership)
    if isinstance(node, Present):
        return ValueLeaf(resolved, None)
    leaf = _value_of_complex(resolved, node.path, node.op)
    return ValueLeaf(leaf, comparison(leaf.leaf, node.op, node.value, str(node.path)))


def plan_relative(resource_type: str, parent: ResolvedAttr, node: Leaf, *,
                  unknown: type[ScimError] = InvalidFilter) -> RelativeLeaf:
    """What leaf ``node`` of a value filter on the values of ``parent`` means. ``unknown`` is
    the error for a name that is no sub-attribute of ``parent`` (a PATCH path's filter answers
    ``invalidPath`` for it)."""
    if isinstance(node, ValuePath):
        raise InvalidFilter("value filters cannot nest")
    sub = _relative_sub(resource_type, parent, node.path, unknown)
    attr = sub or parent.attr
    if is_membership(resource_type, parent):
        attr = _membership_attr(parent, attr)
    if isinstance(node, Present):
        return RelativeLeaf(sub, attr, None)
    name = f"{parent.attr.name}.{sub.name if sub else 'value'}"
    return RelativeLeaf(sub, attr, comparison(attr, node.op, node.value, name))


def _resolve(resource_type: str, path: AttrPath) -> ResolvedAttr:
    resolved = registry.resolve(resource_type, path)
    if resolved is None:
        raise InvalidFilter(f"unknown attribute {path} for {registry.resource_type(resource_type).id}")
    if resolved.leaf.returned == NEVER or resolved.canonical in _NOT_FILTERABLE:
        raise InvalidFilter(f"{path} cannot be used in a filter")
    return resolved


# Kept by the store only as it renders them (``meta.location`` is the request's URL).
_NOT_FILTERABLE = {("meta", "location"), ("meta", "version")}


def whole(resolved: ResolvedAttr) -> ResolvedAttr:
    """The attribute itself when ``resolved`` names one of its sub-attributes."""
    if resolved.sub is None:
        return resolved
    return ResolvedAttr(resolved.schema, resolved.attr, None, resolved.canonical[:1], resolved.json_keys[:-1])


def _value_of_complex(resolved: ResolvedAttr, path: AttrPath, op: str) -> ResolvedAttr:
    """A bare complex attribute with a ``value`` sub-attribute compares by that sub-attribute
    (``manager eq "id"``), not for ordering comparisons nor sorting."""
    if resolved.sub is not None or resolved.attr.type != COMPLEX:
        return resolved
    value_sub = resolved.attr.sub("value")
    if op in ORDERING or op == "sort":
        raise InvalidFilter(f'{path} is complex: "{op}" needs a sub-attribute')
    if value_sub is None:
        raise InvalidFilter(f"{path} is complex: filter on one of its sub-attributes")
    return _with_sub(resolved, value_sub)


def _with_sub(resolved: ResolvedAttr, sub: AttributeDef) -> ResolvedAttr:
    return ResolvedAttr(resolved.schema, resolved.attr, sub, resolved.canonical + (sub.name,),
                        resolved.json_keys + (sub.name,))


def sortable(resource_type: str, path: AttrPath) -> ResolvedAttr:
    """The attribute ``sortBy=path`` sorts by: a singular simple value, or a multi-valued
    attribute (by its primary value, else its first; a complex one by its ``value`` unless a
    sub-attribute is named); not a singular complex attribute nor a membership.
    ``invalidFilter`` otherwise."""
    resolved = _resolve(resource_type, path)
    if is_membership(resource_type, resolved):
        raise InvalidFilter(f"cannot sort by {path}")
    if resolved.attr.multi_valued:
        if resolved.sub is None and resolved.attr.type == COMPLEX:
            value_sub = resolved.attr.sub("value")
            if value_sub is None:
                raise InvalidFilter(f"cannot sort by {path}: name one of its sub-attributes")
            return _with_sub(resolved, value_sub)
        return resolved
    return _value_of_complex(resolved, path, "sort")


def is_membership(resource_type: str, resolved: ResolvedAttr) -> bool:
    """Whether ``resolved`` is (a sub-attribute of) a User's ``groups`` or a Group's ``members``."""
    rt = registry.resource_type(resource_type)
    name = {"User": "groups", "Group": "members"}.get(rt.id)
    return resolved.schema == rt.schema and resolved.canonical[0] == name


def _relative_sub(resource_type: str, parent: ResolvedAttr, path: AttrPath,
                  unknown: type[ScimError]) -> AttributeDef | None:
    """The sub-attribute a value filter's ``path`` names (None for a simple attribute's value)."""
    if parent.attr.type != COMPLEX:
        if path.urn is None and path.sub_attr is None and path.attr.lower() == "value":
            return None
        raise unknown(f"unknown attribute {path} in a value filter on {parent.attr.name}")
    resolved = registry.resolve(resource_type, path, parent=parent)
    if resolved is None or resolved.sub is None:
        raise unknown(f"unknown attribute {path} in a value filter on {parent.attr.name}")
    return resolved.sub


def _membership_attr(parent: ResolvedAttr, attr: AttributeDef) -> AttributeDef:
    if attr.name == "value":
        return replace(attr, case_exact=True)  # the other side's id
    if attr.name in ("display", "type"):
        return attr
    raise InvalidFilter(f"{parent.attr.name}.{attr.name} cannot be used in a filter")


def _is_schemas(path: AttrPath) -> bool:
    return path.urn is None and path.sub_attr is None and path.attr.lower() == "schemas"


def _schemas(resource_type: str, node: Leaf) -> SchemasLeaf:
    if isinstance(node, Present):
        return SchemasLeaf(True)
    if not isinstance(node, Compare) or node.op != "eq":
        raise InvalidFilter('schemas supports only "eq", "ne" and "pr"')
    wanted = as_text(node.value).lower()
    rt = registry.resource_type(resource_type)
    if wanted == rt.schema.lower():
        return SchemasLeaf(True)
    for ext in rt.extensions:
        if wanted == ext.schema.lower():
            holder = AttributeDef(name=ext.schema, type=COMPLEX)
            return SchemasLeaf(False, ResolvedAttr(ext.schema, holder, None, (ext.schema,), (ext.schema,)))
    return SchemasLeaf(False)
