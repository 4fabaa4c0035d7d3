"""SCIM filters compiled to one SQLAlchemy boolean expression over ``users`` or ``teams``.

Every filter runs in the database (ARCHITECTURE.md principle 4): indexed columns for what IdPs
filter on (``userName``, ``externalId``, ``displayName``, ``id``, ``active``, ``meta`` dates),
the JSON ``resource`` document for the rest (SQLite ``json_extract``/``json_each``, PostgreSQL
``jsonb_extract_path``/``jsonb_array_elements``), and ``team_members`` for User ``groups`` and
Group ``members``. The caller adds the ``org_id`` condition.

Semantics:

- String case sensitivity follows the attribute's ``caseExact``. ``userName`` (Users) and
  ``displayName`` (Groups) compare against their casefolded key columns, so ``eq`` hits the
  unique index; other case-insensitive strings compare ``lower()`` of both sides.
- ``ne`` is ``not eq``: it also matches resources lacking the attribute. ``not (...)`` is
  NULL-safe: negation is pushed down to the leaves, and a negated leaf is
  ``NOT coalesce(leaf, false)`` (or ``NOT EXISTS``), so absent attributes satisfy it.
- ``pr``: present and not null, not ``""``, not ``[]``, not ``{}``. ``eq null`` is ``not pr``.
- A multi-valued attribute matches when some value does (an ``EXISTS``); a bare complex
  attribute with a ``value`` sub-attribute (``emails co "x"``) means its ``value``.
- A number or boolean compared with a string attribute compares as its string form; booleans
  accept ``"True"``/``"false"`` strings; dateTimes accept ISO-8601 with ``Z`` or offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable, Protocol

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Float,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from domain.errors import InvalidFilter
from domain.filter.ast import And, AttrPath, Compare, CompValue, Filter, Not, Or, Present, ValuePath
from domain.schema import registry
from domain.schema.model import (
    BOOLEAN,
    COMPLEX,
    DATETIME,
    DECIMAL,
    INTEGER,
    NEVER,
    AttributeDef,
    ResolvedAttr,
)
from infra.store import tables

__all__ = ["compile_filter", "sort_column"]

_ORDERING = frozenset({"gt", "ge", "lt", "le"})
_SUBSTRING = frozenset({"co", "sw", "ew"})
_DIALECTS = frozenset({"sqlite", "postgresql"})
_LIKE_ESCAPE = "\\"


# ============================================================================ public API


def compile_filter(resource_type: str, flt: Filter, dialect_name: str) -> ColumnElement[bool]:
    """``flt`` as a boolean SQL expression over ``tables.users`` ("User") or ``tables.teams``
    ("Group"). Unknown attributes and unsupported operator/type pairs raise ``InvalidFilter``."""
    scope = _ResourceScope(_Target.of(resource_type, dialect_name))
    return _compile(scope, flt, positive=True)


def sort_column(resource_type: str, path: AttrPath, dialect_name: str) -> ColumnElement:
    """The expression to ``ORDER BY`` for ``sortBy=path``.

    Case-insensitive strings sort by their lower-cased (or casefolded key) form. A multi-valued
    attribute sorts by its primary value, else its first. ``InvalidFilter`` when the attribute
    is unknown or cannot be sorted on.
    """
    target = _Target.of(resource_type, dialect_name)
    scope = _ResourceScope(target)
    resolved = scope.resolve(path)
    if resolved.attr.multi_valued:
        return scope.first_value(resolved, path)
    value = scope.value_of(_value_leaf(resolved, path, "sort"), path)
    return value.sort_key()


# ============================================================================ targets


@dataclass(frozen=True)
class _Target:
    resource_type: str  # canonical "User" / "Group"
    dialect: str  # "sqlite" / "postgresql"
    table: Table

    @staticmethod
    def of(resource_type: str, dialect_name: str) -> "_Target":
        if dialect_name not in _DIALECTS:
            raise ValueError(f"unsupported dialect {dialect_name!r}")
        canonical = registry.resource_type(resource_type).id  # KeyError when unknown
        table = tables.users if canonical == "User" else tables.teams
        return _Target(canonical, dialect_name, table)

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"


# ============================================================================ boolean structure


def _compile(scope: "_Scope", node: Filter, positive: bool) -> ColumnElement[bool]:
    """Compile ``node`` (or its negation when not ``positive``), pushing NOT to the leaves."""
    if isinstance(node, (And, Or)):
        parts = [_compile(scope, child, positive) for child in _chain(node, type(node))]
        conjunctive = isinstance(node, And) == positive
        return and_(*parts) if conjunctive else or_(*parts)
    if isinstance(node, Not):
        return _compile(scope, node.expr, not positive)
    if isinstance(node, Compare) and node.op == "ne":
        return _compile(scope, Compare(node.path, "eq", node.value), not positive)
    if isinstance(node, Compare) and node.value is None:
        if node.op != "eq":
            raise InvalidFilter(f'"{node.op}" cannot compare with null (only eq and ne can)')
        return _compile(scope, Present(node.path), not positive)
    if isinstance(node, (Compare, Present, ValuePath)):
        predicate, two_valued = scope.leaf(node)
        if positive:
            return predicate
        if two_valued:
            return not_(predicate)
        return not_(func.coalesce(predicate, false(), type_=Boolean))
    raise InvalidFilter(f"unsupported filter node {type(node).__name__}")


def _chain(node: Filter, kind: type) -> list[Filter]:
    """The operands of a chain of the same binary operator, flattened, in order."""
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


# ============================================================================ values


class _Value(Protocol):
    """One SQL-side value an attribute (or a sub-attribute of one element) takes."""

    attr: AttributeDef

    def text(self) -> ColumnElement: ...
    def folded(self) -> ColumnElement | None: ...  # a casefolded key column, if any
    def is_bool(self, wanted: bool) -> ColumnElement[bool]: ...
    def number(self) -> ColumnElement: ...
    def moment(self) -> ColumnElement: ...
    def present(self) -> ColumnElement[bool]: ...
    def sort_key(self) -> ColumnElement: ...


@dataclass
class _ColumnValue:
    """A value held by a real column (or any plain SQL expression)."""

    attr: AttributeDef
    column: ColumnElement
    key: ColumnElement | None = None

    def text(self) -> ColumnElement:
        return self.column

    def folded(self) -> ColumnElement | None:
        return self.key

    def is_bool(self, wanted: bool) -> ColumnElement[bool]:
        return self.column == literal(wanted, Boolean)

    def number(self) -> ColumnElement:
        return self.column

    def moment(self) -> ColumnElement:
        return self.column

    def present(self) -> ColumnElement[bool]:
        if _is_textual(self.attr):
            return and_(self.column.is_not(None), self.column != "")
        return self.column.is_not(None)

    def sort_key(self) -> ColumnElement:
        if self.key is not None:
            return self.key
        if _is_textual(self.attr) and not self.attr.case_exact:
            return func.lower(self.column)
        return self.column


@dataclass
class _SqliteJson:
    """The value at JSON path ``path`` (a SQL string expression) inside document ``doc``."""

    attr: AttributeDef
    doc: ColumnElement
    path: ColumnElement

    def _type(self) -> ColumnElement:
        return func.json_type(self.doc, self.path, type_=String)

    def text(self) -> ColumnElement:
        return func.json_extract(self.doc, self.path, type_=String)

    def folded(self) -> ColumnElement | None:
        return None

    def is_bool(self, wanted: bool) -> ColumnElement[bool]:
        return self._type() == ("true" if wanted else "false")

    def number(self) -> ColumnElement:
        raw = func.json_extract(self.doc, self.path, type_=Float)
        return case((self._type().in_(["integer", "real"]), raw), else_=null())

    def moment(self) -> ColumnElement:
        return self.text()

    def present(self) -> ColumnElement[bool]:
        kind = self._type()
        return case(
            (kind == "text", func.json_extract(self.doc, self.path) != ""),
            (kind == "array", func.json_array_length(self.doc, self.path) > 0),
            (kind == "object", func.json_extract(self.doc, self.path) != "{}"),
            (kind == "null", false()),
            else_=kind.is_not(None),
        )

    def sort_key(self) -> ColumnElement:
        return _scalar_sort_key(self)


@dataclass
class _PgJson:
    """The JSONB value at key path ``keys`` inside JSONB ``doc`` (``doc`` itself when empty)."""

    attr: AttributeDef
    doc: ColumnElement
    keys: tuple[str, ...]

    def _json(self) -> ColumnElement:
        return func.jsonb_extract_path(self.doc, *self.keys, type_=JSONB) if self.keys else self.doc

    def _type(self) -> ColumnElement:
        return func.jsonb_typeof(self._json(), type_=String)

    def text(self) -> ColumnElement:
        if self.keys:
            return func.jsonb_extract_path_text(self.doc, *self.keys, type_=String)
        return self.doc.op("#>>", return_type=String)(cast(literal("{}"), _TEXT_ARRAY))

    def folded(self) -> ColumnElement | None:
        return None

    def is_bool(self, wanted: bool) -> ColumnElement[bool]:
        return and_(self._type() == "boolean", self.text() == ("true" if wanted else "false"))

    def number(self) -> ColumnElement:
        return case((self._type() == "number", cast(self.text(), Float)), else_=null())

    def moment(self) -> ColumnElement:
        return self.text()

    def present(self) -> ColumnElement[bool]:
        kind = self._type()
        return case(
            (kind == "string", self.text() != ""),
            (kind == "array", func.jsonb_array_length(self._json()) > 0),
            (kind == "object", self._json() != cast(literal("{}"), JSONB)),
            (kind == "null", false()),
            else_=kind.is_not(None),
        )

    def sort_key(self) -> ColumnElement:
        return _scalar_sort_key(self)


_TEXT_ARRAY = ARRAY(Text)


def _scalar_sort_key(value: "_SqliteJson | _PgJson") -> ColumnElement:
    attr = value.attr
    if attr.type in (INTEGER, DECIMAL):
        return value.number()
    if _is_textual(attr) and not attr.case_exact:
        return func.lower(value.text())
    return value.text()


def _is_textual(attr: AttributeDef) -> bool:
    return attr.type not in (BOOLEAN, INTEGER, DECIMAL, DATETIME, COMPLEX)


# ============================================================================ comparisons


def _compare(value: _Value, op: str, raw: CompValue, sqlite: bool, name: str) -> ColumnElement[bool]:
    """``value op raw`` for one (non-null) value, by the attribute's type."""
    attr = value.attr
    if attr.type == BOOLEAN:
        if op != "eq":
            raise InvalidFilter(f'"{op}" is not supported for the boolean attribute {name}')
        return value.is_bool(_as_bool(raw, name))
    if attr.type in (INTEGER, DECIMAL):
        if op in _SUBSTRING:
            raise InvalidFilter(f'"{op}" is not supported for the numeric attribute {name}')
        return _ordered(value.number(), op, _as_number(raw, name))
    if attr.type == DATETIME and isinstance(value, _ColumnValue):
        if op in _SUBSTRING:
            raise InvalidFilter(f'"{op}" is not supported for the dateTime attribute {name}')
        return _ordered(value.moment(), op, _as_datetime(raw, name))
    if attr.type == COMPLEX:
        raise InvalidFilter(f"{name} is complex: filter on one of its sub-attributes")
    return _compare_text(value, op, _as_text(raw), sqlite)


def _compare_text(value: _Value, op: str, text: str, sqlite: bool) -> ColumnElement[bool]:
    key = value.folded()
    case_exact = value.attr.case_exact
    if key is not None and not case_exact:
        expr, operand, case_exact = key, literal(text.casefold(), String), True
    elif case_exact:
        expr, operand = value.text(), literal(text, String)
    else:
        expr, operand = func.lower(value.text()), func.lower(literal(text, String))
    if op in _SUBSTRING:
        if sqlite and case_exact:
            # SQLite's LIKE ignores ASCII case; GLOB does not.
            return expr.op("GLOB")(literal(_glob_pattern(op, text if key is None else text.casefold())))
        pattern = _like_pattern(op, text if key is None else text.casefold())
        operand_pattern = literal(pattern, String) if case_exact else func.lower(literal(pattern, String))
        return expr.like(operand_pattern, escape=_LIKE_ESCAPE)
    return _ordered(expr, op, operand)


def _ordered(expr: ColumnElement, op: str, operand) -> ColumnElement[bool]:
    if op == "eq":
        return expr == operand
    if op == "gt":
        return expr > operand
    if op == "ge":
        return expr >= operand
    if op == "lt":
        return expr < operand
    if op == "le":
        return expr <= operand
    raise InvalidFilter(f'unsupported operator "{op}"')


def _like_pattern(op: str, text: str) -> str:
    escaped = (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )
    return {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[op]


def _glob_pattern(op: str, text: str) -> str:
    escaped = "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)
    return {"co": f"*{escaped}*", "sw": f"{escaped}*", "ew": f"*{escaped}"}[op]


# ============================================================================ value coercion


def _as_text(raw: CompValue) -> str:
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, (int, float)):
        text = repr(raw) if isinstance(raw, float) else str(raw)
    else:
        text = str(raw)
    if "\x00" in text:
        raise InvalidFilter("filter values cannot contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFilter("filter values must be valid Unicode") from None
    return text


def _as_bool(raw: CompValue, name: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise InvalidFilter(f"{name} is boolean: compare it with true or false, not {raw!r}")


def _as_number(raw: CompValue, name: str) -> int | float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            try:
                number = float(raw)
            except ValueError:
                pass
            else:
                if number == number and abs(number) != float("inf"):
                    return number
    raise InvalidFilter(f"{name} is numeric: {raw!r} is not a number")


def _as_datetime(raw: CompValue, name: str) -> datetime:
    """An ISO-8601 dateTime as naive UTC (the store's convention)."""
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
            return moment
    raise InvalidFilter(f"{name} is a dateTime: {raw!r} is not an ISO-8601 dateTime")


# ============================================================================ scopes


Leaf = Compare | Present | ValuePath


class _Scope(Protocol):
    def leaf(self, node: Leaf) -> tuple[ColumnElement[bool], bool]:
        """(predicate, two_valued): two-valued predicates are never NULL."""
        ...


def _value_leaf(resolved: ResolvedAttr, path: AttrPath, op: str) -> ResolvedAttr:
    """The resolved attribute a scalar comparison applies to: a bare complex attribute with a
    ``value`` sub-attribute means that sub-attribute (not for ordering comparisons)."""
    if resolved.leaf.returned == NEVER:
        raise InvalidFilter(f"{path} cannot be used in a filter")
    if resolved.sub is None and resolved.attr.type == COMPLEX:
        value_sub = resolved.attr.sub("value")
        if op in _ORDERING or op == "sort":
            raise InvalidFilter(f'{path} is complex: "{op}" needs a sub-attribute')
        if value_sub is None:
            raise InvalidFilter(f"{path} is complex: filter on one of its sub-attributes")
        return ResolvedAttr(
            schema=resolved.schema,
            attr=resolved.attr,
            sub=value_sub,
            canonical=resolved.canonical + (value_sub.name,),
            json_keys=resolved.json_keys + (value_sub.name,),
        )
    return resolved


class _ResourceScope:
    """Paths resolved against the whole resource (the top level of a filter)."""

    def __init__(self, target: _Target):
        self.target = target

    # -- resolution

    def resolve(self, path: AttrPath) -> ResolvedAttr:
        resolved = registry.resolve(self.target.resource_type, path)
        if resolved is None:
            raise InvalidFilter(f"unknown attribute {path} for {self.target.resource_type}")
        if resolved.leaf.returned == NEVER:
            raise InvalidFilter(f"{path} cannot be used in a filter")
        return resolved

    def _is_membership(self, resolved: ResolvedAttr) -> bool:
        name = resolved.canonical[0]
        core = resolved.schema == registry.resource_type(self.target.resource_type).schema
        return core and (
            (self.target.resource_type == "User" and name == "groups")
            or (self.target.resource_type == "Group" and name == "members")
        )

    # -- leaves

    def leaf(self, node: Leaf) -> tuple[ColumnElement[bool], bool]:
        if _is_schemas(node.path):
            return self._schemas(node), False
        resolved = self.resolve(node.path)
        if self._is_membership(resolved):
            wanted = _membership_id_lookup(node, resolved)
            if wanted is not None:
                return _MembershipElements(self.target, resolved).having(wanted), True
        if isinstance(node, ValuePath):
            if not resolved.attr.multi_valued or resolved.sub is not None:
                raise InvalidFilter(f"{node.path} is not multi-valued: it takes no [filter]")
            elements = self.elements(resolved)
            return elements.exists(_compile(elements, node.filter, positive=True)), True
        if resolved.attr.multi_valued:
            elements = self.elements(resolved)
            relative = AttrPath(None, resolved.sub.name) if resolved.sub else AttrPath(None, "value")
            if isinstance(node, Present) and resolved.sub is None:
                return elements.exists(None), True
            if resolved.sub is None and resolved.attr.type == COMPLEX:
                if isinstance(node, Compare) and node.op in _ORDERING:
                    raise InvalidFilter(f'{node.path} is complex: "{node.op}" needs a sub-attribute')
                if resolved.attr.sub("value") is None:
                    raise InvalidFilter(f"{node.path} is complex: filter on a sub-attribute")
            inner = Present(relative) if isinstance(node, Present) else Compare(relative, node.op, node.value)
            return elements.exists(_compile(elements, inner, positive=True)), True
        if isinstance(node, Present):
            return self.value_of(resolved, node.path).present(), False
        leaf = _value_leaf(resolved, node.path, node.op)
        value = self.value_of(leaf, node.path)
        return _compare(value, node.op, node.value, self.target.sqlite, str(node.path)), False

    def _schemas(self, node: Leaf) -> ColumnElement[bool]:
        """``schemas eq "<URN>"`` (RFC 7644 §3.4.2.2's example): the core URN always holds, an
        extension URN when the resource carries that extension's attributes."""
        if isinstance(node, Present):
            return true()
        if not isinstance(node, Compare) or node.op != "eq":
            raise InvalidFilter('schemas supports only "eq", "ne" and "pr"')
        wanted = _as_text(node.value).lower()
        rt = registry.resource_type(self.target.resource_type)
        if wanted == rt.schema.lower():
            return true()
        for ext in rt.extensions:
            if wanted == ext.schema.lower():
                holder = AttributeDef(name=ext.schema, type=COMPLEX)
                resolved = ResolvedAttr(ext.schema, holder, None, (ext.schema,), (ext.schema,))
                return self.value_of(resolved, node.path).present()
        return false()

    # -- singular values

    def value_of(self, resolved: ResolvedAttr, path: AttrPath) -> _Value:
        column = self._column(resolved, path)
        if column is not None:
            return column
        if self.target.sqlite:
            return _SqliteJson(resolved.leaf, self.target.table.c.resource, literal(_sqlite_path(resolved.json_keys)))
        return _PgJson(resolved.leaf, self.target.table.c.resource, resolved.json_keys)

    def _column(self, resolved: ResolvedAttr, path: AttrPath) -> _Value | None:
        table = self.target.table
        c = table.c
        names = resolved.canonical
        core = len(resolved.json_keys) == len(names)  # not nested under an extension URN
        if not core:
            return None
        leaf = resolved.leaf
        if names == ("id",):
            return _ColumnValue(leaf, c.id)
        if names == ("externalId",):
            return _ColumnValue(leaf, c.external_id)
        if names == ("displayName",):
            key = c.display_name_key if table is tables.teams else None
            return _ColumnValue(leaf, c.display_name, key)
        if names == ("userName",) and table is tables.users:
            return _ColumnValue(leaf, c.user_name, c.user_name_key)
        if names == ("active",) and table is tables.users:
            return _ColumnValue(leaf, c.active)
        if names[0] == "meta":
            if names == ("meta", "created"):
                return _ColumnValue(leaf, c.created_at)
            if names == ("meta", "lastModified"):
                return _ColumnValue(leaf, c.updated_at)
            if names == ("meta", "resourceType"):
                return _ColumnValue(leaf, literal(self.target.resource_type, String))
            if names == ("meta",):
                return _ColumnValue(leaf, c.created_at)  # meta is always present
            raise InvalidFilter(f"{path} cannot be used in a filter")
        return None

    # -- multi-valued attributes

    def elements(self, resolved: ResolvedAttr) -> "_Elements":
        if self._is_membership(resolved):
            return _MembershipElements(self.target, resolved)
        return _JsonElements(self.target, resolved)

    def first_value(self, resolved: ResolvedAttr, path: AttrPath) -> ColumnElement:
        """Sort key of a multi-valued attribute: its primary value, else its first."""
        if self._is_membership(resolved):
            raise InvalidFilter(f"cannot sort by {path}")
        sub = resolved.sub
        if sub is None and resolved.attr.type == COMPLEX:
            sub = resolved.attr.sub("value")
            if sub is None:
                raise InvalidFilter(f"cannot sort by {path}: name one of its sub-attributes")
        return _JsonElements(self.target, resolved).first(sub)


class _Elements:
    """The values of one multi-valued attribute of the current row, as a FROM clause, and the
    scope in which a value filter's relative paths resolve."""

    target: _Target
    parent: ResolvedAttr

    def exists(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        raise NotImplementedError

    def sub_value(self, sub: AttributeDef | None) -> _Value:
        raise NotImplementedError

    def resolve_relative(self, path: AttrPath) -> AttributeDef | None:
        """The sub-attribute ``path`` names (None for a simple attribute's own value)."""
        if self.parent.attr.type != COMPLEX:
            if path.urn is None and path.sub_attr is None and path.attr.lower() == "value":
                return None
            raise InvalidFilter(f"unknown attribute {path} in a value filter on {self.parent.attr.name}")
        resolved = registry.resolve(self.target.resource_type, path, parent=self.parent)
        if resolved is None or resolved.sub is None:
            raise InvalidFilter(f"unknown attribute {path} in a value filter on {self.parent.attr.name}")
        return resolved.sub

    def leaf(self, node: Leaf) -> tuple[ColumnElement[bool], bool]:
        if isinstance(node, ValuePath):
            raise InvalidFilter("value filters cannot nest")
        sub = self.resolve_relative(node.path)
        value = self.sub_value(sub)
        if isinstance(node, Present):
            return value.present(), False
        if value.attr.type == COMPLEX:
            raise InvalidFilter(f"{node.path} is complex")
        name = f"{self.parent.attr.name}.{sub.name if sub else 'value'}"
        return _compare(value, node.op, node.value, self.target.sqlite, name), False


class _JsonElements(_Elements):
    def __init__(self, target: _Target, parent: ResolvedAttr):
        self.target = target
        self.parent = ResolvedAttr(parent.schema, parent.attr, None, parent.canonical[:1],
                                   parent.json_keys[: len(parent.json_keys) - (1 if parent.sub else 0)])
        doc = target.table.c.resource
        keys = self.parent.json_keys
        if target.sqlite:
            path = _sqlite_path(keys)
            self.rows = func.json_each(doc, path).table_valued(
                column("key"), column("fullkey", String), column("type", String), column("value")
            ).alias()
            self.guard = func.json_type(doc, path) == "array"
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

    def sub_value(self, sub: AttributeDef | None) -> _Value:
        attr = sub or self.parent.attr
        doc = self.target.table.c.resource
        if self.target.sqlite:
            path = self.rows.c.fullkey
            if sub is not None:
                path = path.concat(_sqlite_path((sub.name,))[1:])
            return _SqliteJson(attr, doc, path)
        return _PgJson(attr, self.rows.c.value, () if sub is None else (sub.name,))

    def first(self, sub: AttributeDef | None) -> ColumnElement:
        """The sort key of the primary value (else the first) as a scalar subquery."""
        primary_def = self.parent.attr.sub("primary") if self.parent.attr.type == COMPLEX else None
        key = self.sub_value(sub).sort_key()
        position = self.rows.c.key if self.target.sqlite else self.rows.c.ordinality
        order = [position]
        if primary_def is not None:
            order.insert(0, self._is_primary().desc())
        query = select(key).select_from(self.rows)
        if self.guard is not None:
            query = query.where(self.guard)
        return query.order_by(*order).limit(1).scalar_subquery()


    def _is_primary(self) -> ColumnElement[bool]:
        if self.target.sqlite:
            # SQLite cannot see the outer row's columns from a correlated subquery's ORDER BY,
            # so read the element's own JSON (only objects are valid JSON text there).
            flag = case(
                (self.rows.c.type == "object", func.json_type(self.rows.c.value, '$."primary"')),
                else_=null(),
            )
            return func.coalesce(flag == "true", false(), type_=Boolean)
        primary = self.sub_value(self.parent.attr.sub("primary")).is_bool(True)
        return func.coalesce(primary, false(), type_=Boolean)


class _MembershipElements(_Elements):
    """User ``groups`` and Group ``members``: rows of ``team_members``, not JSON."""

    def __init__(self, target: _Target, parent: ResolvedAttr):
        self.target = target
        self.parent = ResolvedAttr(parent.schema, parent.attr, None, parent.canonical[:1], parent.json_keys[:1])
        self.link = tables.team_members.alias()
        if target.resource_type == "User":
            self.other = tables.teams.alias()
            self.own_id, self.other_id = self.link.c.user_id, self.link.c.team_id
            self.display = self.other.c.display_name
            self.kind = "direct"
        else:
            self.other = tables.users.alias()
            self.own_id, self.other_id = self.link.c.team_id, self.link.c.user_id
            self.display = func.coalesce(self.link.c.display, self.other.c.display_name, self.other.c.user_name)
            self.kind = "User"
        self.uses_other = False

    def exists(self, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        source = self.link
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

    def sub_value(self, sub: AttributeDef | None) -> _Value:
        name = sub.name if sub else "value"
        attr = sub or self.parent.attr
        if name == "value":
            # Ids are case-exact, and exact comparison keeps the membership index usable.
            return _ColumnValue(_exact(attr), self.other_id)
        if name == "display":
            self.uses_other = True
            return _ColumnValue(attr, self.display)
        if name == "type":
            return _ColumnValue(attr, literal(self.kind, String))
        raise InvalidFilter(f"{self.parent.attr.name}.{name} cannot be used in a filter")


def _membership_id_lookup(node: Leaf, resolved: ResolvedAttr) -> str | None:
    """The id in ``groups eq "id"``, ``members.value eq "id"`` or ``members[value eq "id"]``."""
    compare: Filter = node
    if isinstance(node, ValuePath):
        compare = node.filter
        if not isinstance(compare, Compare) or compare.path.urn or compare.path.sub_attr:
            return None
        if compare.path.attr.lower() != "value":
            return None
    elif resolved.sub is not None and resolved.sub.name != "value":
        return None
    if not isinstance(compare, Compare) or compare.op != "eq" or compare.value is None:
        return None
    return _as_text(compare.value)


def _exact(attr: AttributeDef) -> AttributeDef:
    return replace(attr, case_exact=True)


def _is_schemas(path: AttrPath) -> bool:
    return path.urn is None and path.sub_attr is None and path.attr.lower() == "schemas"


def _sqlite_path(keys: tuple[str, ...]) -> str:
    """A SQLite JSON path with every key quoted (URN keys contain ':' and '.')."""
    return "$" + "".join('."' + key.replace('"', '\\"') + '"' for key in keys)
