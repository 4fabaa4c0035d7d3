"""Where a filter's names are looked up in SQL: the whole row of ``users``/``teams`` (a filter's
top level), or one value of a multi-valued attribute (inside ``[...]``): a JSON array element,
or a membership row of ``team_members``. What each leaf means is the domain's
(``domain.filter.semantics.plan``/``plan_relative``); a scope only finds the SQL of it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, ColumnElement, FromClause, String, Table, and_, case, column, false, func, literal, not_
from sqlalchemy import null, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB

from domain.filter.ast import Compare, Filter
from domain.filter.comparison import as_text
from domain.filter.semantics import AnyValueLeaf, Leaf, SchemasLeaf, fold, plan, plan_relative
from domain.schema import registry
from domain.schema.model import COMPLEX, AttributeDef, ResolvedAttr
from infra.store import tables
from infra.store.columns import GROUP_TYPE, MEMBER_TYPE, TABLES, column_of, member_display
from infra.store.filter_sql.values import ColumnValue, PgJson, SqliteJson, Value, compare, sqlite_path

__all__ = ["Target", "ResourceScope", "JsonElements", "MembershipElements", "compile_in"]

_DIALECTS = frozenset({"sqlite", "postgresql"})


@dataclass(frozen=True)
class Target:
    resource_type: str  # canonical "User" / "Group"
    dialect: str  # "sqlite" / "postgresql"
    table: Table

    @staticmethod
    def of(resource_type: str, dialect_name: str) -> "Target":
        if dialect_name not in _DIALECTS:
            raise ValueError(f"unsupported dialect {dialect_name!r}")
        canonical = registry.resource_type(resource_type).id  # KeyError when unknown
        return Target(canonical, dialect_name, TABLES[canonical])

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"


def compile_in(scope, flt: Filter) -> ColumnElement[bool]:
    """``flt`` as one boolean expression in ``scope`` (negation pushed to the leaves, where a
    leaf that may be NULL is negated NULL-safely, so absent attributes satisfy ``not``)."""
    return fold(flt, scope.leaf, lambda parts: and_(*parts), lambda parts: or_(*parts))


def _negated(predicate: ColumnElement[bool], two_valued: bool, positive: bool) -> ColumnElement[bool]:
    if positive:
        return predicate
    if two_valued:
        return not_(predicate)
    return not_(func.coalesce(predicate, false(), type_=Boolean))


class ResourceScope:
    """Paths resolved against the whole resource (the top level of a filter)."""

    def __init__(self, target: Target):
        self.target = target

    def leaf(self, node: Leaf, positive: bool) -> ColumnElement[bool]:
        meaning = plan(self.target.resource_type, node)
        if isinstance(meaning, SchemasLeaf):
            if meaning.holder is None:
                return true() if meaning.holds == positive else false()
            return _negated(self.value_of(meaning.holder).present(), False, positive)
        if isinstance(meaning, AnyValueLeaf):
            elements: JsonElements | MembershipElements = (
                MembershipElements(self.target, meaning.parent) if meaning.membership
                else JsonElements(self.target, meaning.parent))
            wanted = _id_lookup(meaning.inner) if meaning.membership else None
            if wanted is not None:
                return _negated(elements.having(wanted), True, positive)  # type: ignore[union-attr]
            condition = None if meaning.inner is None else compile_in(elements, meaning.inner)
            return _negated(elements.exists(condition), True, positive)
        value = self.value_of(meaning.resolved)
        if meaning.comparison is None:
            return _negated(value.present(), False, positive)
        return _negated(compare(value, meaning.comparison, self.target.sqlite), False, positive)

    def value_of(self, resolved: ResolvedAttr) -> Value:
        """The value of the singular attribute ``resolved``: its column, else its JSON."""
        names = resolved.canonical
        if len(resolved.json_keys) == len(names):  # a core attribute: perhaps in a column
            if names == ("meta", "resourceType"):
                return ColumnValue(resolved.leaf, literal(self.target.resource_type, String))
            found = column_of(self.target.resource_type, ("meta", "created") if names == ("meta",) else names,
                              self.target.table)
            if found is not None:  # (``meta pr``: meta is always present)
                return ColumnValue(resolved.leaf, *found)
        doc = self.target.table.c.resource
        if self.target.sqlite:
            return SqliteJson(resolved.leaf, doc, literal(sqlite_path(resolved.json_keys)))
        return PgJson(resolved.leaf, doc, resolved.json_keys)


class _Elements:
    """The values of one multi-valued attribute of the current row, as a FROM clause, and the
    scope in which a value filter's relative paths resolve."""

    target: Target
    parent: ResolvedAttr

    def leaf(self, node: Leaf, positive: bool) -> ColumnElement[bool]:
        meaning = plan_relative(self.target.resource_type, self.parent, node)
        value = self.sub_value(meaning.sub, meaning.attr)
        if meaning.comparison is None:
            return _negated(value.present(), False, positive)
        return _negated(compare(value, meaning.comparison, self.target.sqlite), False, positive)

    def exists(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        raise NotImplementedError

    def sub_value(self, sub: AttributeDef | None, attr: AttributeDef) -> Value:
        raise NotImplementedError


class JsonElements(_Elements):
    def __init__(self, target: Target, parent: ResolvedAttr):
        self.target = target
        self.parent = parent
        doc = target.table.c.resource
        keys = parent.json_keys
        if target.sqlite:
            path = sqlite_path(keys)
            self.rows = func.json_each(doc, path).table_valued(
                column("key"), column("fullkey", String), column("type", String), column("value")
            ).alias()
            self.guard: ColumnElement[bool] | None = func.json_type(doc, path) == "array"
        else:
            array = func.jsonb_extract_path(doc, *keys, type_=JSONB)
            only_array = case((func.jsonb_typeof(array) == "array", array), else_=null())
            self.rows = func.jsonb_array_elements(only_array).table_valued(
                column("value", JSONB), with_ordinality="ordinality"
            ).alias()
            self.guard = None

    def exists(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        conditions = [c for c in (self.guard, condition) if c is not None]
        return select(literal(1)).select_from(self.rows).where(*conditions).exists()

    def sub_value(self, sub: AttributeDef | None, attr: AttributeDef) -> Value:
        doc = self.target.table.c.resource
        if self.target.sqlite:
            path: ColumnElement[str] = self.rows.c.fullkey
            if sub is not None:
                path = path.concat(sqlite_path((sub.name,))[1:])
            return SqliteJson(attr, doc, path)
        return PgJson(attr, self.rows.c.value, () if sub is None else (sub.name,))

    def first(self, sub: AttributeDef | None) -> ColumnElement:
        """The sort key of the primary value (else the first) as a scalar subquery."""
        primary_def = self.parent.attr.sub("primary") if self.parent.attr.type == COMPLEX else None
        key = self.sub_value(sub, sub or self.parent.attr).sort_key()
        position = self.rows.c.key if self.target.sqlite else self.rows.c.ordinality
        order: list[ColumnElement] = [position]
        if primary_def is not None:
            order.insert(0, self._is_primary(primary_def).desc())
        query = select(key).select_from(self.rows)
        if self.guard is not None:
            query = query.where(self.guard)
        return query.order_by(*order).limit(1).scalar_subquery()

    def _is_primary(self, primary_def: AttributeDef) -> ColumnElement[bool]:
        if self.target.sqlite:
            # SQLite cannot see the outer row's columns from a correlated subquery's ORDER BY,
            # so read the element's own JSON (only objects are valid JSON text there).
            flag = case(
                (self.rows.c.type == "object", func.json_type(self.rows.c.value, '$."primary"')),
                else_=null(),
            )
            return func.coalesce(flag == "true", false(), type_=Boolean)
        primary = self.sub_value(primary_def, primary_def).is_bool(True)
        return func.coalesce(primary, false(), type_=Boolean)


class MembershipElements(_Elements):
    """User ``groups`` and Group ``members``: rows of ``team_members``, not JSON. Listing uses
    aliases of the tables (an EXISTS per resource); PATCH's ``remove members[...]`` uses
    ``team_members`` joined to ``users`` as they are (``link``/``other`` given)."""

    def __init__(self, target: Target, parent: ResolvedAttr, *, link: Table | None = None,
                 other: Table | None = None):
        self.target = target
        self.parent = parent
        self.link = link if link is not None else tables.team_members.alias()
        self.display: ColumnElement
        if target.resource_type == "User":
            self.other = other if other is not None else tables.teams.alias()
            self.own_id, self.other_id = self.link.c.user_id, self.link.c.team_id
            self.display = self.other.c.display_name
            self.kind = GROUP_TYPE
        else:
            self.other = other if other is not None else tables.users.alias()
            self.own_id, self.other_id = self.link.c.team_id, self.link.c.user_id
            self.display = member_display(self.link, self.other)
            self.kind = MEMBER_TYPE
        self.uses_other = False

    def exists(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        source: FromClause = self.link
        if self.uses_other:
            source = self.link.join(self.other, self.other.c.id == self.other_id)
        query = select(literal(1)).select_from(source).where(self.own_id == self.target.table.c.id)
        if condition is not None:
            query = query.where(condition)
        return query.exists()

    def having(self, other_id: str) -> ColumnElement[bool]:
        """``id IN (ids linked to other_id)``: the IdP lookup, driven by the membership index."""
        linked = select(self.own_id).where(self.other_id == literal(other_id, String))
        return self.target.table.c.id.in_(linked)

    def sub_value(self, sub: AttributeDef | None, attr: AttributeDef) -> Value:
        name = sub.name if sub else "value"
        if name == "display":
            self.uses_other = True
            return ColumnValue(attr, self.display)
        if name == "type":
            return ColumnValue(attr, literal(self.kind, String))
        # ``value``: the other side's id, case-exact, so the membership index stays usable.
        return ColumnValue(attr, self.other_id)


def _id_lookup(inner: Filter | None) -> str | None:
    """The id of ``groups eq "id"``, ``members.value eq "id"`` or ``members[value eq "id"]``."""
    if not isinstance(inner, Compare) or inner.op != "eq" or inner.value is None:
        return None
    path = inner.path
    if path.urn or path.sub_attr or path.attr.lower() != "value":
        return None
    return as_text(inner.value)
