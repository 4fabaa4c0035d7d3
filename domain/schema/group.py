"""The core Group schema, ``urn:ietf:params:scim:schemas:core:2.0:Group`` (RFC 7643 §4.2, §8.7.1).

``displayName`` is required here (the RFC's schema representation says optional, but scimgate's
Teams need a name and Entra requires it); it is unique per organization, which we advertise as
``uniqueness: server``.
"""

from __future__ import annotations

from domain.schema.model import (
    COMPLEX,
    IMMUTABLE,
    REFERENCE,
    STRING,
    AttributeDef,
    SchemaDef,
)

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

MEMBERS = AttributeDef(
    name="members",
    type=COMPLEX,
    multi_valued=True,
    description="A list of members of the Group.",
    sub_attributes=(
        AttributeDef(name="value", type=STRING, mutability=IMMUTABLE,
                     description="Identifier of the member of this Group."),
        AttributeDef(name="$ref", type=REFERENCE, reference_types=("User", "Group"),
                     mutability=IMMUTABLE,
                     description="The URI corresponding to a SCIM resource that is a member "
                     "of this Group."),
        AttributeDef(name="display", type=STRING, mutability=IMMUTABLE,
                     description="A human-readable name, primarily used for display purposes."),
        AttributeDef(name="type", type=STRING, mutability=IMMUTABLE,
                     canonical_values=("User", "Group"),
                     description="A label indicating the type of resource, e.g., 'User' or "
                     "'Group'."),
    ),
)

GROUP = SchemaDef(
    id=GROUP_SCHEMA,
    name="Group",
    description="Group",
    attributes=(
        AttributeDef(name="displayName", type=STRING, required=True, uniqueness="server",
                     description="A human-readable name for the Group."),
        MEMBERS,
    ),
)
