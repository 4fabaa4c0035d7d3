"""At the ingress: a PATCH request's operations as they travel, without the password.

``prepare_patch`` parses the body and resolves every target of every operation as the patcher
will (``operation_targets``), and drops each target that is the password (``password``, in any
spelling that resolves to it, ``domain/secrets.py``), so only the operations, never a password,
are queued.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from domain.names import is_name
from domain.patch.parse import PATCH_OP_SCHEMA, PatchOperation, parse_patch_request
from domain.patch.targets import operation_targets
from domain.schema.registry import known_resource_type
from domain.secrets import is_password, password_given

__all__ = ["PreparedPatch", "prepare_patch"]


@dataclass(frozen=True)
class PreparedPatch:
    """A PATCH request checked at the ingress: its operations without any password, and
    whether one was sent. ``body()`` is the only form of the request that is queued."""

    operations: list[PatchOperation]
    password_supplied: bool

    def body(self) -> dict:
        """A canonical PatchOp body of the operations: only ``op``, ``path`` and ``value``,
        as the parser read them (no other member of the client's body travels)."""
        return {"schemas": [PATCH_OP_SCHEMA], "Operations": [_operation_json(op) for op in self.operations]}


def prepare_patch(resource_type: str, body: Any) -> PreparedPatch:
    """Parse a PatchOp body and resolve every target of every operation, as the patcher will;
    drop each target that is the password (the operation, or its key in a value object).

    Raises the ``ScimError`` the patcher would for a bad body, path or attribute name, so a
    request the worker would refuse is refused here, before anything is queued.
    """
    rt = known_resource_type(resource_type)
    kept: list[PatchOperation] = []
    supplied = False
    for op in parse_patch_request(body):
        secret_at: list[tuple[str, ...]] = []
        for target in operation_targets(rt, op):
            if is_password(rt.id, target.resolved):
                supplied = password_given(target.op, target.value) or supplied
                secret_at.append(target.where)
        if not secret_at:
            kept.append(op)
        elif () not in secret_at:  # () : the operation's whole value is the password
            value = _without(op.value, secret_at)
            if op.path is not None or _names_attributes(value):
                kept.append(replace(op, value=value))
    return PreparedPatch(kept, supplied)


def _without(value: dict, places: list[tuple[str, ...]]) -> dict:
    """A copy of ``value`` without the members at ``places`` (the caller's value untouched)."""
    out = dict(value)
    for place in places:
        node = out
        for key in place[:-1]:
            node[key] = dict(node[key])
            node = node[key]
        node.pop(place[-1], None)
    return out


def _names_attributes(value: dict) -> bool:
    return any(not is_name(key, "schemas") for key in value)


def _operation_json(op: PatchOperation) -> dict:
    out: dict = {"op": op.op}
    if op.path_text is not None:
        out["path"] = op.path_text
    if op.has_value:
        out["value"] = op.value
    return out
