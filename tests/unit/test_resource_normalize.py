"""Input normalisation for POST and PUT: RFC 7643 §8 examples and real IdP bodies
(idp-traffic.md §2, §3, §5)."""

from __future__ import annotations

import pytest

from domain.errors import InvalidSyntax, InvalidValue, Mutability
from domain.resource import Normalized, coerce_value, normalize
from domain.schema.registry import resolve
from domain.filter.ast import AttrPath

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

OKTA_CREATE = {
    "schemas": [CORE],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}

ENTRA_CREATE = {
    "schemas": [CORE, ENT],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": True,
    "emails": [{"primary": True, "type": "work",
                "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}],
    "meta": {"resourceType": "User"},
    "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
    "roles": [],
}

# RFC 7643 §8.3 (abridged to what a client may write; id/meta/groups are readOnly).
RFC_ENTERPRISE_USER = {
    "schemas": [CORE, ENT],
    "id": "2819c223-7f76-453a-919d-413861904646",
    "externalId": "701984",
    "userName": "bjensen@example.com",
    "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
             "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
    "displayName": "Babs Jensen",
    "nickName": "Babs",
    "profileUrl": "https://login.example.com/bjensen",
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True},
               {"value": "babs@jensen.org", "type": "home"}],
    "addresses": [{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA",
                   "postalCode": "91608", "country": "USA",
                   "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                   "type": "work", "primary": True}],
    "phoneNumbers": [{"value": "555-555-5555", "type": "work"}, {"value": "555-555-4444", "type": "mobile"}],
    "ims": [{"value": "someaimhandle", "type": "aim"}],
    "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
    "userType": "Employee",
    "title": "Tour Guide",
    "preferredLanguage": "en-US",
    "locale": "en-US",
    "timezone": "America/Los_Angeles",
    "active": True,
    "password": "t1meMa$heen",
    "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
                "$ref": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
                "display": "Tour Guides"}],
    "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
    ENT: {
        "employeeNumber": "701984",
        "costCenter": "4130",
        "organization": "Universal Studios",
        "division": "Theme Park",
        "department": "Tour Operations",
        "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                    "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                    "displayName": "John Smith"},
    },
    "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
             "lastModified": "2011-05-13T04:42:34Z", "version": 'W/"3694e05e9dff591"',
             "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
}


def test_okta_create_with_password():
    out = normalize("User", OKTA_CREATE)
    assert isinstance(out, Normalized)
    assert out.password_supplied is True
    assert out.document == {
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "active": True,
    }
    assert "1mz050nq" not in repr(out)
    assert out.member_ids is None
    assert out.changed == ["userName", "name", "displayName", "locale", "active", "emails", "externalId"]


def test_okta_spec_test_create():
    body = {"schemas": [CORE], "userName": "u1", "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"primary": True, "value": "u1@x", "type": "work"}], "displayName": "G F", "active": True}
    assert normalize("User", body).document == {k: v for k, v in body.items() if k != "schemas"}


def test_entra_create():
    out = normalize("User", ENTRA_CREATE)
    assert "meta" not in out.document and "roles" not in out.document
    assert out.document["name"]["formatted"] == "givenName familyName"
    assert out.password_supplied is False


def test_rfc_enterprise_user():
    out = normalize("User", RFC_ENTERPRISE_USER)
    doc = out.document
    for dropped in ("id", "meta", "groups", "password", "schemas"):
        assert dropped not in doc
    assert doc[ENT]["manager"] == {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                                   "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"}
    assert doc[ENT]["costCenter"] == "4130"
    assert doc["addresses"][0]["primary"] is True
    assert doc["x509Certificates"] == RFC_ENTERPRISE_USER["x509Certificates"]
    assert out.password_supplied is True


def test_normalize_is_idempotent_on_its_output():
    first = normalize("User", RFC_ENTERPRISE_USER).document
    assert normalize("User", first).document == first


def test_canonical_spelling_whatever_the_case():
    out = normalize("User", {"schemas": [CORE.upper()], "USERNAME": "a", "Name": {"GIVENNAME": "g"},
                             "Emails": [{"VALUE": "a@x", "Type": "work"}],
                             ENT.lower(): {"Department": "d", "MANAGER": {"Value": "m"}}})
    assert out.document == {"userName": "a", "name": {"givenName": "g"},
                            "emails": [{"value": "a@x", "type": "work"}],
                            ENT: {"department": "d", "manager": {"value": "m"}}}


def test_extension_attributes_as_urn_qualified_and_dotted_keys():
    out = normalize("User", {"userName": "a", f"{ENT}:department": "d", "name.givenName": "g",
                             f"{CORE}:displayName": "D"})
    assert out.document == {"userName": "a", ENT: {"department": "d"}, "name": {"givenName": "g"},
                            "displayName": "D"}


def test_entra_manager_bare_string():
    out = normalize("User", {"schemas": [CORE, ENT], "userName": "a", ENT: {"manager": "boss-id"}})
    assert out.document[ENT] == {"manager": {"value": "boss-id"}}


@pytest.mark.parametrize("raw, expected", [("True", True), ("False", False), ("true", True),
                                           ("false", False), (True, True), (False, False)])
def test_string_booleans(raw, expected):
    assert normalize("User", {"userName": "a", "active": raw}).document["active"] is expected
    doc = normalize("User", {"userName": "a", "emails": [{"value": "x", "primary": raw}]}).document
    assert doc["emails"][0]["primary"] is expected


def test_onelogin_legacy_schemas_and_string_active():
    body = {"schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
            "userName": "jdoe@example.com", "active": "true",
            "urn:scim:schemas:extension:enterprise:2.0": {"department": "x"}}
    out = normalize("User", body)
    # The legacy enterprise URN means the Enterprise User extension: the admin's department is kept.
    assert out.document == {"userName": "jdoe@example.com", "active": True, ENT: {"department": "x"}}


def test_onelogin_scim11_enterprise_template_with_manager_id():
    body = {"schemas": ["urn:scim:schemas:core:1.0", "urn:scim:schemas:extension:enterprise:1.0"],
            "userName": "jdoe@example.com",
            "emails": {"value": "jdoe@example.com", "type": "work", "primary": True},
            "urn:scim:schemas:extension:enterprise:1.0": {"department": "R&D",
                                                          "manager": {"managerId": "m-1", "displayName": "Boss"}}}
    out = normalize("User", body)
    assert out.document == {"userName": "jdoe@example.com",
                            "emails": [{"value": "jdoe@example.com", "type": "work", "primary": True}],
                            ENT: {"department": "R&D", "manager": {"value": "m-1"}}}
    assert out.changed == ["userName", "emails", f"{ENT}:department", f"{ENT}:manager"]


def test_legacy_enterprise_urn_on_a_group_is_still_ignored():
    out = normalize("Group", {"schemas": [GROUP, "urn:scim:schemas:extension:enterprise:2.0"], "displayName": "g",
                              "urn:scim:schemas:extension:enterprise:2.0": {"department": "x"}})
    assert out.document == {"displayName": "g"}


def test_unknown_extension_listed_in_schemas_is_ignored():
    custom = "urn:example:params:scim:schemas:extension:custom:2.0:User"
    out = normalize("User", {"schemas": [CORE, custom], "userName": "a", custom: {"badge": "7"},
                             f"{custom}:costCode": "9"})
    assert out.document == {"userName": "a"}


def test_unknown_attribute_qualified_by_our_own_urn_is_rejected():
    with pytest.raises(InvalidValue):
        normalize("User", {"schemas": [CORE, ENT], "userName": "a", f"{CORE}:nope": "x"})
    with pytest.raises(InvalidValue):
        normalize("User", {"schemas": [CORE, ENT], "userName": "a", f"{ENT}:nope": "x"})


def test_non_urn_schema_uri_listed_is_ignored_as_a_key():
    ms = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
    out = normalize("Group", {"schemas": [GROUP, ms], "displayName": "g", ms: {"x": 1}})
    assert out.document == {"displayName": "g"}


def test_unknown_extension_not_listed_is_rejected():
    custom = "urn:example:params:scim:schemas:extension:custom:2.0:User"
    with pytest.raises(InvalidValue) as info:
        normalize("User", {"schemas": [CORE], "userName": "a", custom: {"badge": "7"}})
    assert custom in info.value.detail


def test_microsoft_group_schema_uri_is_tolerated():
    body = {"schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName",
            "meta": {"resourceType": "Group"}}
    out = normalize("Group", body)
    assert out.document == {"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName"}
    assert out.member_ids is None
    assert out.changed == ["displayName", "externalId"]


def test_schemas_missing_is_accepted():
    assert normalize("User", {"userName": "a"}).document == {"userName": "a"}


def test_okta_group_create_with_empty_members():
    out = normalize("Group", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})
    assert out.document == {"displayName": "Test SCIMv2"}
    assert out.member_ids == []
    assert out.changed == ["displayName"]


def test_group_members():
    out = normalize("Group", {"displayName": "T", "members": [
        {"value": "a", "display": "A", "$ref": "https://x/Users/a", "type": "User"},
        {"value": "b", "$ref": None},
        {"value": "a"},
    ]})
    assert out.member_ids == ["a", "b"]
    assert "members" not in out.document
    assert out.changed == ["displayName", "members"]
    assert normalize("Group", {"displayName": "T", "members": None}).member_ids == []


def test_group_put_with_members_reports_members_changed():
    out = normalize("Group", {"displayName": "T", "members": [{"value": "a"}]}, existing={"displayName": "T"})
    assert out.changed == ["members"]
    out = normalize("Group", {"displayName": "T"}, existing={"displayName": "T"})
    assert out.changed == [] and out.member_ids is None


@pytest.mark.parametrize(
    "members",
    [
        [{"value": "g", "type": "Group"}],
        [{"value": "g", "type": "group"}],
    ],
)
def test_nested_groups_refused(members):
    with pytest.raises(InvalidValue) as info:
        normalize("Group", {"displayName": "T", "members": members})
    assert "nested groups are not supported" in info.value.detail


@pytest.mark.parametrize(
    "members",
    [["a"], [{"display": "x"}], [{"value": 1}], [{"value": ""}], [{"value": "a", "weird": 1}],
     [{"value": "a", "$ref": 5}]],
)
def test_bad_members(members):
    with pytest.raises(InvalidValue):
        normalize("Group", {"displayName": "T", "members": members})


def test_multi_valued_single_object_is_wrapped():
    out = normalize("User", {"userName": "a", "emails": {"value": "a@x", "type": "work"}})
    assert out.document["emails"] == [{"value": "a@x", "type": "work"}]


def test_nulls_and_empty_lists_are_unassigned():
    out = normalize("User", {"userName": "a", "displayName": None, "emails": [], "name": {"givenName": None},
                             "phoneNumbers": [{"value": None}], ENT: {"manager": {"$ref": None}}})
    assert out.document == {"userName": "a"}


def test_read_only_attributes_are_ignored():
    out = normalize("User", {"userName": "a", "id": "x", "meta": {"created": "nonsense"},
                             "groups": [{"value": "g"}], ENT: {"manager": {"value": "m", "displayName": "M"}}})
    assert out.document == {"userName": "a", ENT: {"manager": {"value": "m"}}}


@pytest.mark.parametrize(
    "body, error",
    [
        ([], InvalidSyntax),
        ("text", InvalidSyntax),
        ({"schemas": CORE, "userName": "a"}, InvalidSyntax),
        ({"schemas": [CORE, 3], "userName": "a"}, InvalidSyntax),
        ({"schemas": [GROUP], "userName": "a"}, InvalidSyntax),
        ({"schemas": [CORE]}, InvalidValue),
        ({"userName": ""}, InvalidValue),
        ({"userName": "   "}, InvalidValue),
        ({"userName": 5}, InvalidValue),
        ({"userName": None}, InvalidValue),
        ({"userName": "a", "nickname2": "x"}, InvalidValue),
        ({"userName": "a", "name": {"nope": "x"}}, InvalidValue),
        ({"userName": "a", "name": "Barbara"}, InvalidValue),
        ({"userName": "a", "active": "yes"}, InvalidValue),
        ({"userName": "a", "active": 1}, InvalidValue),
        ({"userName": "a", "displayName": ["x"]}, InvalidValue),
        ({"userName": "a", "emails": ["a@x"]}, InvalidValue),
        ({"userName": "a", "emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": "True"}]},
         InvalidValue),
        ({"userName": "a", "x509Certificates": [{"value": "not base64!!"}]}, InvalidValue),
        ({"userName": "a", "password": 1234}, InvalidValue),
        ({"userName": "a", "username": "b"}, InvalidValue),
        ({"userName": "a", ENT: "flat"}, InvalidValue),
        ({"userName": "a", ENT: {"nope": 1}}, InvalidValue),
        ({"userName": "a", CORE: {"userName": "b"}}, InvalidValue),
        ({"userName": "a", "members": []}, InvalidValue),
    ],
)
def test_user_errors(body, error):
    with pytest.raises(error) as info:
        normalize("User", body)
    assert info.value.status == 400


def test_unknown_attribute_detail_names_it():
    with pytest.raises(InvalidValue) as info:
        normalize("User", {"userName": "a", "favouriteColour": "blue"})
    assert "favouriteColour" in info.value.detail


@pytest.mark.parametrize("body", [{"displayName": ""}, {}, {"displayName": 3}, {"displayName": "x", "userName": "y"}])
def test_group_errors(body):
    with pytest.raises(InvalidValue):
        normalize("Group", body)


def test_put_reports_changed_attributes():
    existing = normalize("User", OKTA_CREATE).document
    body = dict(OKTA_CREATE, name={"givenName": "Another", "middleName": "Excited", "familyName": "User"},
                id="23a35c27-23d3-4c03-b4c5-6443c09e7173", meta={"resourceType": "User"})
    body["emails"] = [{"primary": True, "value": "test.user@okta.local", "type": "work",
                       "display": "test.user@okta.local"}]
    del body["password"]
    out = normalize("User", body, existing=existing)
    assert out.changed == ["name", "emails"]
    assert out.password_supplied is False


def test_put_extension_changes_are_named_with_their_urn():
    existing = {"userName": "a", ENT: {"department": "x"}}
    out = normalize("User", {"userName": "a", ENT: {"department": "y", "costCenter": "1"}}, existing=existing)
    assert out.changed == [f"{ENT}:costCenter", f"{ENT}:department"]
    out = normalize("User", {"userName": "a"}, existing=existing)
    assert out.changed == [f"{ENT}:department"]


def test_put_immutable_attribute():
    # No attribute stored in a User or Group document is immutable in the RFC schemas, so the
    # rule is exercised through a sub-attribute definition directly.
    members = resolve("Group", AttrPath(None, "members")).attr
    assert members.sub("value").mutability == "immutable"


def test_put_immutable_rule_with_a_patched_schema(monkeypatch):
    from domain.schema import user as user_schema
    from domain.schema.model import AttributeDef, SchemaDef
    from domain import resource as resource_module
    from domain.schema import registry

    immutable_user = SchemaDef(
        id=user_schema.USER.id, name="User", description="",
        attributes=tuple(
            AttributeDef(name=a.name, type=a.type, required=a.required, mutability="immutable")
            if a.name == "nickName" else a
            for a in user_schema.USER.attributes
        ),
    )
    monkeypatch.setitem(registry._SCHEMAS, CORE.lower(), immutable_user)
    assert resource_module.normalize("User", {"userName": "a", "nickName": "n"}, existing={"userName": "a"})
    assert resource_module.normalize("User", {"userName": "a", "nickName": "n"},
                                     existing={"userName": "a", "nickName": "n"})
    with pytest.raises(Mutability):
        resource_module.normalize("User", {"userName": "a", "nickName": "m"},
                                  existing={"userName": "a", "nickName": "n"})


@pytest.mark.parametrize(
    "value, ok",
    [("2011-05-13T04:42:34Z", True), ("2011-05-13T04:42:34.123+02:00", True), ("2011-05-13", False),
     ("yesterday", False), (20110513, False)],
)
def test_datetime_coercion(value, ok):
    last_modified = resolve("User", AttrPath(None, "meta", "lastModified")).leaf
    if ok:
        assert coerce_value(last_modified, value, name="meta.lastModified") == value
    else:
        with pytest.raises(InvalidValue):
            coerce_value(last_modified, value, name="meta.lastModified")


def test_random_bodies_only_raise_scim_errors():
    """Principle 6: whatever the body, a SCIM 4xx or a result, never another exception."""
    import random

    from domain.errors import ScimError
    from domain.resource import render

    keys = ["userName", "name", "name.givenName", "emails", "active", "members", "id", "meta", "groups",
            "displayName", ENT, f"{ENT}:manager", "manager", "password", "x509Certificates", "addresses",
            "schemas", "externalId", "nope", "value", "type", "primary", "$ref", "display"]

    def value(rng, depth=0):
        roll = rng.random()
        if depth > 2 or roll < 0.3:
            return rng.choice([None, True, False, "True", "x", "", 1, 1.5, "2020-01-01T00:00:00Z"])
        if roll < 0.6:
            return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(keys): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}

    rng = random.Random(11)
    for _ in range(3000):
        rt = rng.choice(["User", "Group"])
        body = {k: value(rng, 1) for k in rng.sample(keys, rng.randint(0, 6))}
        try:
            out = normalize(rt, body, existing=rng.choice([None, {"userName": "u", "displayName": "d"}]))
        except ScimError as error:
            assert 400 <= error.status < 500
            continue
        render(rt, out.document, id="1", meta={}, attributes=rng.choice([None, ["name.givenName", "emails"]]))


def test_nul_characters_are_refused_in_strings():
    """PostgreSQL cannot store U+0000; refusing it up front keeps one bad request from failing a batch."""
    with pytest.raises(InvalidValue, match="NUL"):
        normalize("User", {"userName": "a\u0000b"})
    with pytest.raises(InvalidValue, match="NUL"):
        normalize("Group", {"displayName": "x", "externalId": "\u0000"})


def test_nul_characters_are_refused_in_member_values():
    with pytest.raises(InvalidValue, match="NUL"):
        normalize("Group", {"displayName": "x", "members": [{"value": "a\u0000"}]})


def test_schemas_is_read_in_any_case_like_every_member_name():
    from domain.errors import InvalidSyntax

    assert normalize("User", {"SCHEMAS": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a"}).document == {
        "userName": "a"}
    with pytest.raises(InvalidSyntax):
        normalize("User", {"Schemas": "urn:ietf:params:scim:schemas:core:2.0:User", "userName": "a"})
    with pytest.raises(InvalidSyntax):
        normalize("User", {"Schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "userName": "a"})
