"""What each PATCH operation sets or removes: the one place a path or a value object's key is
resolved, for the patcher (``domain.patch.apply``) and the ingress (``domain.patch.prepare``)
alike, so the two never disagree.

A path-less ``add``/``replace`` takes a ``value`` object whose keys may be plain names, dotted
names (``name.givenName``), URN-qualified names (``urn:...:enterprise:2.0:User:manager``), an
extension URN holding an object of extension attributes (Entra, RFC), or a filtered path
(``emails[type eq "work"].value``, as Entra is reported to flatten it), applied as that path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidPath, InvalidValue, NoTarget
from domain.filter.ast import AttrPath, Filter, PatchPath
from domain.filter.parser import parse_patch_path
from domain.names import is_name
from domain.patch.parse import OpName, PatchOperation
from domain.schema.model import ResolvedAttr, ResourceTypeDef
from domain.schema.registry import resolve, resolve_key, schema_of

__all__ = ["PatchTarget", "operation_targets"]


@dataclass(frozen=True)
class PatchTarget:
    """One attribute an operation sets or removes, resolved as the patcher applies it.

    ``resolved`` is None when the target is a whole extension object that is removed
    (``extension`` names it). ``where`` is where ``value`` sits inside the operation's own
    ``value``: ``()`` for the whole value, ``(key,)`` for a key of a path-less value object,
    ``(urn, key)`` for a key of an extension object inside one.
    """

    op: OpName
    resolved: ResolvedAttr | None
    value: Any
    has_value: bool
    value_filter: Filter | None
    post_sub: str | None
    label: str
    where: tuple[str, ...]
    pathless: bool
    extension: str | None = None


def _extension_urn(rt: ResourceTypeDef, key: str) -> str | None:
    """The canonical URN of one of ``rt``'s extensions when ``key`` names it (any case)."""
    found = schema_of(rt.id, key)
    return found.id if found is not None and found.id != rt.schema else None


def operation_targets(rt: ResourceTypeDef, op: PatchOperation) -> Iterator[PatchTarget]:
    """The targets of one operation, in order; a ``ScimError`` for a path or key that names
    nothing. This is the only place a path or a value object's key is resolved, for the
    patcher and for the ingress alike (``prepare_patch``), so the two never disagree."""
    if op.path is not None:
        label = op.path_text or str(op.path.attr)
        yield from _path_targets(rt, op.op, op.path, op.value, op.has_value, label, ())
        return
    if op.op == "remove":
        raise NoTarget("a remove operation requires a 'path'")
    if not isinstance(op.value, dict):
        raise InvalidValue(f"a path-less {op.op} needs a 'value' object of attributes")
    for key, value in op.value.items():
        if not isinstance(key, str):
            raise InvalidValue(f"unknown attribute {key!r}")
        if is_name(key, "schemas"):
            continue
        ext = _extension_urn(rt, key)
        if ext is not None:
            yield from _extension_targets(rt, op.op, ext, value, key, (key,))
        elif "[" in key:
            # Entra also flattens filtered paths into the value object:
            # {"emails[type eq \"work\"].value": "x"} means that path, with that value.
            yield from _path_targets(rt, op.op, parse_patch_path(key.strip()), value, True, key, (key,))
        else:
            resolved = resolve_key(rt.id, key)
            if resolved is None:
                raise InvalidValue(f"unknown attribute '{key}'")
            yield PatchTarget(op.op, resolved, value, True, None, None, key, (key,), pathless=True)


def _path_targets(rt: ResourceTypeDef, op_name: OpName, path: PatchPath, value: Any,
                  has_value: bool, label: str, where: tuple[str, ...]) -> Iterator[PatchTarget]:
    resolved = resolve(rt.id, path.attr)
    if resolved is not None:
        yield PatchTarget(op_name, resolved, value, has_value, path.value_filter, path.sub_attr,
                          label, where, pathless=False)
        return
    ext = _extension_urn(rt, str(path.attr))
    if ext is None or path.value_filter is not None or path.sub_attr is not None:
        raise InvalidPath(f"unknown attribute in path '{label}'")
    if op_name == "remove":
        yield PatchTarget(op_name, None, None, False, None, None, label, where, pathless=False,
                          extension=ext)
        return
    yield from _extension_targets(rt, op_name, ext, value, label, where)


def _extension_targets(rt: ResourceTypeDef, op_name: OpName, urn: str, value: Any, label: str,
                       where: tuple[str, ...]) -> Iterator[PatchTarget]:
    if value is None and op_name == "replace":
        yield PatchTarget(op_name, None, None, False, None, None, label, where, pathless=True,
                          extension=urn)
        return
    if not isinstance(value, dict):
        raise InvalidValue(f"'{label}' must be a JSON object of extension attributes")
    for key, sub_value in value.items():
        if is_name(key, "schemas"):
            continue  # a value object may name its own schema; that is no attribute (RFC 7643 §3)
        resolved = resolve(rt.id, AttrPath(urn, key)) if isinstance(key, str) else None
        if resolved is None:
            raise InvalidValue(f"unknown attribute '{urn}:{key}'")
        yield PatchTarget(op_name, resolved, sub_value, True, None, None, f"{urn}:{key}",
                          where + (key,), pathless=True)
