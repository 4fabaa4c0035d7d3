"""The PATCH engine: RFC 7644 §3.5.2 examples and the verbatim Okta / Entra bodies of
idp-traffic.md §2, §3."""

from __future__ import annotations

import copy

import pytest

from domain.errors import InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget
from domain.filter.ast import And, AttrPath, Compare, PatchPath
from domain.patch import (
    MemberChange,
    PatchOperation,
    apply_patch,
    parse_patch_request,
)

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_ID = "23a35c27-23d3-4c03-b4c5-6443c09e7173"
GROUP_ID = "abf4dd94-a4c0-4f67-89c9-76b03340cb9b"


def body(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def patch_user(document: dict, *operations: dict):
    return apply_patch("User", document, parse_patch_request(body(*operations)), resource_id=USER_ID)


def patch_group(document: dict, *operations: dict):
    return apply_patch("Group", document, parse_patch_request(body(*operations)), resource_id=GROUP_ID)


def base_user() -> dict:
    return {
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "active": True,
    }


def base_group() -> dict:
    return {"displayName": "Test SCIMv2"}


# ---------------------------------------------------------------------------------------------
# parse_patch_request
# ---------------------------------------------------------------------------------------------


def test_parse_capitalised_ops_and_paths():
    ops = parse_patch_request(body(
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "REPLACE", "path": "name.familyName", "value": "x"},
        {"op": "Remove", "path": 'emails[type eq "work"]'},
    ))
    assert [o.op for o in ops] == ["add", "replace", "remove"]
    assert ops[0].path == PatchPath(AttrPath(None, "nickName"))
    assert ops[1].path == PatchPath(AttrPath(None, "name", "familyName"))
    assert ops[2].path.value_filter == Compare(AttrPath(None, "type"), "eq", "work")
    assert ops[2].has_value is False
    assert ops[0].path_text == "nickName"


def test_parse_schemas_missing_is_accepted():
    ops = parse_patch_request({"Operations": [{"op": "replace", "value": {"active": False}}]})
    assert ops[0].path is None and ops[0].value == {"active": False}


def test_parse_member_names_case_insensitive():
    ops = parse_patch_request({"schemas": [PATCH_OP], "operations": [{"OP": "add", "Path": "title", "Value": "x"}]})
    assert ops[0].op == "add" and ops[0].value == "x"


def test_parse_empty_path_means_pathless():
    ops = parse_patch_request(body({"op": "replace", "path": "", "value": {"active": True}}))
    assert ops[0].path is None


@pytest.mark.parametrize(
    "raw, error",
    [
        ([], InvalidSyntax),
        ("nope", InvalidSyntax),
        ({"schemas": PATCH_OP, "Operations": [{"op": "add", "value": {}}]}, InvalidSyntax),
        ({"schemas": [1], "Operations": [{"op": "add", "value": {}}]}, InvalidSyntax),
        ({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Operations": [{"op": "add", "value": {}}]}, InvalidSyntax),
        ({"schemas": [PATCH_OP]}, InvalidSyntax),
        ({"schemas": [PATCH_OP], "Operations": []}, InvalidSyntax),
        ({"schemas": [PATCH_OP], "Operations": {"op": "add"}}, InvalidSyntax),
        (body("add"), InvalidSyntax),
        (body({"op": "merge", "path": "title", "value": "x"}), InvalidSyntax),
        (body({"path": "title", "value": "x"}), InvalidSyntax),
        (body({"op": 3, "path": "title", "value": "x"}), InvalidSyntax),
        (body({"op": "remove"}), NoTarget),
        (body({"op": "Remove", "value": [{"value": "x"}]}), NoTarget),
        (body({"op": "add", "path": "title"}), InvalidSyntax),
        (body({"op": "replace", "path": "title"}), InvalidSyntax),
        (body({"op": "replace"}), InvalidSyntax),
        (body({"op": "replace", "path": 5, "value": "x"}), InvalidPath),
        (body({"op": "replace", "path": "emails[type eq", "value": "x"}), InvalidPath),
    ],
)
def test_parse_errors(raw, error):
    with pytest.raises(error) as info:
        parse_patch_request(raw)
    assert info.value.status == 400


# ---------------------------------------------------------------------------------------------
# Okta (idp-traffic.md §2)
# ---------------------------------------------------------------------------------------------


def test_okta_deactivate_pathless_replace():
    out = patch_user(base_user(), {"op": "replace", "value": {"active": False}})
    assert out.document["active"] is False
    assert out.changed == ["active"]
    assert out.member_changes == []


def test_okta_reactivate():
    user = base_user() | {"active": False}
    assert patch_user(user, {"op": "replace", "value": {"active": True}}).document["active"] is True


def test_okta_group_rename_with_own_id():
    out = patch_group(base_group(), {"op": "replace", "value": {"id": GROUP_ID, "displayName": "Renamed"}})
    assert out.document == {"displayName": "Renamed"}
    assert out.changed == ["displayName"]


def test_okta_group_rename_same_name_is_no_change():
    out = patch_group(base_group(), {"op": "replace", "value": {"id": GROUP_ID, "displayName": "Test SCIMv2"}})
    assert out.document == base_group()
    assert out.changed == []


def test_okta_group_rename_with_other_id_is_mutability():
    with pytest.raises(Mutability):
        patch_group(base_group(), {"op": "replace", "value": {"id": "someone-else", "displayName": "x"}})


def test_okta_membership_change():
    out = patch_group(
        base_group(),
        {"op": "remove", "path": 'members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]'},
        {"op": "add", "path": "members", "value": [
            {"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"}]},
    )
    assert out.member_changes == [
        MemberChange("remove", ("89bb1940-b905-4575-9e7f-6f887cfb368e",)),
        MemberChange("add", ("23a35c27-23d3-4c03-b4c5-6443c09e7173",),
                     displays=(("23a35c27-23d3-4c03-b4c5-6443c09e7173", "test.user@okta.local"),)),
    ]
    assert out.document == base_group()
    assert "members" not in out.document
    assert out.changed == ["members"]


def test_okta_full_membership_push():
    out = patch_group(base_group(), {"op": "replace", "path": "members", "value": [
        {"value": "23a35c27-23d3-4c03-b4c5-6443c09e7173", "display": "test.user@okta.local"},
        {"value": "89bb1940-b905-4575-9e7f-6f887cfb368e", "display": "test.user@okta.local"},
    ]})
    assert out.member_changes == [MemberChange(
        "replace", ("23a35c27-23d3-4c03-b4c5-6443c09e7173", "89bb1940-b905-4575-9e7f-6f887cfb368e"),
        displays=(("23a35c27-23d3-4c03-b4c5-6443c09e7173", "test.user@okta.local"),
                  ("89bb1940-b905-4575-9e7f-6f887cfb368e", "test.user@okta.local")))]


def test_password_is_dropped_and_flagged():
    out = patch_user(base_user(), {"op": "replace", "value": {"password": "1mz050nq"}})
    assert out.password_supplied is True
    assert "password" not in out.document
    assert out.changed == []
    out = patch_user(base_user(), {"op": "replace", "path": "password", "value": "s3cret"})
    assert out.password_supplied is True
    assert "s3cret" not in repr(out)


# ---------------------------------------------------------------------------------------------
# Entra (idp-traffic.md §3)
# ---------------------------------------------------------------------------------------------


def test_entra_replace_work_email_and_family_name():
    user = base_user()
    out = patch_user(
        user,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    )
    assert out.document["emails"] == [{"primary": True, "value": "updatedEmail@microsoft.com", "type": "work"}]
    assert out.document["name"] == {"givenName": "Test", "familyName": "updatedFamilyName"}
    assert out.changed == ["name", "emails"]
    assert user == base_user()


def test_entra_replace_work_email_when_user_has_none_adds_it():
    user = base_user() | {"emails": [{"value": "h@example.com", "type": "home"}]}
    out = patch_user(user, {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w@example.com"})
    assert out.document["emails"] == [
        {"value": "h@example.com", "type": "home"},
        {"type": "work", "value": "w@example.com"},
    ]


def test_entra_add_work_email_when_user_has_no_emails():
    user = base_user()
    del user["emails"]
    out = patch_user(user, {"op": "Add", "path": 'emails[type eq "work"].value', "value": "w@example.com"})
    assert out.document["emails"] == [{"type": "work", "value": "w@example.com"}]


def test_filtered_replace_without_type_eq_and_no_match_is_no_target():
    with pytest.raises(NoTarget):
        patch_user(base_user(), {"op": "replace", "path": 'emails[value eq "nobody@x"].type', "value": "home"})
    with pytest.raises(NoTarget):
        patch_user(base_user(), {"op": "replace", "path": 'emails[type eq "home" and primary eq true].value', "value": "x"})


def test_entra_other_default_paths():
    out = patch_user(
        base_user(),
        {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
        {"op": "Replace", "path": 'addresses[type eq "work"].postalCode', "value": "98052"},
        {"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
        {"op": "Replace", "path": "externalId", "value": "jyoung"},
        {"op": "Replace", "path": f"{ENT}:employeeNumber", "value": "42"},
        {"op": "Add", "path": f"{ENT}:department", "value": "Sales"},
    )
    doc = out.document
    assert doc["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert doc["addresses"] == [{"type": "work", "postalCode": "98052"}]
    assert doc["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    assert doc["externalId"] == "jyoung"
    assert doc[ENT] == {"employeeNumber": "42", "department": "Sales"}
    assert out.changed == ["userName", "phoneNumbers", "addresses", "externalId",
                           f"{ENT}:employeeNumber", f"{ENT}:department"]


@pytest.mark.parametrize("value, expected", [("False", False), ("false", False), ("True", True),
                                             ("true", True), (False, False), (True, True)])
def test_entra_string_booleans(value, expected):
    user = base_user() | {"active": not expected}
    out = patch_user(user, {"op": "Replace", "path": "active", "value": value})
    assert out.document["active"] is expected


def test_string_boolean_that_is_not_a_boolean():
    with pytest.raises(InvalidValue):
        patch_user(base_user(), {"op": "Replace", "path": "active", "value": "yes"})


def test_entra_flagged_pathless_replace_with_dotted_and_urn_keys():
    out = patch_user(
        base_user(),
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "TestMhvaes@test.microsoft.com"},
        {"op": "replace", "value": {
            "displayName": "Bjfe",
            "name.givenName": "Kkom",
            "name.familyName": "Unua",
            f"{ENT}:employeeNumber": "Aklq",
        }},
    )
    doc = out.document
    assert doc["displayName"] == "Bjfe"
    assert doc["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert doc[ENT] == {"employeeNumber": "Aklq"}
    assert doc["emails"][0]["value"] == "TestMhvaes@test.microsoft.com"


def test_entra_pathless_value_with_filtered_path_keys():
    user = base_user()
    user["emails"] = [{"value": "home@example.com", "type": "home"}]
    out = patch_user(user, {"op": "Replace", "value": {
        'emails[type eq "work"].value': "work@example.com",
        'phoneNumbers[type eq "mobile"].value': "+1 555 0100",
        "name.givenName": "Kkom",
    }})
    doc = out.document
    assert doc["emails"] == [{"value": "home@example.com", "type": "home"},
                             {"type": "work", "value": "work@example.com"}]
    assert doc["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert doc["name"]["givenName"] == "Kkom"
    # Applied again: same document (idempotent).
    assert patch_user(doc, {"op": "replace", "value": {'emails[type eq "work"].value': "work@example.com"}}
                      ).document == doc


def test_pathless_value_with_malformed_filtered_key_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_user(base_user(), {"op": "replace", "value": {'emails[type eq "work".value': "x"}})
    with pytest.raises(InvalidPath):
        patch_user(base_user(), {"op": "replace", "value": {'nope[type eq "work"].value': "x"}})


def test_entra_urn_key_department_and_manager_pathless():
    out = patch_user(base_user(), {"op": "replace", "value": {
        f"{ENT}:department": "Eng", f"{ENT}:manager": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}})
    assert out.document[ENT] == {"department": "Eng", "manager": {"value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}}


def test_entra_manager_bare_string_path():
    out = patch_user(base_user(), {"op": "add", "path": f"{ENT}:manager",
                                   "value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"})
    assert out.document[ENT] == {"manager": {"value": "2c2f6fb8-254f-492e-b7fe-c09c5a61c8a2"}}
    assert out.changed == [f"{ENT}:manager"]


def test_entra_manager_documented_list_form():
    out = patch_user(base_user(), {"op": "Add", "path": "manager", "value": [
        {"$ref": "http://example.com/scim/Users/00aa00aa", "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"}]})
    assert out.document[ENT]["manager"] == {"$ref": "http://example.com/scim/Users/00aa00aa",
                                             "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"}


def test_manager_display_name_is_read_only():
    with pytest.raises(Mutability):
        patch_user(base_user(), {"op": "replace", "path": f"{ENT}:manager.displayName", "value": "Boss"})
    # inside a complex value it is dropped like on POST
    out = patch_user(base_user(), {"op": "replace", "path": f"{ENT}:manager",
                                   "value": {"value": "m1", "displayName": "Boss"}})
    assert out.document[ENT]["manager"] == {"value": "m1"}


def test_entra_add_members_with_null_ref():
    out = patch_group(base_group(), {"op": "Add", "path": "members",
                                     "value": [{"$ref": None, "value": "f648f8d5ea4e4cd38e9c"}]})
    assert out.member_changes == [MemberChange("add", ("f648f8d5ea4e4cd38e9c",))]


def test_entra_remove_members_with_value_array_removes_only_those():
    out = patch_group(base_group(), {"op": "Remove", "path": "members",
                                     "value": [{"$ref": None, "value": "f648f8d5ea4e4cd38e9c"}]})
    assert out.member_changes == [MemberChange("remove", ("f648f8d5ea4e4cd38e9c",))]
    out = patch_group(base_group(), {"op": "Remove", "path": "members", "value": [{"value": "u1091"}]})
    assert out.member_changes == [MemberChange("remove", ("u1091",))]


def test_entra_flagged_remove_member_filter():
    out = patch_group(base_group(), {"op": "remove",
                                     "path": 'members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]'})
    assert out.member_changes == [MemberChange("remove", ("7f4bc1a3-285e-48ae-8202-5accb43efb0e",))]


def test_entra_group_rename_path():
    out = patch_group(base_group(), {"op": "Replace", "path": "displayName",
                                     "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"})
    assert out.document["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"


def test_entra_add_single_value_nickname():
    assert patch_user(base_user(), {"op": "Add", "path": "nickName", "value": "Babs"}).document["nickName"] == "Babs"


# ---------------------------------------------------------------------------------------------
# Group members
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation, expected",
    [
        ({"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "a"}]},
         [MemberChange("add", ("a", "b"))]),
        ({"op": "add", "path": "members", "value": {"value": "a"}}, [MemberChange("add", ("a",))]),
        ({"op": "add", "path": "members", "value": []}, []),
        ({"op": "add", "value": {"members": [{"value": "a"}]}}, [MemberChange("add", ("a",))]),
        ({"op": "replace", "value": {"members": [{"value": "a"}]}}, [MemberChange("replace", ("a",))]),
        ({"op": "replace", "path": "members", "value": []}, [MemberChange("replace", ())]),
        ({"op": "replace", "path": "members", "value": None}, [MemberChange("replace", ())]),
        ({"op": "remove", "path": "members"}, [MemberChange("remove_all")]),
        ({"op": "remove", "path": "MEMBERS"}, [MemberChange("remove_all")]),
        ({"op": "remove", "path": 'members[value eq "a" or value eq "b"]'}, [MemberChange("remove", ("a", "b"))]),
        ({"op": "remove", "path": 'members[VALUE eq "a"]'}, [MemberChange("remove", ("a",))]),
        ({"op": "remove", "path": 'urn:ietf:params:scim:schemas:core:2.0:Group:members[value eq "a"]'},
         [MemberChange("remove", ("a",))]),
        ({"op": "add", "path": "members", "value": [{"value": "a", "type": "User", "$ref": "https://x/Users/a"}]},
         [MemberChange("add", ("a",))]),
    ],
)
def test_member_changes(operation, expected):
    group = base_group()
    out = patch_group(group, operation)
    assert out.member_changes == expected
    assert out.document == group
    assert out.changed == (["members"] if expected else [])


def test_member_remove_with_non_value_filter_goes_to_store():
    out = patch_group(base_group(), {"op": "remove", "path": 'members[display sw "test"]'})
    [change] = out.member_changes
    assert change.kind == "remove" and change.ids == ()
    assert change.filter == Compare(AttrPath(None, "display"), "sw", "test")
    out = patch_group(base_group(), {"op": "remove", "path": 'members[value eq "a" and type eq "User"]'})
    assert out.member_changes[0].filter == And(Compare(AttrPath(None, "value"), "eq", "a"),
                                               Compare(AttrPath(None, "type"), "eq", "User"))


@pytest.mark.parametrize(
    "operation, error",
    [
        ({"op": "add", "path": "members", "value": [{"value": "g2", "type": "Group"}]}, InvalidValue),
        ({"op": "replace", "path": "members", "value": [{"value": "g2", "type": "group"}]}, InvalidValue),
        ({"op": "add", "path": "members", "value": ["a"]}, InvalidValue),
        ({"op": "add", "path": "members", "value": [{"display": "x"}]}, InvalidValue),
        ({"op": "add", "path": "members", "value": [{"value": 5}]}, InvalidValue),
        ({"op": "add", "path": "members", "value": [{"value": ""}]}, InvalidValue),
        ({"op": "add", "path": "members", "value": [{"value": "a", "colour": "red"}]}, InvalidValue),
        ({"op": "add", "path": "members", "value": None}, InvalidValue),
        ({"op": "remove", "path": 'members[nope eq "a"]'}, InvalidPath),
        ({"op": "replace", "path": 'members[value eq "a"].display', "value": "x"}, Mutability),
        ({"op": "replace", "path": 'members[value eq "a"]', "value": {"value": "b"}}, InvalidPath),
        ({"op": "replace", "path": "members.value", "value": "x"}, Mutability),
    ],
)
def test_member_errors(operation, error):
    with pytest.raises(error) as info:
        patch_group(base_group(), operation)
    if operation.get("value") and isinstance(operation["value"], list) and operation["value"] \
            and isinstance(operation["value"][0], dict) and str(operation["value"][0].get("type", "")).lower() == "group":
        assert "nested groups are not supported" in info.value.detail


def test_group_display_name_cannot_be_removed_or_emptied():
    with pytest.raises(InvalidValue):
        patch_group(base_group(), {"op": "remove", "path": "displayName"})
    with pytest.raises(InvalidValue):
        patch_group(base_group(), {"op": "replace", "path": "displayName", "value": ""})


def test_group_unknown_attribute():
    with pytest.raises(InvalidPath):
        patch_group(base_group(), {"op": "replace", "path": "userName", "value": "x"})
    with pytest.raises(InvalidValue):
        patch_group(base_group(), {"op": "replace", "value": {"userName": "x"}})


# ---------------------------------------------------------------------------------------------
# RFC 7644 §3.5.2 semantics
# ---------------------------------------------------------------------------------------------


def test_add_to_multi_valued_appends_and_readd_is_noop():
    user = base_user()
    out = patch_user(user, {"op": "add", "path": "emails", "value": [{"value": "h@x", "type": "home"}]})
    assert out.document["emails"] == user["emails"] + [{"value": "h@x", "type": "home"}]
    again = patch_user(out.document, {"op": "add", "path": "emails", "value": [{"value": "h@x", "type": "home"}]})
    assert again.document == out.document
    assert again.changed == []
    # a subset of an existing value is also "already there"
    same = patch_user(user, {"op": "add", "path": "emails", "value": [{"value": "test.user@okta.local"}]})
    assert same.document == user


def test_pathless_add_rfc_example():
    # RFC 7644 §3.5.2.1: path-less add with attributes, multi-valued ones appended.
    user = base_user()
    out = patch_user(user, {"op": "add", "value": {
        "emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}})
    assert out.document["nickName"] == "Babs"
    assert out.document["emails"][-1] == {"value": "babs@jensen.org", "type": "home"}
    assert len(out.document["emails"]) == 2


def test_add_simple_attribute_replaces_value():
    assert patch_user(base_user(), {"op": "add", "path": "displayName", "value": "X"}).document["displayName"] == "X"


def test_replace_multi_valued_replaces_all():
    out = patch_user(base_user(), {"op": "replace", "path": "emails", "value": [
        {"value": "a@x", "type": "home"}, {"value": "b@x", "type": "other", "primary": True}]})
    assert out.document["emails"] == [{"value": "a@x", "type": "home"},
                                      {"value": "b@x", "type": "other", "primary": True}]


def test_replace_complex_merges_sub_attributes():
    out = patch_user(base_user(), {"op": "replace", "path": "name", "value": {"middleName": "Q"}})
    assert out.document["name"] == {"givenName": "Test", "familyName": "User", "middleName": "Q"}
    out = patch_user(base_user(), {"op": "replace", "value": {"name": {"givenName": "New"}}})
    assert out.document["name"] == {"givenName": "New", "familyName": "User"}


def test_replace_rfc_address_example():
    user = base_user() | {"addresses": [
        {"type": "work", "streetAddress": "old", "primary": True},
        {"type": "home", "streetAddress": "home st"}]}
    out = patch_user(user, {"op": "replace", "path": 'addresses[type eq "work"]', "value": {
        "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
        "region": "CA", "postalCode": "91608", "country": "US",
        "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": True}})
    assert out.document["addresses"][0]["streetAddress"] == "911 Universal City Plaza"
    assert out.document["addresses"][0]["locality"] == "Hollywood"
    assert out.document["addresses"][1] == {"type": "home", "streetAddress": "home st"}


def test_replace_rfc_sub_attribute_of_filtered_value():
    user = base_user() | {"addresses": [{"type": "work", "streetAddress": "old"}]}
    out = patch_user(user, {"op": "replace", "path": 'addresses[type eq "work"].streetAddress',
                            "value": "1234 Main Street"})
    assert out.document["addresses"] == [{"type": "work", "streetAddress": "1234 Main Street"}]


def test_replace_missing_attribute_adds_it():
    out = patch_user(base_user(), {"op": "replace", "path": "title", "value": "CTO"})
    assert out.document["title"] == "CTO"
    out = patch_user(base_user(), {"op": "replace", "path": "name.honorificPrefix", "value": "Dr"})
    assert out.document["name"]["honorificPrefix"] == "Dr"


def test_replace_with_null_unassigns():
    out = patch_user(base_user(), {"op": "replace", "path": "displayName", "value": None})
    assert "displayName" not in out.document
    assert out.changed == ["displayName"]


def test_add_with_null_is_invalid_value():
    with pytest.raises(InvalidValue):
        patch_user(base_user(), {"op": "add", "path": "displayName", "value": None})


def test_remove_simple_sub_and_complex():
    out = patch_user(base_user(), {"op": "remove", "path": "displayName"},
                     {"op": "remove", "path": "name.givenName"})
    assert "displayName" not in out.document
    assert out.document["name"] == {"familyName": "User"}
    out = patch_user(base_user(), {"op": "remove", "path": "name.givenName"},
                     {"op": "remove", "path": "name.familyName"})
    assert "name" not in out.document


def test_remove_multi_valued_all_and_filtered():
    user = base_user() | {"emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]}
    assert "emails" not in patch_user(user, {"op": "remove", "path": "emails"}).document
    out = patch_user(user, {"op": "remove", "path": 'emails[type eq "work"]'})
    assert out.document["emails"] == [{"value": "b@x", "type": "home"}]
    out = patch_user(user, {"op": "remove", "path": 'emails[type eq "work" or type eq "home"]'})
    assert "emails" not in out.document
    out = patch_user(user, {"op": "remove", "path": 'emails[type eq "home"].type'})
    assert out.document["emails"] == [{"value": "a@x", "type": "work"}, {"value": "b@x"}]


def test_remove_with_value_list_on_multi_valued():
    user = base_user() | {"emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]}
    out = patch_user(user, {"op": "remove", "path": "emails", "value": [{"value": "a@x"}]})
    assert out.document["emails"] == [{"value": "b@x", "type": "home"}]


def test_remove_is_idempotent():
    # Decision: a remove whose target is absent, or whose filter matches nothing, succeeds.
    user = base_user()
    out = patch_user(user, {"op": "remove", "path": 'emails[type eq "home"]'},
                     {"op": "remove", "path": "title"},
                     {"op": "remove", "path": f"{ENT}:department"},
                     {"op": "remove", "path": "name.middleName"})
    assert out.document == user
    assert out.changed == []


def test_value_filter_case_sensitivity_follows_case_exact():
    user = base_user() | {"emails": [{"value": "A@X", "type": "Work"}]}
    out = patch_user(user, {"op": "remove", "path": 'emails[type eq "work"]'})
    assert "emails" not in out.document
    out = patch_user(user, {"op": "remove", "path": 'emails[value eq "a@x"]'})
    assert "emails" not in out.document


@pytest.mark.parametrize(
    "filter_text, removed",
    [
        ('type ne "work"', ["b"]),
        ('value co "@"', ["a", "b"]),
        ('value sw "a"', ["a"]),
        ('value ew "y"', ["b"]),
        ("primary eq true", ["a"]),
        ("primary pr", ["a"]),
        ('not (type eq "work")', ["b"]),
        ('value gt "a@x"', ["b"]),
        ('value le "a@x"', ["a"]),
    ],
)
def test_value_filter_operators(filter_text, removed):
    user = base_user() | {"emails": [{"value": "a@x", "type": "work", "primary": True},
                                     {"value": "b@y", "type": "home"}]}
    out = patch_user(user, {"op": "remove", "path": f"emails[{filter_text}]"})
    left = [e["value"][0] for e in out.document.get("emails", [])]
    assert sorted(set("ab") - set(left)) == removed


def test_primary_uniqueness_new_primary_wins():
    user = base_user() | {"emails": [{"value": "a@x", "type": "work", "primary": True}]}
    out = patch_user(user, {"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home", "primary": True}]})
    assert out.document["emails"] == [{"value": "a@x", "type": "work", "primary": False},
                                      {"value": "b@x", "type": "home", "primary": True}]
    out = patch_user(out.document, {"op": "replace", "path": 'emails[type eq "work"].primary', "value": True})
    assert [e["primary"] for e in out.document["emails"]] == [True, False]


def test_primary_twice_in_one_value_is_invalid():
    with pytest.raises(InvalidValue):
        patch_user(base_user(), {"op": "replace", "path": "emails", "value": [
            {"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]})


def test_urn_prefixed_core_paths():
    out = patch_user(base_user(), {"op": "replace",
                                   "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
                                   "value": "Barbara"})
    assert out.document["name"]["givenName"] == "Barbara"


def test_extension_urn_as_path_and_as_key():
    out = patch_user(base_user(), {"op": "add", "path": ENT, "value": {"department": "X", "costCenter": "4130"}})
    assert out.document[ENT] == {"department": "X", "costCenter": "4130"}
    out = patch_user(base_user(), {"op": "add", "value": {ENT: {"division": "D", "manager": {"value": "m"}}}})
    assert out.document[ENT] == {"division": "D", "manager": {"value": "m"}}
    out = patch_user(out.document, {"op": "remove", "path": ENT})
    assert ENT not in out.document


def test_removing_last_extension_attribute_drops_the_extension():
    user = base_user() | {ENT: {"department": "X"}}
    out = patch_user(user, {"op": "remove", "path": f"{ENT}:department"})
    assert ENT not in out.document


def test_case_insensitive_names_in_paths_and_keys():
    out = patch_user(base_user(), {"op": "replace", "path": "NAME.GIVENNAME", "value": "x"},
                     {"op": "replace", "value": {"DisplayName": "y", "Name.FamilyName": "z"}})
    assert out.document["name"] == {"givenName": "x", "familyName": "z"}
    assert out.document["displayName"] == "y"


@pytest.mark.parametrize(
    "operation, error",
    [
        ({"op": "replace", "path": "nope", "value": "x"}, InvalidPath),
        ({"op": "replace", "path": "name.nope", "value": "x"}, InvalidPath),
        ({"op": "replace", "path": 'emails[nope eq "x"].value', "value": "x"}, InvalidPath),
        ({"op": "replace", "path": 'emails[type eq "work"].nope', "value": "x"}, InvalidPath),
        ({"op": "replace", "path": 'userName[type eq "work"]', "value": "x"}, InvalidPath),
        ({"op": "replace", "value": {"nope": 1}}, InvalidValue),
        ({"op": "replace", "value": {"urn:example:custom:1.0:User:thing": 1}}, InvalidValue),
        ({"op": "replace", "value": "active"}, InvalidValue),
        ({"op": "replace", "path": "id", "value": "other"}, Mutability),
        ({"op": "remove", "path": "id"}, Mutability),
        ({"op": "replace", "path": "meta.lastModified", "value": "2024-01-01T00:00:00Z"}, Mutability),
        ({"op": "replace", "value": {"meta": {"resourceType": "User"}}}, Mutability),
        ({"op": "add", "path": "groups", "value": [{"value": "g"}]}, Mutability),
        ({"op": "replace", "path": "active", "value": 1}, InvalidValue),
        ({"op": "replace", "path": "displayName", "value": 42}, InvalidValue),
        ({"op": "replace", "path": "userName", "value": ""}, InvalidValue),
        ({"op": "remove", "path": "userName"}, InvalidValue),
        ({"op": "replace", "path": "name", "value": "flat"}, InvalidValue),
        ({"op": "replace", "path": "x509Certificates", "value": [{"value": "not base64!"}]}, InvalidValue),
    ],
)
def test_user_errors(operation, error):
    with pytest.raises(error):
        patch_user(base_user(), operation)


def test_id_equal_to_own_id_is_noop_on_path_and_pathless():
    out = patch_user(base_user(), {"op": "replace", "path": "id", "value": USER_ID},
                     {"op": "replace", "value": {"id": USER_ID}})
    assert out.document == base_user()


def test_atomicity_failing_second_op_leaves_input_untouched():
    user = base_user()
    snapshot = copy.deepcopy(user)
    with pytest.raises(InvalidPath):
        patch_user(user,
                   {"op": "replace", "path": "displayName", "value": "changed"},
                   {"op": "add", "path": "emails", "value": [{"value": "new@x"}]},
                   {"op": "replace", "path": "nope", "value": "x"})
    assert user == snapshot


def test_input_document_is_never_mutated():
    user = base_user() | {ENT: {"manager": {"value": "m"}}}
    snapshot = copy.deepcopy(user)
    out = patch_user(user, {"op": "replace", "path": 'emails[type eq "work"].value', "value": "x@y"},
                     {"op": "replace", "path": f"{ENT}:manager.value", "value": "n"},
                     {"op": "remove", "path": "name.givenName"})
    assert user == snapshot
    assert out.document[ENT]["manager"] == {"value": "n"}


def test_hand_built_patch_paths():
    ops = [
        PatchOperation("replace", PatchPath(AttrPath(None, "emails"), Compare(AttrPath(None, "type"), "eq", "work"),
                                            "value"), "w@x", True),
        PatchOperation("add", PatchPath(AttrPath(ENT, "manager")), "boss", True),
        PatchOperation("replace", None, {"active": "False"}, True),
    ]
    out = apply_patch("User", base_user(), ops, resource_id=USER_ID)
    assert out.document["emails"][0]["value"] == "w@x"
    assert out.document[ENT]["manager"] == {"value": "boss"}
    assert out.document["active"] is False


def test_changed_lists_top_level_names_once():
    out = patch_user(base_user(), {"op": "replace", "path": "name.givenName", "value": "a"},
                     {"op": "replace", "path": "name.familyName", "value": "b"})
    assert out.changed == ["name"]


def test_datetime_values_are_validated():
    # No writable dateTime attribute in the core schemas; meta's are readOnly.
    with pytest.raises(Mutability):
        patch_user(base_user(), {"op": "replace", "path": "meta.created", "value": "yesterday"})


# ---------------------------------------------------------------------------------------------
# Principle 6: any input gives a SCIM error, never an unexpected exception
# ---------------------------------------------------------------------------------------------

_FUZZ_KEYS = ["userName", "name", "name.givenName", "emails", "active", "members", "id", "meta", "groups",
              "displayName", ENT, f"{ENT}:manager", "manager", "password", "x509Certificates", "addresses",
              "schemas", "externalId", "nope", "value", "type", "primary", "$ref", "display"]
_FUZZ_PATHS = ["emails", 'emails[type eq "work"].value', "name.givenName", "members", 'members[value eq "a"]',
               "members[display eq 1]", "active", ENT, f"{ENT}:manager", f"{ENT}:manager.value",
               "emails[primary eq true]", "id", "meta.created", 'addresses[type eq "work"]', "bad[[",
               "emails[value pr].primary", "groups", "emails.value", "urn:x:y:z", "members.value", ""]


def _random_value(rng, depth=0):
    roll = rng.random()
    if depth > 2 or roll < 0.3:
        return rng.choice([None, True, False, "True", "x", "", 1, 1.5, "2020-01-01T00:00:00Z"])
    if roll < 0.6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(_FUZZ_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_random_patches_only_raise_scim_errors():
    import random

    from domain.errors import ScimError

    rng = random.Random(7)
    for _ in range(3000):
        operations = []
        for _ in range(rng.randint(1, 3)):
            operation: dict = {"op": rng.choice(["add", "Replace", "remove", "x"])}
            if rng.random() < 0.8:
                operation["path"] = rng.choice(_FUZZ_PATHS)
            if rng.random() < 0.8:
                operation["value"] = _random_value(rng)
            operations.append(operation)
        document = base_user() if rng.random() < 0.5 else base_group()
        snapshot = copy.deepcopy(document)
        try:
            parsed = parse_patch_request({"Operations": operations})
            apply_patch("User" if "userName" in document else "Group", document, parsed, resource_id="1")
        except ScimError as error:
            assert 400 <= error.status < 500
        assert document == snapshot


def test_extension_value_object_may_name_its_schema():
    """scim2-tester sends {"schemas": [...], "department": "x"} as the value of an extension path."""
    urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    ops = parse_patch_request(
        {"Operations": [{"op": "add", "path": urn, "value": {"schemas": [urn], "department": "Research"}}]}
    )
    outcome = apply_patch("User", {"userName": "a"}, ops, resource_id="u1")
    assert outcome.document[urn] == {"department": "Research"}


# ---------------------------------------------------------------------------------------------
# operation_targets: the one walk of an operation, for the patcher and the ingress alike
# ---------------------------------------------------------------------------------------------


def test_operation_targets_resolve_every_spelling_the_patcher_applies():
    from domain.patch import operation_targets
    from domain.schema.registry import USER

    ops = parse_patch_request(body(
        {"op": "replace", "value": {"schemas": [ENT], "Name.GivenName": "A", ENT.upper(): {"Department": "R"},
                                    'emails[type eq "work"].value': "a@x", f"{ENT}:costCenter": "1"}},
        {"op": "remove", "path": ENT},
        {"op": "Replace", "Path": f"{ENT}:manager", "Value": None},
    ))
    targets = [t for op in ops for t in operation_targets(USER, op)]
    assert [(t.resolved.canonical if t.resolved else t.extension, t.where) for t in targets] == [
        (("name", "givenName"), ("Name.GivenName",)),
        (("department",), (ENT.upper(), "Department")),
        (("emails",), ('emails[type eq "work"].value',)),
        (("costCenter",), (f"{ENT}:costCenter",)),
        (ENT, ()),
        (("manager",), ()),
    ]
    assert targets[2].value_filter is not None and targets[2].post_sub == "value"
    with pytest.raises(InvalidPath):
        list(operation_targets(USER, parse_patch_request(body({"op": "add", "path": "nope", "value": 1}))[0]))


# ---------------------------------------------------------------------------------------------
# Value filters mean what they mean in a listing (domain/filter/semantics.py, one evaluator)
# ---------------------------------------------------------------------------------------------


def _emails(out) -> list[str]:
    return [e["value"] for e in out.document.get("emails", [])]


def test_a_value_filter_compares_a_number_with_a_string_as_its_string_form():
    user = base_user() | {"emails": [{"value": "42", "type": "other"}, {"value": "a@x", "type": "work"}]}
    assert _emails(patch_user(user, {"op": "remove", "path": "emails[value eq 42]"})) == ["a@x"]


def test_a_value_filter_eq_null_selects_the_values_lacking_the_sub_attribute():
    user = base_user() | {"emails": [{"value": "a@x"}, {"value": "b@x", "type": ""}, {"value": "c@x", "type": "work"}]}
    assert _emails(patch_user(user, {"op": "remove", "path": "emails[type eq null]"})) == ["c@x"]
    assert _emails(patch_user(user, {"op": "remove", "path": "emails[type ne null]"})) == ["a@x", "b@x"]


@pytest.mark.parametrize("path", [
    "emails[primary gt true]", 'emails[primary eq "yes"]', "emails[type gt null]",
    'x509Certificates[value gt "A"]', 'emails[primary co "t"]',
])
def test_a_value_filter_with_an_unsupported_comparison_is_invalid_filter(path):
    from domain.errors import InvalidFilter

    user = base_user() | {"x509Certificates": [{"value": "QUJD"}]}
    for op in ("remove", "replace"):
        operation = {"op": op, "path": path}
        if op == "replace":
            operation["value"] = {"value": "x"}
        with pytest.raises(InvalidFilter):
            patch_user(user, operation)


@pytest.mark.parametrize("path, error", [
    ('members[$ref pr]', "InvalidFilter"),
    ('members[$ref eq "x"]', "InvalidFilter"),
    ("members[value gt null]", "InvalidFilter"),
    ('members[nope eq "x"]', "InvalidPath"),
])
def test_a_members_filter_the_store_cannot_run_is_refused_before_it(path, error):
    import domain.errors as errors

    with pytest.raises(getattr(errors, error)):
        patch_group(base_group(), {"op": "remove", "path": path})


def test_a_members_filter_the_store_runs_travels_as_a_filter():
    out = patch_group(base_group(), {"op": "remove", "path": 'members[type eq "User" and not (display co "x")]'})
    assert out.member_changes[0].kind == "remove" and out.member_changes[0].filter is not None
