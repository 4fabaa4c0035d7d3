"""The schema registry: resource types, schema lookup and attribute-path resolution."""

from __future__ import annotations

import pytest

from domain.filter.ast import AttrPath
from domain.schema import registry
from domain.schema.model import (
    ALWAYS,
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    IMMUTABLE,
    NEVER,
    READ_ONLY,
    REFERENCE,
    WRITE_ONLY,
)
from domain.schema.registry import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    resolve,
    resource_type,
    schemas_for,
    split_urn,
)

CORE = USER_SCHEMA
ENT = ENTERPRISE_USER_SCHEMA


def test_urn_constants():
    assert USER_SCHEMA == "urn:ietf:params:scim:schemas:core:2.0:User"
    assert ENTERPRISE_USER_SCHEMA == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert GROUP_SCHEMA == "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_resource_types():
    assert registry.USER.endpoint == "/Users"
    assert registry.USER.schema == USER_SCHEMA
    assert [(e.schema, e.required) for e in registry.USER.extensions] == [(ENT, False)]
    assert registry.GROUP.endpoint == "/Groups"
    assert registry.GROUP.extensions == ()
    assert resource_type("user") is registry.USER
    assert resource_type("GROUP") is registry.GROUP
    with pytest.raises(KeyError):
        resource_type("Device")


def test_schemas_for():
    assert [s.id for s in schemas_for("User")] == [USER_SCHEMA, ENT]
    assert [s.id for s in schemas_for("Group")] == [GROUP_SCHEMA]


@pytest.mark.parametrize(
    "rt, path, canonical, json_keys, schema",
    [
        ("User", AttrPath(None, "userName"), ("userName",), ("userName",), CORE),
        ("User", AttrPath(None, "USERNAME"), ("userName",), ("userName",), CORE),
        ("User", AttrPath(None, "name", "givenName"), ("name", "givenName"), ("name", "givenName"), CORE),
        ("User", AttrPath(None, "Name", "FAMILYNAME"), ("name", "familyName"), ("name", "familyName"), CORE),
        ("User", AttrPath(CORE, "name", "givenName"), ("name", "givenName"), ("name", "givenName"), CORE),
        ("User", AttrPath(CORE.lower(), "userName"), ("userName",), ("userName",), CORE),
        ("User", AttrPath(ENT, "manager"), ("manager",), (ENT, "manager"), ENT),
        ("User", AttrPath(ENT, "manager", "value"), ("manager", "value"), (ENT, "manager", "value"), ENT),
        ("User", AttrPath(ENT.upper(), "department"), ("department",), (ENT, "department"), ENT),
        ("User", AttrPath(None, "department"), ("department",), (ENT, "department"), ENT),
        ("User", AttrPath(None, "employeenumber"), ("employeeNumber",), (ENT, "employeeNumber"), ENT),
        ("User", AttrPath(None, "id"), ("id",), ("id",), CORE),
        ("User", AttrPath(None, "externalid"), ("externalId",), ("externalId",), CORE),
        ("User", AttrPath(CORE, "externalId"), ("externalId",), ("externalId",), CORE),
        ("User", AttrPath(None, "meta", "lastmodified"), ("meta", "lastModified"), ("meta", "lastModified"), CORE),
        ("User", AttrPath(None, "meta", "created"), ("meta", "created"), ("meta", "created"), CORE),
        ("User", AttrPath(None, "meta", "resourceType"), ("meta", "resourceType"), ("meta", "resourceType"), CORE),
        ("User", AttrPath(None, "meta", "location"), ("meta", "location"), ("meta", "location"), CORE),
        ("User", AttrPath(None, "meta", "version"), ("meta", "version"), ("meta", "version"), CORE),
        ("User", AttrPath(None, "emails", "value"), ("emails", "value"), ("emails", "value"), CORE),
        ("User", AttrPath(None, "x509certificates"), ("x509Certificates",), ("x509Certificates",), CORE),
        ("User", AttrPath(None, "groups", "$ref"), ("groups", "$ref"), ("groups", "$ref"), CORE),
        ("Group", AttrPath(None, "displayname"), ("displayName",), ("displayName",), GROUP_SCHEMA),
        ("Group", AttrPath(None, "members", "value"), ("members", "value"), ("members", "value"), GROUP_SCHEMA),
        ("Group", AttrPath(GROUP_SCHEMA, "members"), ("members",), ("members",), GROUP_SCHEMA),
        ("Group", AttrPath(None, "externalId"), ("externalId",), ("externalId",), GROUP_SCHEMA),
        ("Group", AttrPath(None, "meta", "lastModified"), ("meta", "lastModified"), ("meta", "lastModified"), GROUP_SCHEMA),
        # A URN or a sub-attribute left inside ``attr`` by a parser is folded.
        ("User", AttrPath(None, f"{ENT}:manager"), ("manager",), (ENT, "manager"), ENT),
        ("User", AttrPath(None, "name.givenName"), ("name", "givenName"), ("name", "givenName"), CORE),
        ("User", AttrPath(None, f"{CORE}:name.givenName"), ("name", "givenName"), ("name", "givenName"), CORE),
    ],
)
def test_resolve(rt, path, canonical, json_keys, schema):
    resolved = resolve(rt, path)
    assert resolved is not None
    assert resolved.canonical == canonical
    assert resolved.json_keys == json_keys
    assert resolved.schema == schema
    assert resolved.attr.name == canonical[0]
    assert (resolved.sub.name if resolved.sub else None) == (canonical[1] if len(canonical) > 1 else None)
    assert resolved.leaf.name == canonical[-1]


@pytest.mark.parametrize(
    "rt, path",
    [
        ("User", AttrPath(None, "nope")),
        ("User", AttrPath(None, "name", "nope")),
        ("User", AttrPath(None, "userName", "value")),  # sub-attribute of a simple attribute
        ("User", AttrPath(GROUP_SCHEMA, "displayName")),  # wrong resource type's URN
        ("User", AttrPath("urn:example:unknown", "userName")),
        ("User", AttrPath(ENT, "userName")),  # core attribute under the extension URN
        ("User", AttrPath(CORE, "department")),  # extension attribute under the core URN
        ("User", AttrPath(ENT, "id")),  # common attributes only under the core URN
        ("Group", AttrPath(None, "userName")),
        ("Group", AttrPath(None, "manager")),
        ("Group", AttrPath(ENT, "manager")),
        ("Device", AttrPath(None, "id")),
        ("User", AttrPath(None, "urn:example:unknown:thing")),
        ("User", AttrPath(None, "")),
    ],
)
def test_resolve_unknown(rt, path):
    assert resolve(rt, path) is None


@pytest.mark.parametrize(
    "rt, parent, path, canonical, json_keys",
    [
        ("User", AttrPath(None, "emails"), AttrPath(None, "type"), ("emails", "type"), ("emails", "type")),
        ("User", AttrPath(None, "emails"), AttrPath(None, "VALUE"), ("emails", "value"), ("emails", "value")),
        ("User", AttrPath(None, "emails"), AttrPath(None, "emails", "type"), ("emails", "type"), ("emails", "type")),
        ("User", AttrPath(None, "addresses"), AttrPath(None, "postalcode"), ("addresses", "postalCode"), ("addresses", "postalCode")),
        ("Group", AttrPath(None, "members"), AttrPath(None, "value"), ("members", "value"), ("members", "value")),
        ("Group", AttrPath(None, "members"), AttrPath(None, "$ref"), ("members", "$ref"), ("members", "$ref")),
        ("User", AttrPath(ENT, "manager"), AttrPath(None, "value"), ("manager", "value"), (ENT, "manager", "value")),
    ],
)
def test_resolve_relative(rt, parent, path, canonical, json_keys):
    parent_resolved = resolve(rt, parent)
    resolved = resolve(rt, path, parent_resolved)
    assert resolved is not None
    assert resolved.canonical == canonical
    assert resolved.json_keys == json_keys
    assert resolved.attr is parent_resolved.attr


@pytest.mark.parametrize(
    "parent, path",
    [
        (AttrPath(None, "emails"), AttrPath(None, "nope")),
        (AttrPath(None, "emails"), AttrPath(None, "phoneNumbers", "type")),
        (AttrPath(None, "emails", "value"), AttrPath(None, "type")),
        (AttrPath(None, "userName"), AttrPath(None, "type")),
    ],
)
def test_resolve_relative_unknown(parent, path):
    assert resolve("User", path, resolve("User", parent)) is None


def test_split_urn():
    assert split_urn("User", f"{CORE}:name.givenName") == (CORE, "name.givenName")
    assert split_urn("User", f"{ENT.lower()}:manager") == (ENT, "manager")
    assert split_urn("User", "name.givenName") == (None, "name.givenName")
    assert split_urn("Group", f"{ENT}:manager") == (None, f"{ENT}:manager")


def _attr(rt, *names):
    resolved = resolve(rt, AttrPath(None, names[0], names[1] if len(names) > 1 else None))
    return resolved.leaf


def test_user_characteristics_rfc7643():
    user_name = _attr("User", "userName")
    assert (user_name.required, user_name.case_exact, user_name.uniqueness) == (True, False, "server")
    assert _attr("User", "id").mutability == READ_ONLY
    assert _attr("User", "id").returned == ALWAYS
    assert _attr("User", "id").case_exact is True
    assert _attr("User", "externalId").case_exact is True
    assert _attr("User", "meta").mutability == READ_ONLY
    assert _attr("User", "meta", "lastModified").type == DATETIME
    assert _attr("User", "active").type == BOOLEAN
    assert _attr("User", "profileUrl").type == REFERENCE
    password = _attr("User", "password")
    assert (password.mutability, password.returned) == (WRITE_ONLY, NEVER)
    assert _attr("User", "groups").mutability == READ_ONLY
    assert _attr("User", "groups").multi_valued
    assert _attr("User", "groups", "$ref").reference_types == ("User", "Group")
    assert _attr("User", "x509Certificates", "value").type == BINARY
    assert _attr("User", "photos", "value").type == REFERENCE
    assert _attr("User", "emails", "type").canonical_values == ("work", "home", "other")
    assert _attr("User", "emails", "primary").type == BOOLEAN
    names = [a.name for a in _attr("User", "name").sub_attributes]
    assert names == ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"]
    addr = [a.name for a in _attr("User", "addresses").sub_attributes]
    assert addr == ["formatted", "streetAddress", "locality", "region", "postalCode", "country", "type", "primary"]
    for multi in ("emails", "phoneNumbers", "ims", "photos", "addresses", "groups", "entitlements",
                  "roles", "x509Certificates"):
        attr = _attr("User", multi)
        assert attr.multi_valued and attr.type == COMPLEX, multi


def test_enterprise_and_group_characteristics():
    manager = _attr("User", "manager")
    assert [s.name for s in manager.sub_attributes] == ["value", "$ref", "displayName"]
    assert manager.sub("displayName").mutability == READ_ONLY
    assert [a.name for a in schemas_for("User")[1].attributes] == [
        "employeeNumber", "costCenter", "organization", "division", "department", "manager"]
    assert _attr("Group", "displayName").required is True
    members = _attr("Group", "members")
    assert members.multi_valued
    assert members.sub("value").mutability == IMMUTABLE
    assert members.sub("type").canonical_values == ("User", "Group")
