"""Schema, attribute and resource-type definitions (RFC 7643 §2, §6, §7) as data.

These are the single source of truth for validation, PATCH, output projection, filter
compilation and the ``/Schemas`` and ``/ResourceTypes`` discovery documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Attribute types (RFC 7643 §2.3).
STRING = "string"
BOOLEAN = "boolean"
DECIMAL = "decimal"
INTEGER = "integer"
DATETIME = "dateTime"
BINARY = "binary"
REFERENCE = "reference"
COMPLEX = "complex"

# mutability
READ_ONLY = "readOnly"
READ_WRITE = "readWrite"
IMMUTABLE = "immutable"
WRITE_ONLY = "writeOnly"

# returned
ALWAYS = "always"
NEVER = "never"
DEFAULT = "default"
REQUEST = "request"


@dataclass(frozen=True)
class AttributeDef:
    name: str
    type: str = STRING
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: str = READ_WRITE
    returned: str = DEFAULT
    uniqueness: str = "none"
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple["AttributeDef", ...] = ()

    def sub(self, name: str) -> "AttributeDef | None":
        """The sub-attribute called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        for candidate in self.sub_attributes:
            if candidate.name.lower() == lowered:
                return candidate
        return None


@dataclass(frozen=True)
class SchemaDef:
    id: str  # the schema URN
    name: str
    description: str
    attributes: tuple[AttributeDef, ...]

    def attribute(self, name: str) -> AttributeDef | None:
        lowered = name.lower()
        for candidate in self.attributes:
            if candidate.name.lower() == lowered:
                return candidate
        return None


@dataclass(frozen=True)
class SchemaExtensionRef:
    schema: str
    required: bool = False


@dataclass(frozen=True)
class ResourceTypeDef:
    id: str  # "User" / "Group"
    name: str
    endpoint: str  # "/Users"
    description: str
    schema: str  # core schema URN
    extensions: tuple[SchemaExtensionRef, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ResolvedAttr:
    """An ``AttrPath`` resolved against a resource type's schemas.

    ``schema`` is the URN the attribute belongs to (core or extension), ``attr`` its definition,
    ``sub`` the sub-attribute definition when the path names one. ``canonical`` gives the
    attribute's canonical spelling as a tuple of names, e.g. ``("name", "familyName")``; for an
    extension attribute the stored JSON nests it under the URN key, so ``json_keys`` is the key
    path inside the stored resource document (``(urn, "manager", "value")``).
    """

    schema: str
    attr: AttributeDef
    sub: AttributeDef | None
    canonical: tuple[str, ...]
    json_keys: tuple[str, ...]

    @property
    def leaf(self) -> AttributeDef:
        return self.sub or self.attr
