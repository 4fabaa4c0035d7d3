"""The PATCH engine (RFC 7644 §3.5.2), pure and atomic.

``parse_patch_request`` checks a PatchOp body and parses each operation's path;
``operation_targets`` resolves what each operation sets or removes; ``prepare_patch`` (the
ingress) does both and drops every target that is the password, so only the operations, never
a password, are queued; ``apply_patch`` applies the operations to a deep copy of the stored
document and returns the new document, or raises a ``ScimError`` and returns nothing
(atomicity, RFC 7644 §3.5.2).

Group membership is never materialised here: a Team may have 100,000 members, kept as rows.
Every operation on ``members`` becomes a ``MemberChange`` the store applies as a set operation.

Semantics decided where the RFC is silent or where real IdPs differ from it:

- ``op`` is case-insensitive (Entra sends ``Add``/``Replace``/``Remove``); ``Operations`` and the
  operation's member names are matched case-insensitively too.
- A path-less ``add``/``replace`` takes a ``value`` object whose keys may be plain names, dotted
  names (``name.givenName``), URN-qualified names (``urn:...:enterprise:2.0:User:manager``), an
  extension URN holding an object of extension attributes (Entra, RFC), or a filtered path
  (``emails[type eq "work"].value``, as Entra is reported to flatten it), applied as that path.
- ``replace`` (and ``add``) of a single-valued complex attribute merges the given sub-attributes
  and leaves the others unchanged (RFC 7644 §3.5.2.3); of a multi-valued attribute without a
  filter replaces every value (``add`` appends the values not already present; re-adding an
  existing value is a successful no-op).
- ``replace``/``add`` through a value filter that matches nothing: when the filter is exactly
  ``type eq "<string>"`` a new value with that type is appended (Entra replaces
  ``emails[type eq "work"].value`` on a user that has no work email); otherwise 400 noTarget.
- ``remove`` through a value filter that matches nothing, or of an attribute that has no value,
  succeeds and changes nothing: removal is idempotent, so an IdP's retry of a remove that
  already took effect does not fail forever.
- ``remove`` of a multi-valued attribute with a ``value`` list removes only the listed values
  (Entra's default dialect for ``members``; applied to every multi-valued attribute).
- Setting ``primary: true`` on one value clears it on the others (RFC 7643 §2.4 allows this);
  a single operation that makes two values primary is 400 invalidValue.
- ``id`` equal to the resource's own id in a path-less value is ignored (Okta's group rename);
  any other change to a readOnly attribute is 400 mutability. ``password`` (in any spelling
  that resolves to it, ``domain/secrets.py``) is accepted and dropped; ``password_supplied``
  says one was given.
- ``add``/``replace`` with ``"value": null``: ``replace`` unassigns the target, ``add`` is
  400 invalidValue.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from domain.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
)
from domain.filter.ast import (
    And,
    AttrPath,
    Compare,
    Filter,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)
from domain.filter.parser import parse_patch_path
from domain.resource import (
    UNASSIGNED,
    changed_attributes,
    check_required,
    coerce_member_refs,
    coerce_members,
    coerce_simple,
    coerce_value,
    resolve_key,
)
from domain.schema.model import (
    BOOLEAN,
    COMPLEX,
    DECIMAL,
    IMMUTABLE,
    INTEGER,
    READ_ONLY,
    AttributeDef,
    ResolvedAttr,
    ResourceTypeDef,
)
from domain.schema.registry import resolve, schema
from domain.schema.registry import resource_type as resource_type_def
from domain.secrets import is_password, password_given

__all__ = [
    "PATCH_OP_SCHEMA",
    "PatchOperation",
    "MemberChange",
    "PatchOutcome",
    "PatchTarget",
    "PreparedPatch",
    "parse_patch_request",
    "prepare_patch",
    "operation_targets",
    "apply_patch",
]

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


@dataclass(frozen=True)
class MemberChange:
    """A set operation on a Group's member rows, applied by the store in order.

    - ``add``: add ``ids`` (already-present ids are a no-op);
    - ``remove``: remove ``ids``; or, when ``filter`` is set (and ``ids`` empty), remove the
      members matching ``filter`` (relative to a member: ``value``, ``type``, ``display``…);
    - ``remove_all``: remove every member;
    - ``replace``: the members become exactly ``ids``.
    """

    kind: Literal["add", "remove", "remove_all", "replace"]
    ids: tuple[str, ...] = ()
    filter: Filter | None = None
    # For add/replace: (id, display) for the members whose ``display`` the client sent.
    displays: tuple[tuple[str, str], ...] = ()


@dataclass
class PatchOutcome:
    """The result of ``apply_patch``: the new stored document and what changed."""

    document: dict
    member_changes: list[MemberChange] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    password_supplied: bool = False


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _get_ci(obj: dict, name: str) -> tuple[bool, Any]:
    """(present, value) of member ``name`` of ``obj``, matched case-insensitively."""
    if name in obj:
        return True, obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return True, value
    return False, None


def parse_patch_request(body: Any) -> list[PatchOperation]:
    """Check a PatchOp request body (RFC 7644 §3.5.2) and parse its operations.

    ``schemas`` may be absent (liberal); when present it must be a list of strings containing
    the PatchOp URN (400 invalidSyntax otherwise). ``Operations`` must be a non-empty list.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("the PATCH body must be a JSON object")
    present, listed = _get_ci(body, "schemas")
    if present:
        if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
            raise InvalidSyntax("'schemas' must be a list of strings")
        if PATCH_OP_SCHEMA.lower() not in {s.strip().lower() for s in listed}:
            raise InvalidSyntax(f"'schemas' must contain {PATCH_OP_SCHEMA}")
    present, raw_ops = _get_ci(body, "Operations")
    if not present or not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax("'Operations' must be a non-empty list of operations")
    operations: list[PatchOperation] = []
    for index, raw in enumerate(raw_ops):
        where = f"Operations[{index}]"
        if not isinstance(raw, dict):
            raise InvalidSyntax(f"{where} must be a JSON object")
        _, op = _get_ci(raw, "op")
        if not isinstance(op, str) or op.strip().lower() not in ("add", "remove", "replace"):
            raise InvalidSyntax(f"{where}: 'op' must be one of add, remove, replace")
        op_name: OpName = op.strip().lower()  # type: ignore[assignment]
        _, path_text = _get_ci(raw, "path")
        if path_text is not None and not isinstance(path_text, str):
            raise InvalidPath(f"{where}: 'path' must be a string")
        if isinstance(path_text, str) and not path_text.strip():
            path_text = None
        has_value, value = _get_ci(raw, "value")
        if path_text is None and op_name == "remove":
            raise NoTarget(f"{where}: a remove operation requires a 'path'")
        if op_name != "remove" and not has_value:
            raise InvalidSyntax(f"{where}: an {op_name} operation requires a 'value'")
        path = parse_patch_path(path_text.strip()) if path_text is not None else None
        operations.append(PatchOperation(op=op_name, path=path, value=value,
                                         has_value=has_value, path_text=path_text))
    return operations


# --------------------------------------------------------------------------------------------
# Targets: what each operation sets or removes (shared by the patcher and the ingress)
# --------------------------------------------------------------------------------------------


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
    found = schema(key)
    if found is not None and any(ext.schema == found.id for ext in rt.extensions):
        return found.id
    return None


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
        if key.lower() == "schemas":
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
        if isinstance(key, str) and key.lower() == "schemas":
            continue  # a value object may name its own schema; that is no attribute (RFC 7643 §3)
        resolved = resolve(rt.id, AttrPath(urn, key)) if isinstance(key, str) else None
        if resolved is None:
            raise InvalidValue(f"unknown attribute '{urn}:{key}'")
        yield PatchTarget(op_name, resolved, sub_value, True, None, None, f"{urn}:{key}",
                          where + (key,), pathless=True)


# --------------------------------------------------------------------------------------------
# At the ingress: the operations that travel, without the password
# --------------------------------------------------------------------------------------------


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
    rt = _resource_type(resource_type)
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
    return any(not (isinstance(key, str) and key.lower() == "schemas") for key in value)


def _operation_json(op: PatchOperation) -> dict:
    out: dict = {"op": op.op}
    if op.path_text is not None:
        out["path"] = op.path_text
    if op.has_value:
        out["value"] = op.value
    return out


def _resource_type(name: str) -> ResourceTypeDef:
    try:
        return resource_type_def(name)
    except KeyError:
        raise InvalidValue(f"unknown resource type '{name}'") from None


# --------------------------------------------------------------------------------------------
# Value filters, evaluated on one value of a multi-valued attribute
# --------------------------------------------------------------------------------------------


def _filter_attr(resource_type_name: str, parent: ResolvedAttr, path: AttrPath) -> AttributeDef:
    resolved = resolve(resource_type_name, path, parent)
    if resolved is None or resolved.sub is None:
        raise InvalidPath(f"'{path}' is not a sub-attribute of '{parent.attr.name}'")
    return resolved.sub


def _check_filter(resource_type_name: str, parent: ResolvedAttr, flt: Filter) -> None:
    """Resolve every attribute a value filter names; InvalidPath when one is unknown."""
    if isinstance(flt, (Compare, Present)):
        _filter_attr(resource_type_name, parent, flt.path)
    elif isinstance(flt, (And, Or)):
        _check_filter(resource_type_name, parent, flt.left)
        _check_filter(resource_type_name, parent, flt.right)
    elif isinstance(flt, Not):
        _check_filter(resource_type_name, parent, flt.expr)
    else:
        raise InvalidPath("a value filter cannot contain another value filter")


def _matches(resource_type_name: str, parent: ResolvedAttr, item: Any, flt: Filter) -> bool:
    if isinstance(flt, And):
        return (_matches(resource_type_name, parent, item, flt.left)
                and _matches(resource_type_name, parent, item, flt.right))
    if isinstance(flt, Or):
        return (_matches(resource_type_name, parent, item, flt.left)
                or _matches(resource_type_name, parent, item, flt.right))
    if isinstance(flt, Not):
        return not _matches(resource_type_name, parent, item, flt.expr)
    if isinstance(flt, ValuePath):
        raise InvalidPath("a value filter cannot contain another value filter")
    sub = _filter_attr(resource_type_name, parent, flt.path)
    actual = item.get(sub.name) if isinstance(item, dict) else None
    if isinstance(flt, Present):
        return actual not in (None, "", [], {})
    return _compare(sub, actual, flt.op, flt.value)


def _compare(sub: AttributeDef, actual: Any, op: str, expected: Any) -> bool:
    if expected is None or actual is None:
        same = actual is None and expected is None
        return same if op == "eq" else (not same if op == "ne" else False)
    if sub.type == BOOLEAN:
        if isinstance(expected, str) and expected.lower() in ("true", "false"):
            expected = expected.lower() == "true"
        if op not in ("eq", "ne") or not isinstance(expected, bool):
            return op == "ne"
        return (actual == expected) == (op == "eq")
    if sub.type in (INTEGER, DECIMAL):
        if isinstance(expected, bool) or not isinstance(expected, (int, float)):
            return op == "ne"
        return _ordered(actual, op, expected)
    if not isinstance(actual, str) or not isinstance(expected, str):
        return op == "ne"
    if not sub.case_exact:
        actual, expected = actual.casefold(), expected.casefold()
    if op == "co":
        return expected in actual
    if op == "sw":
        return actual.startswith(expected)
    if op == "ew":
        return actual.endswith(expected)
    return _ordered(actual, op, expected)


def _ordered(actual: Any, op: str, expected: Any) -> bool:
    try:
        return {
            "eq": actual == expected,
            "ne": actual != expected,
            "gt": actual > expected,
            "ge": actual >= expected,
            "lt": actual < expected,
            "le": actual <= expected,
        }.get(op, False)
    except TypeError:
        return op == "ne"


def _type_eq(resource_type_name: str, parent: ResolvedAttr, flt: Filter) -> str | None:
    """The ``x`` of a filter that is exactly ``type eq "x"``, else None."""
    if isinstance(flt, Compare) and flt.op == "eq" and isinstance(flt.value, str):
        resolved = resolve(resource_type_name, flt.path, parent)
        if resolved is not None and resolved.sub is not None and resolved.sub.name == "type":
            return flt.value
    return None


def _shown(refs: dict[str, str | None]) -> tuple[tuple[str, str], ...]:
    return tuple((member, shown) for member, shown in refs.items() if shown)


def _member_value_ids(parent: ResolvedAttr, flt: Filter) -> list[str] | None:
    """The ids of a members filter made only of ``value eq "id"`` joined by ``or``."""
    if isinstance(flt, Compare):
        resolved = resolve("Group", flt.path, parent)
        if (flt.op == "eq" and isinstance(flt.value, str) and resolved is not None
                and resolved.sub is not None and resolved.sub.name == "value"):
            return [flt.value]
        return None
    if isinstance(flt, Or):
        left = _member_value_ids(parent, flt.left)
        right = _member_value_ids(parent, flt.right)
        if left is not None and right is not None:
            return left + [i for i in right if i not in left]
    return None


# --------------------------------------------------------------------------------------------
# Applying
# --------------------------------------------------------------------------------------------


def _contains(existing: Any, candidate: Any) -> bool:
    """Whether ``existing`` already holds ``candidate``: equal, or for complex values every
    sub-attribute of ``candidate`` equal in ``existing``."""
    if isinstance(existing, dict) and isinstance(candidate, dict):
        return all(existing.get(k) == v for k, v in candidate.items())
    return existing == candidate


class _Patcher:
    def __init__(self, rt: ResourceTypeDef, document: dict, resource_id: str):
        self.rt = rt
        self.doc = copy.deepcopy(document)
        self.resource_id = resource_id
        self.member_changes: list[MemberChange] = []
        self.password_supplied = False

    # -- dispatch ------------------------------------------------------------------------

    def apply(self, op: PatchOperation) -> None:
        for target in operation_targets(self.rt, op):
            if target.resolved is None:
                self.doc.pop(target.extension, None)  # the whole extension object is removed
                continue
            self._apply_resolved(target.op, target.resolved, target.value, target.has_value,
                                 target.value_filter, target.post_sub, target.label,
                                 pathless=target.pathless)

    # -- one resolved target ---------------------------------------------------------------

    def _apply_resolved(self, op: str, resolved: ResolvedAttr, value: Any, has_value: bool,
                        flt: Filter | None, post_sub: str | None, label: str,
                        *, pathless: bool) -> None:
        attr = resolved.attr
        if self.rt.id == "Group" and attr.name == "members":
            self._members(op, resolved, value, has_value, flt, post_sub, label)
            return
        if is_password(self.rt.id, resolved):
            self.password_supplied = password_given(op, value) or self.password_supplied
            return
        if attr.name == "id" and resolved.sub is None and flt is None:
            if op != "remove" and value == self.resource_id:
                return  # Okta echoes the resource's own id in path-less replaces: a no-op
            raise Mutability("'id' is readOnly and cannot be changed")
        if op != "remove" and value is None:
            if op == "add":
                raise InvalidValue(f"'{label}': an add operation requires a non-null 'value'")
            op = "remove"  # replace with null: unassign
            value, has_value = None, False

        target_sub = resolved.sub
        if flt is not None:
            if not attr.multi_valued or attr.type != COMPLEX or resolved.sub is not None:
                raise InvalidPath(f"'{label}': a value filter needs a multi-valued complex attribute")
            _check_filter(self.rt.id, resolved, flt)
            if post_sub is not None:
                target_sub = attr.sub(post_sub)
                if target_sub is None:
                    raise InvalidPath(f"unknown sub-attribute in path '{label}'")
        elif post_sub is not None:
            raise InvalidPath(f"'{label}': a sub-attribute after a path needs a value filter")
        if attr.mutability == READ_ONLY or (target_sub and target_sub.mutability == READ_ONLY):
            raise Mutability(f"'{label}' is readOnly and cannot be modified")

        container = self._container(resolved, create=op != "remove")
        if container is None:
            return  # removing from an extension that has no values: nothing to do
        if flt is not None:
            self._filtered(op, resolved, container, flt, target_sub, value, label)
        elif target_sub is not None:
            self._sub_attribute(op, attr, container, target_sub, value, label)
        else:
            self._whole(op, attr, container, value, has_value, label)
        self._tidy(resolved)

    def _container(self, resolved: ResolvedAttr, *, create: bool) -> dict | None:
        if len(resolved.json_keys) > len(resolved.canonical):
            urn = resolved.json_keys[0]
            ext = self.doc.get(urn)
            if not isinstance(ext, dict):
                if not create:
                    return None
                ext = {}
                self.doc[urn] = ext
            return ext
        return self.doc

    def _tidy(self, resolved: ResolvedAttr) -> None:
        container = self._container(resolved, create=False)
        if container is None:
            return
        name = resolved.attr.name
        if container.get(name) in ([], {}):
            del container[name]
        if container is not self.doc and not container:
            del self.doc[resolved.json_keys[0]]

    def _check_immutable(self, attr: AttributeDef, old: Any, new: Any, label: str) -> None:
        if attr.mutability == IMMUTABLE and old is not None and old != new:
            raise Mutability(f"'{label}' is immutable and cannot be changed")

    def _whole(self, op: str, attr: AttributeDef, container: dict, value: Any,
               has_value: bool, label: str) -> None:
        name = attr.name
        current = container.get(name)
        if op == "remove":
            self._check_immutable(attr, current, None, label)
            if attr.multi_valued and has_value and value is not None and isinstance(current, list):
                doomed = coerce_value(attr, value, name=label)
                if doomed is UNASSIGNED:
                    return
                container[name] = [v for v in current if not any(_contains(v, d) for d in doomed)]
            else:
                container.pop(name, None)
            return
        coerced = coerce_value(attr, value, name=label)
        if coerced is UNASSIGNED:
            if op == "replace":
                container.pop(name, None)
            return
        if attr.multi_valued:
            if op == "replace":
                container[name] = coerced
                return
            values = list(current) if isinstance(current, list) else []
            touched = []
            for item in coerced:
                if any(_contains(existing, item) for existing in values):
                    continue  # already there: no change, success (RFC 7644 §3.5.2.1)
                values.append(item)
                touched.append(len(values) - 1)
            _settle_primary(values, touched, label)
            container[name] = values
            return
        if attr.type == COMPLEX:
            merged = dict(current) if isinstance(current, dict) else {}
            for sub_name, sub_value in coerced.items():
                sub = attr.sub(sub_name)
                if sub is not None:
                    self._check_immutable(sub, merged.get(sub_name), sub_value,
                                          f"{label}.{sub_name}")
                merged[sub_name] = sub_value
            container[name] = merged
            return
        self._check_immutable(attr, current, coerced, label)
        container[name] = coerced

    def _sub_attribute(self, op: str, attr: AttributeDef, container: dict, sub: AttributeDef,
                       value: Any, label: str) -> None:
        current = container.get(attr.name)
        if attr.multi_valued:
            values = list(current) if isinstance(current, list) else []
            if op == "remove":
                container[attr.name] = _without_sub(values, sub.name)
                return
            coerced = coerce_simple(sub, value, name=label)
            if not values:
                values = [{sub.name: coerced}]
            else:
                values = [{**v, sub.name: coerced} for v in values]
            _settle_primary(values, list(range(len(values))), label)
            container[attr.name] = values
            return
        complex_value = dict(current) if isinstance(current, dict) else {}
        if op == "remove":
            self._check_immutable(sub, complex_value.get(sub.name), None, label)
            complex_value.pop(sub.name, None)
        else:
            coerced = coerce_simple(sub, value, name=label)
            self._check_immutable(sub, complex_value.get(sub.name), coerced, label)
            complex_value[sub.name] = coerced
        container[attr.name] = complex_value

    def _filtered(self, op: str, resolved: ResolvedAttr, container: dict, flt: Filter,
                  sub: AttributeDef | None, value: Any, label: str) -> None:
        attr = resolved.attr
        current = container.get(attr.name)
        values = [dict(v) if isinstance(v, dict) else v for v in current] \
            if isinstance(current, list) else []
        hits = [i for i, v in enumerate(values) if _matches(self.rt.id, resolved, v, flt)]
        if op == "remove":
            if sub is None:
                container[attr.name] = [v for i, v in enumerate(values) if i not in hits]
            else:
                for i in hits:
                    values[i].pop(sub.name, None)
                container[attr.name] = [v for v in values if v != {}]
            return
        if sub is not None:
            new_sub = coerce_simple(sub, value, name=label)
        else:
            element = coerce_value(attr, value, name=label)
            if element is UNASSIGNED:
                raise InvalidValue(f"'{label}' needs a value")
            if len(element) != 1:
                raise InvalidValue(f"'{label}' selects values: give one value object")
            new_element = element[0]
        if not hits:
            type_value = _type_eq(self.rt.id, resolved, flt)
            if type_value is None:
                raise NoTarget(f"no value of '{attr.name}' matches the filter in '{label}'")
            created = {"type": type_value}
            if sub is not None:
                created[sub.name] = new_sub
            else:
                created.update(new_element)
            values.append(created)
            hits = [len(values) - 1]
        else:
            for i in hits:
                if sub is not None:
                    values[i][sub.name] = new_sub
                elif op == "replace":
                    values[i] = dict(new_element)
                else:
                    values[i] = {**values[i], **new_element}
        _settle_primary(values, hits, label)
        container[attr.name] = values

    # -- members -------------------------------------------------------------------------

    def _members(self, op: str, resolved: ResolvedAttr, value: Any, has_value: bool,
                 flt: Filter | None, post_sub: str | None, label: str) -> None:
        if resolved.sub is not None or post_sub is not None:
            raise Mutability(f"'{label}': sub-attributes of members are immutable")
        if flt is not None:
            if op != "remove":
                raise InvalidPath(f"'{label}': members selected by a filter can only be removed")
            _check_filter("Group", resolved, flt)
            ids = _member_value_ids(resolved, flt)
            if ids is not None:
                self.member_changes.append(MemberChange("remove", tuple(ids)))
            else:
                self.member_changes.append(MemberChange("remove", (), flt))
            return
        if op == "add":
            if value is None:
                raise InvalidValue(f"'{label}': an add operation requires a non-null 'value'")
            refs = coerce_member_refs(value)
            if refs:
                self.member_changes.append(MemberChange("add", tuple(refs), displays=_shown(refs)))
        elif op == "replace":
            refs = coerce_member_refs(value)
            self.member_changes.append(MemberChange("replace", tuple(refs), displays=_shown(refs)))
        elif has_value and value is not None:
            ids = coerce_members(value)  # Entra: remove only the listed members
            if ids:
                self.member_changes.append(MemberChange("remove", tuple(ids)))
        else:
            self.member_changes.append(MemberChange("remove_all"))


def _without_sub(values: list, sub_name: str) -> list:
    out = []
    for v in values:
        if isinstance(v, dict):
            v = {k: x for k, x in v.items() if k != sub_name}
            if v:
                out.append(v)
    return out


def _settle_primary(values: list, touched: list[int], label: str) -> None:
    """At most one value may be primary: the one this operation made primary wins."""
    primaries = [i for i, v in enumerate(values) if isinstance(v, dict) and v.get("primary") is True]
    if len(primaries) <= 1:
        return
    winners = [i for i in primaries if i in touched]
    if len(winners) != 1:
        raise InvalidValue(f"'{label}': at most one value may be primary")
    for i in primaries:
        if i != winners[0]:
            values[i] = {**values[i], "primary": False}


def apply_patch(
    resource_type: str,
    document: dict,
    operations: list[PatchOperation],
    *,
    resource_id: str,
) -> PatchOutcome:
    """Apply ``operations`` to a copy of the stored ``document`` of resource ``resource_id``.

    Atomic: the input is never modified; any error raises a ``ScimError`` and nothing is
    returned. The result's ``document`` still holds every required attribute.
    """
    rt = _resource_type(resource_type)
    patcher = _Patcher(rt, document, resource_id)
    for operation in operations:
        patcher.apply(operation)
    check_required(rt.id, patcher.doc)
    changed = changed_attributes(rt.id, document, patcher.doc)
    if patcher.member_changes:
        changed.append("members")
    return PatchOutcome(document=patcher.doc, member_changes=patcher.member_changes,
                        changed=changed, password_supplied=patcher.password_supplied)

