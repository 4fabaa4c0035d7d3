"""Discovery documents: /Schemas, /ResourceTypes, /ServiceProviderConfig (RFC 7643 §5–§7)."""

from __future__ import annotations

import json

import pytest

from domain.schema.discovery import resource_types_document, schemas_document, service_provider_config

BASE = "https://scim.example.com/scim/v2/org1"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _by_id(docs):
    return {doc["id"]: doc for doc in docs}


def _attr(schema_doc, name):
    return next(a for a in schema_doc["attributes"] if a["name"] == name)


def test_schemas_document_lists_the_three_schemas():
    docs = schemas_document(BASE + "/")
    assert [d["id"] for d in docs] == [CORE, ENT, GROUP]
    for doc in docs:
        assert doc["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
        assert doc["meta"] == {"resourceType": "Schema", "location": f"{BASE}/Schemas/{doc['id']}"}
    json.dumps(docs)  # JSON-ready


def test_user_schema_username_as_rfc_and_entra_expect():
    user = _by_id(schemas_document(BASE))[CORE]
    assert user["name"] == "User"
    assert _attr(user, "userName") == {
        "name": "userName", "type": "string", "multiValued": False,
        "description": _attr(user, "userName")["description"], "required": True, "caseExact": False,
        "mutability": "readWrite", "returned": "default", "uniqueness": "server",
    }


def test_user_schema_attribute_list_and_characteristics():
    user = _by_id(schemas_document(BASE))[CORE]
    assert [a["name"] for a in user["attributes"]] == [
        "userName", "name", "displayName", "nickName", "profileUrl", "title", "userType",
        "preferredLanguage", "locale", "timezone", "active", "password", "emails", "phoneNumbers",
        "ims", "photos", "addresses", "groups", "entitlements", "roles", "x509Certificates"]
    password = _attr(user, "password")
    assert (password["mutability"], password["returned"]) == ("writeOnly", "never")
    emails = _attr(user, "emails")
    assert emails["multiValued"] is True and emails["type"] == "complex"
    assert "caseExact" not in emails and "uniqueness" not in emails
    assert [s["name"] for s in emails["subAttributes"]] == ["value", "display", "type", "primary"]
    assert next(s for s in emails["subAttributes"] if s["name"] == "type")["canonicalValues"] == ["work", "home", "other"]
    groups = _attr(user, "groups")
    assert groups["mutability"] == "readOnly"
    ref = next(s for s in groups["subAttributes"] if s["name"] == "$ref")
    assert ref["referenceTypes"] == ["User", "Group"]
    assert _attr(user, "profileUrl")["referenceTypes"] == ["external"]
    x509 = _attr(user, "x509Certificates")
    assert next(s for s in x509["subAttributes"] if s["name"] == "value")["type"] == "binary"


def test_enterprise_and_group_schemas():
    docs = _by_id(schemas_document(BASE))
    manager = _attr(docs[ENT], "manager")
    assert [(s["name"], s["mutability"]) for s in manager["subAttributes"]] == [
        ("value", "readWrite"), ("$ref", "readWrite"), ("displayName", "readOnly")]
    group = docs[GROUP]
    assert _attr(group, "displayName")["required"] is True
    members = _attr(group, "members")
    assert {s["name"]: s["mutability"] for s in members["subAttributes"]}["value"] == "immutable"
    assert next(s for s in members["subAttributes"] if s["name"] == "type")["canonicalValues"] == ["User", "Group"]


def test_every_attribute_has_the_rfc_keys():
    def walk(attrs):
        for attr in attrs:
            for key in ("name", "type", "multiValued", "description", "required", "mutability", "returned"):
                assert key in attr, (attr["name"], key)
            if attr["type"] == "complex":
                walk(attr["subAttributes"])
            else:
                assert "caseExact" in attr and "uniqueness" in attr

    for doc in schemas_document(BASE):
        walk(doc["attributes"])


def test_resource_types_document():
    docs = _by_id(resource_types_document(BASE))
    assert docs["User"] == {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
        "schema": CORE, "schemaExtensions": [{"schema": ENT, "required": False}],
        "meta": {"resourceType": "ResourceType", "location": f"{BASE}/ResourceTypes/User"},
    }
    assert docs["Group"]["endpoint"] == "/Groups"
    assert docs["Group"]["schema"] == GROUP
    assert "schemaExtensions" not in docs["Group"]


@pytest.mark.parametrize("etag, sort, bulk", [(True, True, False), (False, False, True)])
def test_service_provider_config(etag, sort, bulk):
    doc = service_provider_config(BASE, bulk_supported=bulk, max_operations=1000, max_payload_size=1048576,
                                  filter_max_results=200, sort_supported=sort, etag_supported=etag)
    assert doc["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert doc["patch"] == {"supported": True}
    assert doc["bulk"] == {"supported": bulk, "maxOperations": 1000, "maxPayloadSize": 1048576}
    assert doc["filter"] == {"supported": True, "maxResults": 200}
    assert doc["changePassword"] == {"supported": False}
    assert doc["sort"] == {"supported": sort}
    assert doc["etag"] == {"supported": etag}
    [scheme] = doc["authenticationSchemes"]
    assert scheme["type"] == "oauthbearertoken" and scheme["primary"] is True
    assert scheme["name"] and scheme["description"]
    assert doc["meta"] == {"resourceType": "ServiceProviderConfig", "location": f"{BASE}/ServiceProviderConfig"}
    assert "documentationUri" not in doc


def test_service_provider_config_options():
    doc = service_provider_config(BASE, patch=False, bulk_supported=False, max_operations=0, max_payload_size=1,
                                  filter_max_results=1, sort_supported=False, etag_supported=False,
                                  change_password=True, documentation_uri="https://docs.example.com/scim")
    assert doc["patch"] == {"supported": False}
    assert doc["changePassword"] == {"supported": True}
    assert doc["documentationUri"] == "https://docs.example.com/scim"
