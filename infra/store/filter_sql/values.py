"""SQL-side values: what an attribute (or a sub-attribute of one value) is in SQL — a column,
a JSON value in SQLite, a JSONB value in PostgreSQL — and how one compares with a filter's
value (``domain.filter.semantics.Comparison``) or sorts."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ARRAY, Boolean, ColumnElement, Float, String, Text, and_, case, cast, false, func, literal, null
from sqlalchemy.dialects.postgresql import JSONB

from domain.filter.comparison import Comparison, ordered
from domain.schema.model import BOOLEAN, COMPLEX, DATETIME, DECIMAL, INTEGER, AttributeDef

__all__ = ["Value", "ColumnValue", "SqliteJson", "PgJson", "compare", "sqlite_path"]

_LIKE_ESCAPE = "\\"


# ============================================================================ values


class Value(Protocol):
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
class ColumnValue:
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
class SqliteJson:
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
class PgJson:
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


def _scalar_sort_key(value: "SqliteJson | PgJson") -> ColumnElement:
    attr = value.attr
    if attr.type in (INTEGER, DECIMAL):
        return value.number()
    if _is_textual(attr) and not attr.case_exact:
        return func.lower(value.text())
    return value.text()


def _is_textual(attr: AttributeDef) -> bool:
    return attr.type not in (BOOLEAN, INTEGER, DECIMAL, DATETIME, COMPLEX)


# ============================================================================ comparisons


def compare(value: Value, compared: Comparison, sqlite: bool) -> ColumnElement[bool]:
    """``value op operand`` for one (non-null) value, as ``compared`` (checked and coerced by
    the domain) says."""
    op, operand = compared.op, compared.operand
    if compared.kind == "boolean":
        return value.is_bool(bool(operand))
    if compared.kind == "number":
        return ordered(value.number(), op, operand)
    if compared.kind == "dateTime":
        # A column holds a timestamp, JSON the ISO text (no served attribute keeps a dateTime in
        # the document).
        moment = typing.cast(datetime, operand)
        return ordered(value.moment(), op, moment if isinstance(value, ColumnValue) else moment.isoformat())
    return _compare_text(value, op, str(operand), compared.attr.case_exact, sqlite)


def _compare_text(value: Value, op: str, text: str, case_exact: bool, sqlite: bool) -> ColumnElement[bool]:
    key = value.folded()
    operand: ColumnElement[str]
    if key is not None and not case_exact:
        expr, operand, case_exact = key, literal(text.casefold(), String), True
    elif case_exact:
        expr, operand = value.text(), literal(text, String)
    else:
        expr, operand = func.lower(value.text()), func.lower(literal(text, String))
    if op in ("co", "sw", "ew"):
        if sqlite and case_exact:
            # SQLite's LIKE ignores ASCII case; GLOB does not.
            return expr.op("GLOB")(literal(_glob_pattern(op, text if key is None else text.casefold())))
        pattern = _like_pattern(op, text if key is None else text.casefold())
        operand_pattern = literal(pattern, String) if case_exact else func.lower(literal(pattern, String))
        return expr.like(operand_pattern, escape=_LIKE_ESCAPE)
    return ordered(expr, op, operand)


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


def sqlite_path(keys: tuple[str, ...]) -> str:
    """A SQLite JSON path with every key quoted (URN keys contain ':' and '.')."""
    return "$" + "".join('."' + key.replace('"', '\\"') + '"' for key in keys)
