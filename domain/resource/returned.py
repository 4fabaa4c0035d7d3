"""Whether an attribute is returned (RFC 7643 §2.4 ``returned``, RFC 7644 §3.4.2.5, §3.9): the
one home of that decision, for the renderer and for every caller that must know beforehand
(the ingress loads a Team's members or a User's groups only when they will be sent).

A request's ``attributes`` / ``excludedAttributes`` are resolved once per resource type
(``selection``) in every notation RFC 7644 §3.10 allows: plain names in any case, dotted
sub-attributes (``name.givenName``), URN-qualified names
(``urn:ietf:params:scim:schemas:core:2.0:User:userName``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``), a bare schema URN
(all of that schema's attributes), and the computed ``members`` / ``groups`` with their
sub-attributes. Names that resolve to nothing are ignored.

The rules: ``never`` (and writeOnly) attributes and sub-attributes are never sent, ``always``
ones always (neither list can remove ``id``); with ``attributes``, only the named attributes
(and the named sub-attributes of a complex one) are sent, ``request`` ones only when named;
with ``excludedAttributes``, everything but the named attributes and sub-attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidValue
from domain.limits import MAX_ATTRIBUTE_NAMES
from domain.schema.model import ALWAYS, NEVER, REQUEST, WRITE_ONLY, AttributeDef, ResolvedAttr
from domain.schema.registry import known_resource_type, resolve_key, resource_type, schema_of

__all__ = ["parse_attribute_list", "Selection", "selection", "is_requested", "Decision"]

#: Whether a top-level attribute is sent: False (not at all), True (with the sub-attributes
#: ``Selection.sub_returned`` admits) or a set (only these named sub-attributes, canonical names).
Decision = bool | set[str]


def parse_attribute_list(value: Any) -> list[str] | None:
    """The names of an ``attributes``/``excludedAttributes`` parameter; None when empty.

    A query parameter is one comma-separated string; a SearchRequest member is a list of
    strings (each may itself be comma-separated) or one string. Names are deduplicated
    case-insensitively, keeping the first spelling. Anything but strings is 400 invalidValue,
    and so are more than ``MAX_ATTRIBUTE_NAMES`` names (before deduplication: the list is what
    costs the work).
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = [part for item in value for part in item.split(",")]
    else:
        raise InvalidValue("'attributes' and 'excludedAttributes' must be strings (or a list of strings)")
    names: dict[str, str] = {}
    count = 0
    for part in parts:
        name = part.strip()
        if not name:
            continue
        count += 1
        if count > MAX_ATTRIBUTE_NAMES:
            raise InvalidValue(
                f"'attributes' and 'excludedAttributes' may name at most {MAX_ATTRIBUTE_NAMES} attributes"
            )
        names.setdefault(name.lower(), name)
    return list(names.values()) or None


@dataclass
class _Names:
    """Attribute names selected by a parameter: top-level key path → sub-attribute names
    (None for the whole attribute)."""

    entries: dict[tuple[str, ...], set[str] | None] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], sub: str | None) -> None:
        if sub is None:
            self.entries[key] = None
        elif key not in self.entries:
            self.entries[key] = {sub}
        elif self.entries[key] is not None:
            self.entries[key].add(sub)  # type: ignore[union-attr]


def top_key(resolved: ResolvedAttr) -> tuple[str, ...]:
    """The key path of the top-level attribute ``resolved`` is, or is a sub-attribute of:
    ``("name",)``, or ``(urn, "manager")`` for an extension attribute."""
    return resolved.json_keys[: len(resolved.json_keys) - (1 if resolved.sub else 0)]


def _names(resource_type_name: str, names: list[str] | None) -> _Names | None:
    if names is None:
        return None
    selected = _Names()
    rt = resource_type(resource_type_name)
    for name in names:
        whole = schema_of(rt.id, name)
        if whole is not None:  # a bare schema URN: every attribute of that schema
            for attr in whole.attributes:
                selected.add((attr.name,) if whole.id == rt.schema else (whole.id, attr.name), None)
            continue
        resolved = resolve_key(rt.id, name)
        if resolved is None:
            continue  # unknown names are ignored (liberal)
        selected.add(top_key(resolved), resolved.sub.name if resolved.sub else None)
    return selected


@dataclass(frozen=True)
class Selection:
    """The ``attributes``/``excludedAttributes`` of a request resolved against one resource
    type: built once per request (``selection``) and applied to every resource rendered."""

    resource_type: str
    include: _Names | None = None
    exclude: _Names | None = None

    def returns(self, name: str) -> bool:
        """Whether the top-level attribute ``name`` (any notation, e.g. ``members`` or
        ``urn:ietf:params:scim:schemas:core:2.0:Group:members``) is sent at all."""
        resolved = resolve_key(self.resource_type, name)
        if resolved is None:
            return False
        return self.decide(resolved.attr, top_key(resolved)) is not False

    def decide(self, attr: AttributeDef, key: tuple[str, ...]) -> Decision:
        """Whether the top-level attribute ``attr`` at ``key`` is sent (see ``Decision``)."""
        if attr.returned == NEVER or attr.mutability == WRITE_ONLY:
            return False
        if attr.returned == ALWAYS:
            return True
        if self.include is not None:
            if key not in self.include.entries:
                return False
            subs = self.include.entries[key]
            return True if subs is None else set(subs)
        if attr.returned == REQUEST:
            return False
        if self.exclude is not None and key in self.exclude.entries and self.exclude.entries[key] is None:
            return False
        return True

    def sub_returned(self, key: tuple[str, ...], decision: Decision) -> Callable[[AttributeDef], bool]:
        """Which sub-attributes of the complex attribute at ``key`` are sent, given its
        ``decision``: a test of one sub-attribute definition."""
        keep = decision if isinstance(decision, set) else None
        drop = None
        if self.include is None and self.exclude is not None:
            excluded = self.exclude.entries.get(key)
            drop = excluded if isinstance(excluded, set) else None

        def returned(sub: AttributeDef) -> bool:
            if sub.returned == NEVER or sub.mutability == WRITE_ONLY:
                return False
            if sub.returned == ALWAYS:
                return True
            if keep is not None and sub.name not in keep:
                return False
            if drop is not None and sub.name in drop:
                return False
            return sub.returned != REQUEST or (keep is not None and sub.name in keep)

        return returned


def selection(
    resource_type_name: str, attributes: list[str] | None = None, excluded_attributes: list[str] | None = None
) -> Selection:
    """Resolve the names of ``attributes``/``excludedAttributes`` for ``resource_type_name``."""
    rt = known_resource_type(resource_type_name)
    return Selection(rt.id, _names(rt.id, attributes), _names(rt.id, excluded_attributes))


def is_requested(
    resource_type: str,
    name: str,
    attributes: list[str] | None = None,
    excluded_attributes: list[str] | None = None,
    *,
    selected: Selection | None = None,
) -> bool:
    """Whether top-level attribute ``name`` (e.g. ``members``) would appear in the rendered
    resource, so callers can skip loading what would not be sent."""
    chosen = selected or selection(resource_type, attributes, excluded_attributes)
    return chosen.returns(name)
