"""Parsing a PatchOp request body (RFC 7644 §3.5.2) into operations.

``op`` is case-insensitive (Entra sends ``Add``/``Replace``/``Remove``); ``Operations`` and the
operation's member names are matched case-insensitively too (``domain.names``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from domain.errors import InvalidPath, InvalidSyntax, NoTarget
from domain.filter.ast import PatchPath
from domain.filter.parser import parse_patch_path
from domain.names import find_member

__all__ = ["PATCH_OP_SCHEMA", "OpName", "PatchOperation", "parse_patch_request"]

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

OpName = Literal["add", "remove", "replace"]


@dataclass
class PatchOperation:
    """One parsed PATCH operation. ``has_value`` tells an absent ``value`` from ``null``;
    ``path_text`` is the path as the client wrote it (for error details)."""

    op: OpName
    path: PatchPath | None = None
    value: Any = None
    has_value: bool = False
    path_text: str | None = None


def parse_patch_request(body: Any) -> list[PatchOperation]:
    """Check a PatchOp request body (RFC 7644 §3.5.2) and parse its operations.

    ``schemas`` may be absent (liberal); when present it must be a list of strings containing
    the PatchOp URN (400 invalidSyntax otherwise). ``Operations`` must be a non-empty list.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("the PATCH body must be a JSON object")
    present, listed = find_member(body, "schemas")
    if present:
        if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
            raise InvalidSyntax("'schemas' must be a list of strings")
        if PATCH_OP_SCHEMA.lower() not in {s.strip().lower() for s in listed}:
            raise InvalidSyntax(f"'schemas' must contain {PATCH_OP_SCHEMA}")
    present, raw_ops = find_member(body, "Operations")
    if not present or not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax("'Operations' must be a non-empty list of operations")
    operations: list[PatchOperation] = []
    for index, raw in enumerate(raw_ops):
        where = f"Operations[{index}]"
        if not isinstance(raw, dict):
            raise InvalidSyntax(f"{where} must be a JSON object")
        _, op = find_member(raw, "op")
        if not isinstance(op, str) or op.strip().lower() not in ("add", "remove", "replace"):
            raise InvalidSyntax(f"{where}: 'op' must be one of add, remove, replace")
        op_name: OpName = op.strip().lower()  # type: ignore[assignment]
        _, path_text = find_member(raw, "path")
        if path_text is not None and not isinstance(path_text, str):
            raise InvalidPath(f"{where}: 'path' must be a string")
        if isinstance(path_text, str) and not path_text.strip():
            path_text = None
        has_value, value = find_member(raw, "value")
        if path_text is None and op_name == "remove":
            raise NoTarget(f"{where}: a remove operation requires a 'path'")
        if op_name != "remove" and not has_value:
            raise InvalidSyntax(f"{where}: an {op_name} operation requires a 'value'")
        path = parse_patch_path(path_text.strip()) if path_text is not None else None
        operations.append(PatchOperation(op=op_name, path=path, value=value,
                                         has_value=has_value, path_text=path_text))
    return operations
