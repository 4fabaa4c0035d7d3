"""The core User schema, ``urn:ietf:params:scim:schemas:core:2.0:User`` (RFC 7643 §4.1, §8.7.1).

Every attribute and sub-attribute with the characteristics the RFC's schema representation
gives it. ``addresses`` also carries ``primary`` (RFC 7643 §4.1.2 defines it for every
multi-valued attribute, although §8.7.1 omits it from the address sub-attributes).
"""

from __future__ import annotations

from domain.schema.model import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    NEVER,
    READ_ONLY,
    REFERENCE,
    STRING,
    WRITE_ONLY,
    AttributeDef,
    SchemaDef,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def _string(name: str, description: str = "", **kwargs) -> AttributeDef:
    return AttributeDef(name=name, type=STRING, description=description, **kwargs)


def _primary() -> AttributeDef:
    return AttributeDef(
        name="primary",
        type=BOOLEAN,
        description="A Boolean value indicating the 'primary' or preferred attribute value for "
        "this attribute. The primary attribute value 'true' MUST appear no more than once.",
    )


def _multi_valued(
    name: str,
    description: str,
    *,
    types: tuple[str, ...],
    value_type: str = STRING,
    value_reference_types: tuple[str, ...] = (),
) -> AttributeDef:
    """A multi-valued complex attribute of the common ``value/display/type/primary`` shape."""
    return AttributeDef(
        name=name,
        type=COMPLEX,
        multi_valued=True,
        description=description,
        sub_attributes=(
            AttributeDef(
                name="value",
                type=value_type,
                description=f"The value of the {name} attribute.",
                reference_types=value_reference_types,
            ),
            _string("display", "A human-readable name, primarily used for display purposes."),
            _string("type", "A label indicating the attribute's function.", canonical_values=types),
            _primary(),
        ),
    )


NAME = AttributeDef(
    name="name",
    type=COMPLEX,
    description="The components of the user's real name.",
    sub_attributes=(
        _string("formatted", "The full name, including all middle names, titles, and suffixes "
                "as appropriate, formatted for display."),
        _string("familyName", "The family name of the User, or last name."),
        _string("givenName", "The given name of the User, or first name."),
        _string("middleName", "The middle name(s) of the User."),
        _string("honorificPrefix", "The honorific prefix(es) of the User, or title."),
        _string("honorificSuffix", "The honorific suffix(es) of the User, or suffix."),
    ),
)

ADDRESSES = AttributeDef(
    name="addresses",
    type=COMPLEX,
    multi_valued=True,
    description="A physical mailing address for this User.",
    sub_attributes=(
        _string("formatted", "The full mailing address, formatted for display or use with a "
                "mailing label."),
        _string("streetAddress", "The full street address component."),
        _string("locality", "The city or locality component."),
        _string("region", "The state or region component."),
        _string("postalCode", "The zip code or postal code component."),
        _string("country", "The country name component."),
        _string("type", "A label indicating the attribute's function.",
                canonical_values=("work", "home", "other")),
        _primary(),
    ),
)

GROUPS = AttributeDef(
    name="groups",
    type=COMPLEX,
    multi_valued=True,
    mutability=READ_ONLY,
    description="A list of groups to which the user belongs, either through direct membership, "
    "through nested groups, or dynamically calculated.",
    sub_attributes=(
        _string("value", "The identifier of the User's group.", mutability=READ_ONLY),
        AttributeDef(
            name="$ref",
            type=REFERENCE,
            reference_types=("User", "Group"),
            mutability=READ_ONLY,
            description="The URI of the corresponding 'Group' resource to which the user belongs.",
        ),
        _string("display", "A human-readable name, primarily used for display purposes.",
                mutability=READ_ONLY),
        _string("type", "A label indicating the attribute's function.",
                canonical_values=("direct", "indirect"), mutability=READ_ONLY),
    ),
)

USER = SchemaDef(
    id=USER_SCHEMA,
    name="User",
    description="User Account",
    attributes=(
        _string("userName", "Unique identifier for the User, typically used by the user to "
                "directly authenticate to the service provider.", required=True,
                uniqueness="server"),
        NAME,
        _string("displayName", "The name of the User, suitable for display to end-users."),
        _string("nickName", "The casual way to address the user in real life."),
        AttributeDef(name="profileUrl", type=REFERENCE, reference_types=("external",),
                     description="A fully qualified URL pointing to a page representing the "
                     "User's online profile."),
        _string("title", "The user's title, such as \"Vice President\"."),
        _string("userType", "Used to identify the relationship between the organization and "
                "the user."),
        _string("preferredLanguage", "Indicates the User's preferred written or spoken language."),
        _string("locale", "Used to indicate the User's default location for purposes of "
                "localizing items such as currency, date time format, or numerical "
                "representations."),
        _string("timezone", "The User's time zone in the 'Olson' time zone database format, "
                "e.g., 'America/Los_Angeles'."),
        AttributeDef(name="active", type=BOOLEAN,
                     description="A Boolean value indicating the User's administrative status."),
        _string("password", "The User's cleartext password.", mutability=WRITE_ONLY,
                returned=NEVER),
        _multi_valued("emails", "Email addresses for the user.", types=("work", "home", "other")),
        _multi_valued("phoneNumbers", "Phone numbers for the User.",
                      types=("work", "home", "mobile", "fax", "pager", "other")),
        _multi_valued("ims", "Instant messaging addresses for the User.",
                      types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
        _multi_valued("photos", "URLs of photos of the User.", types=("photo", "thumbnail"),
                      value_type=REFERENCE, value_reference_types=("external",)),
        ADDRESSES,
        GROUPS,
        _multi_valued("entitlements", "A list of entitlements for the User that represent a "
                      "thing the User has.", types=()),
        _multi_valued("roles", "A list of roles for the User that collectively represent who "
                      "the User is.", types=()),
        _multi_valued("x509Certificates", "A list of certificates issued to the User.",
                      types=(), value_type=BINARY),
    ),
)
