"""The Enterprise User extension, ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User``
(RFC 7643 §4.3, §8.7.1)."""

from __future__ import annotations

from domain.schema.model import COMPLEX, READ_ONLY, REFERENCE, STRING, AttributeDef, SchemaDef

ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

MANAGER = AttributeDef(
    name="manager",
    type=COMPLEX,
    description="The User's manager.",
    sub_attributes=(
        AttributeDef(name="value", type=STRING,
                     description="The id of the SCIM resource representing the User's manager."),
        AttributeDef(name="$ref", type=REFERENCE, reference_types=("User",),
                     description="The URI of the SCIM resource representing the User's manager."),
        AttributeDef(name="displayName", type=STRING, mutability=READ_ONLY,
                     description="The displayName of the User's manager."),
    ),
)

ENTERPRISE_USER = SchemaDef(
    id=ENTERPRISE_USER_SCHEMA,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        AttributeDef(name="employeeNumber", description="Numeric or alphanumeric identifier "
                     "assigned to a person, typically based on order of hire or association "
                     "with an organization."),
        AttributeDef(name="costCenter", description="Identifies the name of a cost center."),
        AttributeDef(name="organization", description="Identifies the name of an organization."),
        AttributeDef(name="division", description="Identifies the name of a division."),
        AttributeDef(name="department", description="Identifies the name of a department."),
        MANAGER,
    ),
)
