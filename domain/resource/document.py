"""Rules over a whole stored document: what changed, what is required, what fits the store's
indexed columns, and which immutable values a PUT may not change."""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidValue, Mutability
from domain.limits import MAX_INDEXED_STRING
from domain.resource.values import UNASSIGNED, coerce_member_refs
from domain.schema.model import COMPLEX, IMMUTABLE, STRING, ResolvedAttr
from domain.schema.registry import (
    COMMON_ATTRIBUTES,
    known_resource_type,
    resolve,
    resolve_key,
    resource_type,
    schemas_for,
)

__all__ = [
    "NOT_STORED",
    "INDEXED",
    "changed_attributes",
    "check_required",
    "check_indexed_lengths",
    "check_patch_values",
    "check_immutable",
]

#: Attributes the store keeps elsewhere or never: not part of the stored document.
NOT_STORED = frozenset({"id", "meta", "groups", "members", "password", "schemas"})


def changed_attributes(resource_type_name: str, before: dict, after: dict) -> list[str]:
    """The top-level attributes whose values differ between two stored documents, in schema
    order; extension attributes are named ``<urn>:<attr>``."""
    changed: list[str] = []
    rt = resource_type(resource_type_name)
    for schema_def in schemas_for(resource_type_name):
        extension = schema_def.id != rt.schema
        old_root = before.get(schema_def.id, {}) if extension else before
        new_root = after.get(schema_def.id, {}) if extension else after
        attrs = schema_def.attributes if extension else schema_def.attributes + COMMON_ATTRIBUTES
        for attr in attrs:
            if attr.name in NOT_STORED:
                continue
            if old_root.get(attr.name, UNASSIGNED) != new_root.get(attr.name, UNASSIGNED):
                changed.append(f"{schema_def.id}:{attr.name}" if extension else attr.name)
    return changed


def check_required(resource_type_name: str, document: dict) -> None:
    """Raise InvalidValue unless the document holds every required attribute (``userName`` and
    a Group's ``displayName`` must be non-empty strings) and fits the store's columns."""
    rt = resource_type(resource_type_name)
    for schema_def in schemas_for(resource_type_name):
        root = document if schema_def.id == rt.schema else document.get(schema_def.id, {})
        for attr in schema_def.attributes:
            if not attr.required or attr.name in NOT_STORED:
                continue
            value = root.get(attr.name)
            if value is None or value == [] or value == {}:
                raise InvalidValue(f"required attribute '{attr.name}' is missing")
            if attr.type == STRING and not attr.multi_valued and not str(value).strip():
                raise InvalidValue(f"'{attr.name}' must be a non-empty string")
    check_indexed_lengths(resource_type_name, document)


#: The attributes the store copies into ``String(512)`` columns (``infra/store/tables.py``).
INDEXED = {"User": ("userName", "displayName", "externalId"), "Group": ("displayName", "externalId")}


def check_indexed_lengths(resource_type_name: str, document: dict) -> None:
    """Raise InvalidValue when an attribute the store indexes is longer than its column.

    PostgreSQL would refuse it and SQLite would keep it; both backends answer the same."""
    for name in INDEXED.get(resource_type(resource_type_name).id, ()):
        _check_indexed(name, document.get(name))


def _check_indexed(name: str, value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_INDEXED_STRING:
        raise InvalidValue(f"'{name}' must be at most {MAX_INDEXED_STRING} characters, got {len(value)}")


def check_patch_values(resource_type_name: str, operations: list) -> None:
    """What the ingress can check of a PATCH's values without the stored resource: that the
    strings it would put in the store's indexed columns fit them, and that members added or
    set are well-formed (``coerce_member_refs``). The PATCH engine applies the same rules to
    the outcome, so the answer is the same wherever it is found.

    ``operations`` are parsed PATCH operations (``op``, ``path``, ``value``)."""
    rt_id = known_resource_type(resource_type_name).id
    for operation in operations:
        if operation.op == "remove":
            continue
        path = operation.path
        if path is None:
            if isinstance(operation.value, dict):
                for key, value in operation.value.items():
                    _check_patch_target(rt_id, resolve_key(rt_id, key) if isinstance(key, str) else None, value)
        elif path.value_filter is None and path.sub_attr is None:
            _check_patch_target(rt_id, resolve(rt_id, path.attr), operation.value)


def _check_patch_target(rt_id: str, resolved: ResolvedAttr | None, value: Any) -> None:
    if resolved is None or resolved.sub is not None or len(resolved.json_keys) != 1:
        return
    name = resolved.attr.name
    if rt_id == "Group" and name == "members":
        coerce_member_refs(value)
    elif name in INDEXED[rt_id]:
        _check_indexed(name, value)


def check_immutable(resource_type_name: str, existing: dict, document: dict) -> None:
    """PUT: an immutable attribute that has a value may not change (RFC 7644 §3.5.1)."""
    rt = resource_type(resource_type_name)
    for schema_def in schemas_for(resource_type_name):
        extension = schema_def.id != rt.schema
        old_root = existing.get(schema_def.id, {}) if extension else existing
        new_root = document.get(schema_def.id, {}) if extension else document
        for attr in schema_def.attributes:
            if attr.name in NOT_STORED:
                continue
            old = old_root.get(attr.name)
            if old is None:
                continue
            new = new_root.get(attr.name)
            if attr.mutability == IMMUTABLE and new != old:
                raise Mutability(f"attribute '{attr.name}' is immutable and cannot be changed")
            if attr.type == COMPLEX and not attr.multi_valued and isinstance(old, dict):
                for sub in attr.sub_attributes:
                    if sub.mutability != IMMUTABLE or sub.name not in old:
                        continue
                    if not isinstance(new, dict) or new.get(sub.name) != old[sub.name]:
                        raise Mutability(
                            f"attribute '{attr.name}.{sub.name}' is immutable and cannot be changed"
                        )

