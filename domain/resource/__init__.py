"""SCIM resources in and out.

- ``values``: one attribute's value checked against its definition (``coerce_value``), shared
  with the PATCH engine;
- ``normalize``: a client's POST/PUT body made into the canonical stored document;
- ``document``: rules over a whole stored document (required, changed, indexed lengths, PUT's
  immutables);
- ``returned``: whether an attribute is returned (``attributes``/``excludedAttributes``,
  RFC 7644 §3.9) — the one home of that decision;
- ``render``: the JSON sent back, built as the selection decides.
"""

from domain.resource.document import (
    changed_attributes,
    check_indexed_lengths,
    check_patch_values,
    check_required,
)
from domain.resource.normalize import Normalized, normalize
from domain.resource.render import render
from domain.resource.returned import Selection, is_requested, parse_attribute_list, selection
from domain.resource.values import (
    UNASSIGNED,
    coerce_member_refs,
    coerce_members,
    coerce_simple,
    coerce_value,
)
from domain.schema.registry import resolve_key

__all__ = [
    "UNASSIGNED",
    "Normalized",
    "normalize",
    "render",
    "parse_attribute_list",
    "Selection",
    "selection",
    "is_requested",
    "coerce_value",
    "coerce_member_refs",
    "coerce_members",
    "coerce_simple",
    "resolve_key",
    "check_required",
    "check_indexed_lengths",
    "check_patch_values",
    "changed_attributes",
]
