"""How one value compares with a filter's value (RFC 7644 §3.4.2.2), for the SQL compiler and
the in-memory evaluator alike: which operators an attribute type supports, and what a filter's
value means for it (``domain.filter.semantics`` says which value is compared)."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime, timezone

from domain.errors import InvalidFilter
from domain.filter.ast import CompValue
from domain.names import read_boolean
from domain.schema.model import BINARY, BOOLEAN, COMPLEX, DATETIME, DECIMAL, INTEGER, AttributeDef

__all__ = ["ORDERING", "SUBSTRING", "Comparison", "comparison", "as_text", "ordered", "parse_datetime"]

ORDERING = frozenset({"gt", "ge", "lt", "le"})
SUBSTRING = frozenset({"co", "sw", "ew"})


@dataclass(frozen=True)
class Comparison:
    """``<value> op operand`` for one value of attribute ``attr``, checked and coerced.

    ``kind`` says how to compare: ``"boolean"`` (op is eq), ``"number"``, ``"dateTime"``
    (``operand`` a naive UTC datetime) or ``"text"`` (by ``attr.case_exact``)."""

    attr: AttributeDef
    op: str
    kind: str
    operand: bool | int | float | datetime | str


def comparison(attr: AttributeDef, op: str, raw: CompValue, name: str) -> Comparison:
    """What comparing a value of ``attr`` with ``raw`` by ``op`` means; ``invalidFilter`` when
    the type does not support the operator or ``raw`` is no value of that type."""
    kind = attr.type
    if kind == BOOLEAN:
        if op != "eq":
            raise InvalidFilter(f'"{op}" is not supported for the boolean attribute {name}')
        return Comparison(attr, op, "boolean", _as_bool(raw, name))
    if kind in (INTEGER, DECIMAL):
        if op in SUBSTRING:
            raise InvalidFilter(f'"{op}" is not supported for the numeric attribute {name}')
        return Comparison(attr, op, "number", _as_number(raw, name))
    if kind == DATETIME:
        if op in SUBSTRING:
            raise InvalidFilter(f'"{op}" is not supported for the dateTime attribute {name}')
        return Comparison(attr, op, "dateTime", _as_datetime(raw, name))
    if kind == COMPLEX:
        raise InvalidFilter(f"{name} is complex: filter on one of its sub-attributes")
    if kind == BINARY and op in ORDERING:
        raise InvalidFilter(f'"{op}" is not supported for the binary attribute {name}')
    return Comparison(attr, op, "text", as_text(raw))


_ORDERED = {"eq": operator.eq, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}


def ordered(actual, op: str, wanted):
    """``actual op wanted`` for eq, gt, ge, lt, le: on Python values and on SQL expressions
    alike (SQLAlchemy overloads the comparison operators)."""
    try:
        return _ORDERED[op](actual, wanted)
    except KeyError:
        raise InvalidFilter(f'unsupported operator "{op}"') from None


def as_text(raw: CompValue) -> str:
    """A filter value as the string a string attribute is compared with."""
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
    flag = read_boolean(raw)
    if flag is not None:
        return flag
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
    moment = parse_datetime(raw)
    if moment is None:
        raise InvalidFilter(f"{name} is a dateTime: {raw!r} is not an ISO-8601 dateTime")
    return moment


def parse_datetime(raw: object) -> datetime | None:
    """An ISO-8601 dateTime as naive UTC (the store's convention), or None if it is none."""
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
