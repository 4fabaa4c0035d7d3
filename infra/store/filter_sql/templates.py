"""A lookup by one attribute's value, compiled once per attribute instead of once per request.

Most of what IdPs read is ``attr eq "value"`` — ``userName eq`` before every Okta create,
``externalId eq`` for every user of Entra's first cycle, ``displayName eq`` for groups. Building
that filter's SQL expression and its statement anew per request was about a third of a lookup's
CPU in the ingress. Here the filter is compiled once per ``(resource type, attribute, dialect)``
by the one compiler (``compile_filter``) with a stand-in value; the stand-in's bound parameter is
swapped for a named one, and each request binds its own value (casefolded where the compiler
casefolded the stand-in). What a lookup means stays where it is decided: a template is only
the compiler's own output with its operand left open.

An attribute whose comparison depends on the value beyond binding it (a boolean, a number, a
date, which the stand-in is not) compiles to an error or to no single bound stand-in, and gets no
template: those lookups take the general path. Templates are kept for a bounded number of
attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import BindParameter, ColumnElement, bindparam
from sqlalchemy.sql import visitors

from domain.errors import ScimError
from domain.filter.ast import Compare, Filter
from infra.store.filter_sql import compile_filter

# Mixed case and characters no identifier of ours contains: casefolding it is visible, and it
# cannot be mistaken for another bound value of the compiled expression.
STAND_IN = "ScimGate\u2603Lookup\u2603Value"
PARAMETER = "lookup_value"
MAX_TEMPLATES = 256


@dataclass(frozen=True, eq=False)  # one object per attribute: compared and hashed by identity
class Template:
    where: ColumnElement[bool]  # with the bound parameter ``PARAMETER``
    fold: bool  # the compiler casefolded the operand

    def params(self, value: str) -> dict:
        return {PARAMETER: value.casefold() if self.fold else value}


_templates: dict[tuple[str, str, str], Template | None] = {}


def lookup_template(resource_type: str, flt: Filter, dialect: str) -> Template | None:
    """The template for ``flt`` when it is ``attr eq "string"`` and its attribute has one."""
    if not (isinstance(flt, Compare) and flt.op == "eq" and isinstance(flt.value, str)):
        return None
    key = (resource_type, str(flt.path).casefold(), dialect)
    if key in _templates:
        return _templates[key]
    template = _build(resource_type, replace(flt, value=STAND_IN), dialect)
    if len(_templates) < MAX_TEMPLATES:
        _templates[key] = template
    return template


def _build(resource_type: str, stand_in: Compare, dialect: str) -> Template | None:
    try:
        where = compile_filter(resource_type, stand_in, dialect)
    except ScimError:
        return None
    found = [bind for bind in visitors.iterate(where) if isinstance(bind, BindParameter)
             and isinstance(bind.value, str) and STAND_IN.casefold() in bind.value.casefold()]
    if len(found) != 1 or found[0].value not in (STAND_IN, STAND_IN.casefold()):
        return None
    [stand_in_bind] = found
    fold = stand_in_bind.value != STAND_IN
    named = bindparam(PARAMETER, type_=stand_in_bind.type)

    def swap(element, **_kw):
        return named if element is stand_in_bind else None

    return Template(visitors.replacement_traverse(where, {}, swap), fold)
