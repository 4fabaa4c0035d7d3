"""Applying PATCH operations (RFC 7644 §3.5.2) to a stored document, atomically: on a deep copy,
returning the new document, or raising a ``ScimError`` and returning nothing.

Semantics decided where the RFC is silent or where real IdPs differ from it:

- ``replace`` (and ``add``) of a single-valued complex attribute merges the given sub-attributes
  and leaves the others unchanged (RFC 7644 §3.5.2.3); of a multi-valued attribute without a
  filter replaces every value (``add`` appends the values not already present; re-adding an
  existing value is a successful no-op).
- A value filter (``emails[type eq "work"]``) selects the values it matches, evaluated by the one
  in-memory filter evaluator (``domain.filter.evaluate``) with the meaning listing gives it.
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
- Group membership: ``domain.patch.members``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidPath, InvalidValue, Mutability, NoTarget
from domain.filter.ast import Compare, Filter
from domain.filter.evaluate import Predicate, value_predicate
from domain.patch.members import MemberChange, member_change
from domain.patch.parse import PatchOperation
from domain.patch.targets import operation_targets
from domain.resource.document import changed_attributes, check_required
from domain.resource.values import UNASSIGNED, coerce_simple, coerce_value
from domain.schema.model import COMPLEX, IMMUTABLE, READ_ONLY, AttributeDef, ResolvedAttr, ResourceTypeDef
from domain.schema.registry import known_resource_type, resolve
from domain.secrets import is_password, password_given

__all__ = ["PatchOutcome", "apply_patch"]


@dataclass
class PatchOutcome:
    """The result of ``apply_patch``: the new stored document and what changed."""

    document: dict
    member_changes: list[MemberChange] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    password_supplied: bool = False


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
            change = member_change(op, resolved, value, has_value, flt, post_sub, label)
            if change is not None:
                self.member_changes.append(change)
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
        selects: Predicate | None = None
        if flt is not None:
            if not attr.multi_valued or attr.type != COMPLEX or resolved.sub is not None:
                raise InvalidPath(f"'{label}': a value filter needs a multi-valued complex attribute")
            selects = value_predicate(self.rt.id, resolved, flt, unknown=InvalidPath)
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
        if flt is not None and selects is not None:
            self._filtered(op, resolved, container, flt, selects, target_sub, value, label)
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

    def _filtered(self, op: str, resolved: ResolvedAttr, container: dict, flt: Filter, selects: Predicate,
                  sub: AttributeDef | None, value: Any, label: str) -> None:
        attr = resolved.attr
        current = container.get(attr.name)
        values = [dict(v) if isinstance(v, dict) else v for v in current] \
            if isinstance(current, list) else []
        hits = [i for i, v in enumerate(values) if selects(v)]
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
    rt = known_resource_type(resource_type)
    patcher = _Patcher(rt, document, resource_id)
    for operation in operations:
        patcher.apply(operation)
    check_required(rt.id, patcher.doc)
    changed = changed_attributes(rt.id, document, patcher.doc)
    if patcher.member_changes:
        changed.append("members")
    return PatchOutcome(document=patcher.doc, member_changes=patcher.member_changes,
                        changed=changed, password_supplied=patcher.password_supplied)


def _type_eq(resource_type_name: str, parent: ResolvedAttr, flt: Filter) -> str | None:
    """The ``x`` of a filter that is exactly ``type eq "x"``, else None."""
    if isinstance(flt, Compare) and flt.op == "eq" and isinstance(flt.value, str):
        resolved = resolve(resource_type_name, flt.path, parent)
        if resolved is not None and resolved.sub is not None and resolved.sub.name == "type":
            return flt.value
    return None
