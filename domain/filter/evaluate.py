"""The in-memory filter evaluator: every filter scimgate evaluates in Python goes through here.

A filter is compiled once into a predicate (a plain function), like the SQL compiler compiles
it into an expression, and with the same meaning (``domain.filter.semantics``): names are
resolved and operators and values checked when the predicate is made, so a bad filter is an
error even when there is nothing to test it on.

- ``value_predicate`` tests one value of a multi-valued attribute against a value filter (the
  ``[...]`` of a PATCH path such as ``emails[type eq "work"]``);
- ``resource_predicate`` tests a whole resource as SCIM JSON (as rendered: ``id``, ``meta``,
  extension attributes under their URN, ``members``/``groups`` as lists of values).

Listing never filters in Python (ARCHITECTURE.md principle 4): the store compiles the same
filters to SQL (``infra.store.filter_sql``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.errors import InvalidFilter, ScimError
from domain.filter.ast import Filter
from domain.filter.comparison import Comparison, ordered, parse_datetime
from domain.filter.semantics import AnyValueLeaf, Leaf, SchemasLeaf, fold, plan, plan_relative
from domain.schema.model import ResolvedAttr
from domain.schema.registry import known_resource_type

__all__ = ["Predicate", "value_predicate", "resource_predicate", "matches"]

Predicate = Callable[[Any], bool]


def value_predicate(resource_type: str, parent: ResolvedAttr, flt: Filter, *,
                    unknown: type[ScimError] = InvalidFilter) -> Predicate:
    """``flt`` as a test of one value of the multi-valued attribute ``parent``; ``unknown`` is
    the error for a name that is no sub-attribute of ``parent``."""
    rt = known_resource_type(resource_type).id

    def leaf(node: Leaf, positive: bool) -> Predicate:
        meaning = plan_relative(rt, parent, node, unknown=unknown)
        name = meaning.sub.name if meaning.sub is not None else None

        def get(value: Any) -> Any:
            if name is None:
                return value
            return value.get(name) if isinstance(value, dict) else None

        return _leaf(get, meaning.comparison, positive)

    return fold(flt, leaf, _all_of, _any_of)


def resource_predicate(resource_type: str, flt: Filter) -> Predicate:
    """``flt`` as a test of a whole resource of ``resource_type`` in its SCIM JSON form."""
    rt = known_resource_type(resource_type).id

    def leaf(node: Leaf, positive: bool) -> Predicate:
        meaning = plan(rt, node)
        if isinstance(meaning, SchemasLeaf):
            if meaning.holder is None:
                return _constant(meaning.holds == positive)
            return _leaf(_getter(meaning.holder.json_keys), None, positive)
        if isinstance(meaning, AnyValueLeaf):
            values = _getter(meaning.parent.json_keys)
            if meaning.inner is None:
                test: Predicate = lambda resource: bool(_listed(values(resource)))  # noqa: E731
            else:
                inner = value_predicate(rt, meaning.parent, meaning.inner)
                test = lambda resource: any(inner(v) for v in _listed(values(resource)))  # noqa: E731
            return test if positive else _negated(test)
        return _leaf(_getter(meaning.resolved.json_keys), meaning.comparison, positive)

    return fold(flt, leaf, _all_of, _any_of)


def matches(resource_type: str, resource: dict, flt: Filter) -> bool:
    """Whether the SCIM JSON ``resource`` matches ``flt``."""
    return resource_predicate(resource_type, flt)(resource)


# ============================================================================ leaves


def _leaf(get: Callable[[Any], Any], compared: Comparison | None, positive: bool) -> Predicate:
    if compared is None:
        test: Predicate = lambda subject: _present(get(subject))  # noqa: E731
    else:
        check = _comparer(compared)
        test = lambda subject: check(get(subject))  # noqa: E731
    return test if positive else _negated(test)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _comparer(compared: Comparison) -> Predicate:
    op, operand = compared.op, compared.operand
    if compared.kind == "boolean":
        return lambda value: isinstance(value, bool) and value == operand
    if compared.kind == "number":
        return lambda value: (isinstance(value, (int, float)) and not isinstance(value, bool)
                              and ordered(value, op, operand))
    if compared.kind == "dateTime":
        def moment(value: Any) -> bool:
            parsed = parse_datetime(value)
            return parsed is not None and ordered(parsed, op, operand)
        return moment
    exact = compared.attr.case_exact
    wanted = str(operand) if exact else str(operand).casefold()  # a text comparison's operand is a str

    def text(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        return _text(value if exact else value.casefold(), op, wanted)

    return text


def _text(actual: str, op: str, wanted: str) -> bool:
    if op == "co":
        return wanted in actual
    if op == "sw":
        return actual.startswith(wanted)
    if op == "ew":
        return actual.endswith(wanted)
    return ordered(actual, op, wanted)


# ============================================================================ structure


def _getter(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    def get(subject: Any) -> Any:
        for key in keys:
            if not isinstance(subject, dict):
                return None
            subject = subject.get(key)
        return subject

    return get


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else []


def _constant(result: bool) -> Predicate:
    return lambda subject: result


def _negated(test: Predicate) -> Predicate:
    return lambda subject: not test(subject)


def _all_of(tests: list[Predicate]) -> Predicate:
    return lambda subject: all(test(subject) for test in tests)


def _any_of(tests: list[Predicate]) -> Predicate:
    return lambda subject: any(test(subject) for test in tests)
