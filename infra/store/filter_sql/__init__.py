"""SCIM filters compiled to one SQLAlchemy boolean expression over ``users`` or ``teams``: the one
SQL compiler, used by listing (``compile_filter``, ``sort_column``) and by PATCH's
``remove members[…]`` (``compile_member_filter``).

Every filter runs in the database (ARCHITECTURE.md principle 4): indexed columns for what IdPs
filter on (``infra.store.columns``), the JSON ``resource`` document for the rest (SQLite
``json_extract``/``json_each``, PostgreSQL ``jsonb_extract_path``/``jsonb_array_elements``), and
``team_members`` for User ``groups`` and Group ``members``. The caller adds the ``org_id``
condition.

What a filter means — names, operators per type, ``ne``, ``not``, ``pr``, null, memberships —
is decided in ``domain.filter.semantics``, which the in-memory evaluator shares, so a filter
selects the same values in a listing and in a PATCH path. Here, only how to say it in SQL:

- ``userName`` (Users) and ``displayName`` (Groups) compare against their casefolded key
  columns, so ``eq`` hits the unique index; other case-insensitive strings compare ``lower()``
  of both sides; case-exact substrings use ``GLOB`` on SQLite (its ``LIKE`` ignores case);
- a negated leaf that may be NULL is ``NOT coalesce(leaf, false)`` (or ``NOT EXISTS``);
- a multi-valued attribute is an ``EXISTS`` over its values; ``groups eq "id"`` and
  ``members[value eq "id"]`` use the membership index.

Modules: ``values`` (a column or JSON value, comparisons), ``scopes`` (where names are found).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from domain.filter.ast import AttrPath, Filter
from domain.filter.semantics import sortable, whole
from domain.schema import registry
from infra.store import tables
from infra.store.filter_sql.scopes import JsonElements, MembershipElements, ResourceScope, Target, compile_in

__all__ = ["compile_filter", "compile_member_filter", "sort_column"]


def compile_filter(resource_type: str, flt: Filter, dialect_name: str) -> ColumnElement[bool]:
    """``flt`` as a boolean SQL expression over ``tables.users`` ("User") or ``tables.teams``
    ("Group"). Unknown attributes and unsupported operator/type pairs raise ``InvalidFilter``."""
    return compile_in(ResourceScope(Target.of(resource_type, dialect_name)), flt)


def compile_member_filter(flt: Filter, dialect_name: str) -> ColumnElement[bool]:
    """A filter on one member of a Team (the ``[...]`` of ``members[...]``, names relative to a
    member: ``value``, ``display``, ``type``) as a boolean SQL expression over
    ``tables.team_members`` joined to ``tables.users`` (the caller joins them): the members a
    listing's ``members[...]`` would match, exactly."""
    target = Target.of("Group", dialect_name)
    members = registry.resolve("Group", AttrPath(None, "members"))
    assert members is not None
    scope = MembershipElements(target, members, link=tables.team_members, other=tables.users)
    return compile_in(scope, flt)


def sort_column(resource_type: str, path: AttrPath, dialect_name: str) -> ColumnElement:
    """The expression to ``ORDER BY`` for ``sortBy=path``.

    Case-insensitive strings sort by their lower-cased (or casefolded key) form. A multi-valued
    attribute sorts by its primary value, else its first. ``InvalidFilter`` when the attribute
    is unknown or cannot be sorted on.
    """
    target = Target.of(resource_type, dialect_name)
    resolved = sortable(target.resource_type, path)
    if resolved.attr.multi_valued:  # by its primary value, else its first
        return JsonElements(target, whole(resolved)).first(resolved.sub)
    return ResourceScope(target).value_of(resolved).sort_key()
