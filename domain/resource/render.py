"""Output: the SCIM JSON of a stored resource, projected per RFC 7644 §3.9 by the request's
``Selection`` (``domain.resource.returned`` decides what is returned; this module builds it)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from domain.resource.returned import Selection, selection
from domain.schema.model import ALWAYS, COMPLEX, AttributeDef
from domain.schema.registry import COMMON_ATTRIBUTES, known_resource_type, schema, schemas_for

__all__ = ["render"]


def _project_complex(attr: AttributeDef, value: Any, returned: Callable[[AttributeDef], bool]) -> Any:
    """A new complex value (or list of them) of the sub-attributes ``returned`` admits."""

    def one(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        out = {}
        for sub_name, sub_value in item.items():
            sub = attr.sub(sub_name)
            if sub is not None and returned(sub):
                out[sub.name] = sub_value
        return out

    if isinstance(value, list):
        items = [one(item) for item in value]
        return [item for item in items if item != {}]
    return one(value)


def render(
    resource_type: str,
    document: dict,
    *,
    id: str,
    meta: dict,
    members: list[dict] | None = None,
    groups: list[dict] | None = None,
    attributes: list[str] | None = None,
    excluded_attributes: list[str] | None = None,
    selected: Selection | None = None,
) -> dict:
    """The SCIM JSON of a stored resource, projected per RFC 7644 §3.9.

    ``schemas`` lists the core URN and each extension present in the output; ``id`` is always
    sent; ``meta`` is sent as given (``resourceType``, ``created``, ``lastModified``,
    ``location``, ``version``); ``members`` (Group) and ``groups`` (User) are sent when given.
    What is sent is the selection's decision (``Selection.decide``/``sub_returned``).
    ``selected`` is the request's ``selection`` (resolve the names once, render many resources);
    without it ``attributes``/``excluded_attributes`` are resolved for this one call.
    """
    rt = known_resource_type(resource_type)
    if selected is None:
        selected = selection(rt.id, attributes, excluded_attributes)
    elif selected.resource_type != rt.id:
        raise ValueError(f"a selection for {selected.resource_type} cannot render a {rt.id}")
    core_schema = schemas_for(rt.id)[0]

    full: list[tuple[AttributeDef, tuple[str, ...], Any]] = [
        (COMMON_ATTRIBUTES[0], ("id",), id)
    ]
    if "externalId" in document:
        full.append((COMMON_ATTRIBUTES[1], ("externalId",), document["externalId"]))
    computed = {"Group": ("members", members), "User": ("groups", groups)}[rt.id]
    for attr in core_schema.attributes:
        if attr.name == computed[0]:
            if computed[1] is not None:
                full.append((attr, (attr.name,), computed[1]))
            continue
        if attr.name in document:
            full.append((attr, (attr.name,), document[attr.name]))
    for ext in rt.extensions:
        ext_doc = document.get(ext.schema)
        ext_schema = schema(ext.schema)
        if not isinstance(ext_doc, dict) or ext_schema is None:
            continue
        for attr in ext_schema.attributes:
            if attr.name in ext_doc:
                full.append((attr, (ext_schema.id, attr.name), ext_doc[attr.name]))
    full.append((COMMON_ATTRIBUTES[2], ("meta",), meta))

    out: dict = {"schemas": [rt.schema]}
    for attr, key, value in full:
        decision = selected.decide(attr, key)
        if decision is False:
            continue
        if attr.type == COMPLEX and attr.sub_attributes and value is not None:
            # _project_complex builds new objects of simple sub-values: nothing of ``value`` is shared.
            value = _project_complex(attr, value, selected.sub_returned(key, decision))
            if (value == {} or value == []) and attr.returned != ALWAYS and key != (computed[0],):
                continue  # nothing left to send; a Team's (or User's) empty list still is
        else:
            value = copy.deepcopy(value)
        if len(key) == 2:
            out.setdefault(key[0], {})[key[1]] = value
        else:
            out[key[0]] = value
    for ext in rt.extensions:
        if ext.schema in out:
            out["schemas"].append(ext.schema)
    return out
