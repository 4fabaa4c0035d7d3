"""Microsoft Entra ID, replayed end to end (idp-traffic.md §3), with and without
``?aadOptscim062020`` in the tenant URL: every test runs in both dialects (``entra`` fixture)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.idp_traffic import (
    ENTERPRISE,
    ENTRA_FLAG,
    ENTRA_UA,
    SCIM_JSON,
    Entra,
    client,
    entra_group,
    entra_member,
    entra_replace_multiple,
    entra_user,
    patch,
    qs,
)
from tests.e2e.scim_bodies import ERROR, GROUP_SCHEMA, LIST, USER_SCHEMA


@pytest.fixture(params=[False, True], ids=["default", "aadOptscim062020"])
def entra(request, stack, org):
    with client(stack, org, ENTRA_UA) as http:
        yield Entra(http, flag=request.param)


def _create_user(entra: Entra, user_name: str | None = None, **extra) -> dict:
    body = entra_user()
    if user_name:
        body["userName"] = user_name
        body["externalId"] = uuid.uuid4().hex
        body["emails"][0]["value"] = f"{uuid.uuid4().hex[:8]}@testuser.com"
    body.update(extra)
    created = entra.post("/Users", body)
    assert created.status_code == 201, created.text
    return created.json()


def _members(entra: Entra, gid: str) -> list[str]:
    response = entra.get(f"/Groups/{gid}")
    assert response.status_code == 200, response.text
    return sorted(m["value"] for m in response.json()["members"])


# ============================================================================ connection and discovery


def test_test_connection_random_guid_filter_is_an_empty_list(entra):
    for path in ("/Users", "/Groups"):
        attribute = "userName" if path == "/Users" else "displayName"
        query = qs(filter=f'{attribute} eq "{uuid.uuid4()}"')
        if path == "/Groups":
            query = "excludedAttributes=members&" + query
        response = entra.get(path, query)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(SCIM_JSON)
        body = response.json()
        assert body["schemas"] == [LIST] and body["totalResults"] == 0 and body["Resources"] == []
    # The matching attribute may be externalId, and Entra leaves the GUID unquoted.
    response = entra.get("/Users", qs(filter=f"externalId eq {uuid.uuid4()}"))
    assert response.status_code == 200 and response.json()["totalResults"] == 0
    # Schema discovery on save (the flag rides along).
    schemas = entra.get("/Schemas")
    assert schemas.status_code == 200 and schemas.json()["schemas"] == [LIST]


def test_flag_anywhere_in_the_query_string_is_accepted(stack, org):
    with client(stack, org, ENTRA_UA) as http:
        user = http.post(f"/Users?{ENTRA_FLAG}", json=entra_user()).json()
        by_name = qs(filter='userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"')
        by_other_case = qs(filter='userName eq "test_user_00AA00AA-bb11-cc22-dd33-44ee44ee44ee"')
        for url in (
            f"/Users?{by_name}&{ENTRA_FLAG}",
            f"/Users?{ENTRA_FLAG}=&{by_name}",
            f"/Users?{ENTRA_FLAG}&{by_other_case}",
        ):
            response = http.get(url)
            assert response.status_code == 200, (url, response.text)
            assert [u["id"] for u in response.json()["Resources"]] == [user["id"]]
        assert http.get(f"/Users/{user['id']}?{ENTRA_FLAG}").json()["id"] == user["id"]


# ============================================================================ §3.2 user sequence, verbatim


def test_create_user_query_update_disable_delete_sequence(stack, org, entra):
    body = entra_user()
    created = entra.post("/Users", body)
    assert created.status_code == 201, created.text
    user = created.json()
    uid = user["id"]
    assert created.headers["content-type"].startswith(SCIM_JSON)
    assert user["userName"] == body["userName"] and user["externalId"] == body["externalId"]
    assert user["active"] is True and user["emails"] == body["emails"] and user["name"] == body["name"]
    assert user["meta"]["created"] and user["meta"]["lastModified"] and user["meta"]["resourceType"] == "User"
    assert "roles" not in user  # an empty list is unassigned
    assert USER_SCHEMA in user["schemas"]

    # Query by userName: a ListResponse with the user.
    found = entra.get("/Users", qs(filter=f'userName eq "{body["userName"]}"'))
    assert found.status_code == 200 and found.json()["totalResults"] == 1
    assert found.json()["Resources"][0]["id"] == uid
    # Get user, not found: 404 with the Error schema and the status as a string.
    missing = entra.get("/Users/23B51B0E5D7AE9110A49411D@7cca31655d49f3640a494224")
    assert missing.status_code == 404
    assert missing.json()["schemas"] == [ERROR] and missing.json()["status"] == "404"

    # Update multi-valued plus sub-attribute (§3.2, verbatim ops; capitalised without the flag).
    updated = entra.patch(f"/Users/{uid}", patch(
        {"op": entra.op("replace"), "path": 'emails[type eq "work"].value', "value": "updatedEmail@microsoft.com"},
        {"op": entra.op("replace"), "path": "name.familyName", "value": "updatedFamilyName"},
    ))
    assert updated.status_code == 200, updated.text
    # Update a single value.
    new_user_name = "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    renamed = entra.patch(f"/Users/{uid}", patch({"op": entra.op("replace"), "path": "userName", "value": new_user_name}))
    assert renamed.status_code == 200, renamed.text
    stored = entra.get(f"/Users/{uid}").json()
    assert stored["userName"] == new_user_name
    assert stored["emails"] == [{"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}]
    assert stored["name"] == {"formatted": "givenName familyName", "familyName": "updatedFamilyName",
                              "givenName": "givenName"}

    # Disable: "False" (string, Replace) without the flag, false with it.
    disabled = entra.patch(f"/Users/{uid}", entra.disable())
    assert disabled.status_code in (200, 204), disabled.text
    assert entra.get(f"/Users/{uid}").json()["active"] is False
    # Inactive users are still returned by queries.
    still = entra.get("/Users", qs(filter=f'userName eq "{new_user_name}"')).json()
    assert still["totalResults"] == 1 and still["Resources"][0]["active"] is False

    # Hard delete after 30 days.
    deleted = entra.delete(f"/Users/{uid}")
    assert deleted.status_code == 204 and deleted.content == b""
    gone = entra.get(f"/Users/{uid}")
    assert gone.status_code == 404 and gone.json()["status"] == "404"
    assert entra.get("/Users", qs(filter=f'userName eq "{new_user_name}"')).json()["totalResults"] == 0

    events = stack.audit_events(org.id, wait_for=5)
    assert [e["action"] for e in events] == [
        "scim:user:create", "scim:user:update", "scim:user:update", "scim:user:deactivate", "scim:user:delete"]
    assert {e["idp"] for e in events} == {"entra"}


def test_string_booleans_on_active(entra):
    user = _create_user(entra, f"strbool-{uuid.uuid4().hex[:6]}", active="True")
    assert user["active"] is True
    for value, expected in (("False", False), ("true", True), ("false", False), ("True", True)):
        response = entra.patch(f"/Users/{user['id']}", patch({"op": entra.op("replace"), "path": "active", "value": value}))
        assert response.status_code in (200, 204), response.text
        assert entra.get(f"/Users/{user['id']}").json()["active"] is expected
    # ...also in a path-less replace.
    entra.patch(f"/Users/{user['id']}", patch({"op": entra.op("replace"), "value": {"active": "False"}}))
    assert entra.get(f"/Users/{user['id']}").json()["active"] is False
    # and on a filter: active eq "False" / active eq false
    listed = entra.get("/Users", qs(filter="active eq false")).json()
    assert [u["id"] for u in listed["Resources"]] == [user["id"]]


def test_replace_multiple_both_dialects_reach_the_same_state(entra):
    user = _create_user(entra)
    body = entra_replace_multiple(entra.flag, work_email="TestMhvaes@test.microsoft.com", display="Bjfe",
                                  given="Kkom", family="Unua", employee_number="Aklq", external_id="mailnick")
    response = entra.patch(f"/Users/{user['id']}", body)
    assert response.status_code == 200, response.text
    stored = entra.get(f"/Users/{user['id']}").json()
    assert stored["displayName"] == "Bjfe"
    assert stored["name"] == {"formatted": "givenName familyName", "givenName": "Kkom", "familyName": "Unua"}
    assert stored["emails"] == [{"primary": True, "type": "work", "value": "TestMhvaes@test.microsoft.com"}]
    assert stored["externalId"] == "mailnick"
    assert stored[ENTERPRISE] == {"employeeNumber": "Aklq"}
    assert ENTERPRISE in stored["schemas"]
    assert response.json() == stored


def test_add_single_value_nickname(entra):
    user = _create_user(entra)
    response = entra.patch(f"/Users/{user['id']}", patch({"op": entra.op("add"), "path": "nickName", "value": "Babs"}))
    assert response.status_code == 200, response.text
    assert entra.get(f"/Users/{user['id']}").json()["nickName"] == "Babs"


def test_pathless_replace_with_urn_keys_department_and_manager(entra):
    boss = _create_user(entra, f"boss-{uuid.uuid4().hex[:6]}")
    user = _create_user(entra)
    response = entra.patch(f"/Users/{user['id']}", patch({"op": entra.op("replace"), "value": {
        f"{ENTERPRISE}:department": "Research",
        f"{ENTERPRISE}:manager": boss["id"],
        "name.givenName": "Grace",
    }}))
    assert response.status_code == 200, response.text
    stored = entra.get(f"/Users/{user['id']}").json()
    assert stored[ENTERPRISE] == {"department": "Research", "manager": {"value": boss["id"]}}
    assert stored["name"]["givenName"] == "Grace"


def test_manager_as_bare_string_by_path_and_in_post(entra):
    boss = _create_user(entra, f"boss-{uuid.uuid4().hex[:6]}")
    other = _create_user(entra, f"other-{uuid.uuid4().hex[:6]}")
    # POST with "manager": "<id>" (field reports, §3.2).
    user = _create_user(entra, f"emp-{uuid.uuid4().hex[:6]}",
                        **{ENTERPRISE: {"department": "Sales", "manager": boss["id"]}})
    assert user[ENTERPRISE] == {"department": "Sales", "manager": {"value": boss["id"]}}

    # In the field: add with the full URN path and a bare string.
    response = entra.patch(f"/Users/{user['id']}", patch(
        {"op": entra.op("add"), "path": f"{ENTERPRISE}:manager", "value": other["id"]}))
    assert response.status_code == 200, response.text
    assert entra.get(f"/Users/{user['id']}").json()[ENTERPRISE]["manager"] == {"value": other["id"]}

    # As documented: path "manager" and a list holding {$ref, value}.
    ref = f"http://example.com/scim/Users/{boss['id']}"
    response = entra.patch(f"/Users/{user['id']}", patch(
        {"op": "Add", "path": "manager", "value": [{"$ref": ref, "value": boss["id"]}]}))
    assert response.status_code == 200, response.text
    assert entra.get(f"/Users/{user['id']}").json()[ENTERPRISE] == {
        "department": "Sales", "manager": {"$ref": ref, "value": boss["id"]}}

    # Removing the manager (the manager left the directory).
    response = entra.patch(f"/Users/{user['id']}", patch({"op": entra.op("remove"), "path": f"{ENTERPRISE}:manager"}))
    assert response.status_code == 200, response.text
    assert entra.get(f"/Users/{user['id']}").json()[ENTERPRISE] == {"department": "Sales"}


def test_replace_work_email_on_user_without_one_adds_it(entra):
    body = entra_user()
    body["emails"] = [{"type": "home", "value": "home@example.com"}]
    user = entra.post("/Users", body).json()
    response = entra.patch(f"/Users/{user['id']}", patch(
        {"op": entra.op("replace"), "path": 'emails[type eq "work"].value', "value": "work@example.com"}))
    assert response.status_code == 200, response.text
    emails = entra.get(f"/Users/{user['id']}").json()["emails"]
    assert sorted(emails, key=lambda e: e["type"]) == [
        {"type": "home", "value": "home@example.com"}, {"type": "work", "value": "work@example.com"}]
    # And on a user with no emails at all.
    bare = entra_user()
    bare.pop("emails")
    bare["userName"] = "no-emails@example.com"
    user = entra.post("/Users", bare).json()
    entra.patch(f"/Users/{user['id']}", patch(
        {"op": entra.op("replace"), "path": 'emails[type eq "work"].value', "value": "first@example.com"}))
    assert entra.get(f"/Users/{user['id']}").json()["emails"] == [{"type": "work", "value": "first@example.com"}]
    # It is filterable that way (uniqueness attributes must be, §3.1).
    found = entra.get("/Users", qs(filter='emails[type eq "work"].value eq "first@example.com"')).json()
    assert [u["id"] for u in found["Resources"]] == [user["id"]]


def test_external_id_eq_unquoted_value(entra):
    user = _create_user(entra, f"jy-{uuid.uuid4().hex[:6]}", externalId="jyoung")
    numeric = _create_user(entra, f"num-{uuid.uuid4().hex[:6]}", externalId="12345")
    for value, expected in (("jyoung", user["id"]), ("12345", numeric["id"]),
                            ("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", None)):
        response = entra.get("/Users", qs(filter=f"externalId eq {value}"))
        assert response.status_code == 200, response.text
        assert [u["id"] for u in response.json()["Resources"]] == ([expected] if expected else [])


# ============================================================================ groups


def test_group_lifecycle_with_microsoft_schema_and_excluded_members(stack, org, entra):
    users = [_create_user(entra, f"m{i}-{uuid.uuid4().hex[:6]}") for i in range(3)]
    ids = [u["id"] for u in users]
    created = entra.post("/Groups", entra_group())
    assert created.status_code == 201, created.text
    group = created.json()
    gid = group["id"]
    assert group["members"] == [] and group["schemas"] == [GROUP_SCHEMA]
    assert group["displayName"] == "displayName" and group["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"

    # Reads with excludedAttributes=members: no members key, by id and in a filtered list.
    one = entra.get(f"/Groups/{gid}", "excludedAttributes=members")
    assert one.status_code == 200 and "members" not in one.json() and one.json()["id"] == gid
    listed = entra.get("/Groups", "excludedAttributes=members&" + qs(filter='displayName eq "displayName"'))
    assert listed.status_code == 200 and listed.json()["totalResults"] == 1
    assert listed.json()["Resources"][0]["id"] == gid and "members" not in listed.json()["Resources"][0]
    by_external = entra.get("/Groups", "excludedAttributes=members&" + qs(filter=f"externalId eq {group['externalId']}"))
    assert [g["id"] for g in by_external.json()["Resources"]] == [gid]

    # Rename: 204.
    new_name = "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    renamed = entra.patch(f"/Groups/{gid}", patch({"op": entra.op("replace"), "path": "displayName", "value": new_name}))
    assert renamed.status_code == 204 and renamed.content == b""
    # Add members with "$ref": null: 204 (several in one PATCH: gallery checklist).
    added = entra.patch(f"/Groups/{gid}", entra.add_members(*ids))
    assert added.status_code == 204, added.text
    assert _members(entra, gid) == sorted(ids)
    # Remove one member: only that one goes (default: value list; flag: value filter).
    removed = entra.patch(f"/Groups/{gid}", entra.remove_member(ids[1]))
    assert removed.status_code == 204, removed.text
    assert _members(entra, gid) == sorted([ids[0], ids[2]])
    # Re-adding an existing member and removing an absent one are no-ops that succeed.
    assert entra.patch(f"/Groups/{gid}", entra.add_members(ids[0])).status_code == 204
    assert entra.patch(f"/Groups/{gid}", entra.remove_member(ids[1])).status_code == 204
    assert _members(entra, gid) == sorted([ids[0], ids[2]])
    stored = entra.get(f"/Groups/{gid}").json()
    assert stored["displayName"] == new_name

    deleted = entra.delete(f"/Groups/{gid}")
    assert deleted.status_code == 204
    assert entra.get(f"/Groups/{gid}").status_code == 404
    assert all(entra.get(f"/Users/{i}").json()["groups"] == [] for i in ids)

    events = stack.audit_events(org.id, wait_for=3 + 7)
    team = [e for e in events if e.get("resource_type") == "Group"]
    assert [e["action"] for e in team] == [
        "scim:team:create", "scim:team:update", "scim:team:member:add", "scim:team:member:remove",
        "scim:team:update", "scim:team:update", "scim:team:delete"]
    assert {e["idp"] for e in events} == {"entra"}


def test_remove_members_value_list_removes_only_those(entra):
    users = [_create_user(entra, f"r{i}-{uuid.uuid4().hex[:6]}") for i in range(4)]
    ids = [u["id"] for u in users]
    gid = entra.post("/Groups", entra_group(f"g-{uuid.uuid4().hex[:6]}")).json()["id"]
    assert entra.patch(f"/Groups/{gid}", entra.add_members(*ids)).status_code == 204
    # Entra's default dialect with two members in one value list (and Remove capitalised).
    response = entra.patch(f"/Groups/{gid}", patch({"op": "Remove", "path": "members",
                                                    "value": [entra_member(ids[0]), entra_member(ids[2])]}))
    assert response.status_code == 204, response.text
    assert _members(entra, gid) == sorted([ids[1], ids[3]])


def test_parallel_membership_patches_to_one_group_all_land(stack, org, entra):
    users = [_create_user(entra, f"p{i}-{uuid.uuid4().hex[:6]}") for i in range(14)]
    ids = [u["id"] for u in users]
    gid = entra.post("/Groups", entra_group(f"parallel-{uuid.uuid4().hex[:6]}")).json()["id"]
    assert entra.patch(f"/Groups/{gid}", entra.add_members(*ids[:7])).status_code == 204

    # 14 PATCHes at once: remove the first seven one by one, add the other seven one by one.
    bodies = [entra.remove_member(i) for i in ids[:7]] + [entra.add_members(i) for i in ids[7:]]

    def send(body):
        with client(stack, org, ENTRA_UA) as http:
            return Entra(http, entra.flag).patch(f"/Groups/{gid}", body).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        statuses = list(pool.map(send, bodies))
    assert statuses == [204] * len(bodies)
    assert _members(entra, gid) == sorted(ids[7:])


@pytest.mark.parametrize("user_agent", ["", "python-requests/2.31"])
def test_entra_recognised_by_the_flag_when_the_agent_says_nothing(stack, org, user_agent):
    with client(stack, org, user_agent) as http:
        entra = Entra(http, flag=True)
        uid = entra.post("/Users", entra_user()).json()["id"]
        assert entra.patch(f"/Users/{uid}", entra.disable()).status_code == 200
        gid = entra.post("/Groups", entra_group()).json()["id"]
        # Without the flag the same client is not Entra.
        plain = Entra(http, flag=False)
        assert plain.patch(f"/Groups/{gid}", plain.add_members(uid)).status_code == 204
    events = stack.audit_events(org.id, wait_for=4)
    assert [(e["action"], e["idp"]) for e in events] == [
        ("scim:user:create", "entra"), ("scim:user:deactivate", "entra"), ("scim:team:create", "entra"),
        ("scim:team:member:add", "unknown")]


def test_other_default_paths_and_flattened_filtered_keys(entra):
    user = _create_user(entra)
    response = entra.patch(f"/Users/{user['id']}", patch(
        {"op": entra.op("add"), "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
        {"op": entra.op("replace"), "path": 'addresses[type eq "work"].postalCode', "value": "98052"},
        {"op": entra.op("replace"), "path": f"{ENTERPRISE}:employeeNumber", "value": "E-7"},
    ))
    assert response.status_code == 200, response.text
    # Reported in the field: a filtered path flattened into a path-less value's keys.
    response = entra.patch(f"/Users/{user['id']}", patch({"op": entra.op("replace"), "value": {
        'emails[type eq "work"].value': "flattened@example.com", "name.familyName": "Flat"}}))
    assert response.status_code == 200, response.text
    stored = entra.get(f"/Users/{user['id']}").json()
    assert stored["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert stored["addresses"] == [{"type": "work", "postalCode": "98052"}]
    assert stored[ENTERPRISE] == {"employeeNumber": "E-7"}
    assert stored["emails"] == [{"primary": True, "type": "work", "value": "flattened@example.com"}]
    assert stored["name"]["familyName"] == "Flat"


def test_disabled_user_keeps_memberships_and_delete_removes_them(entra):
    users = [_create_user(entra, f"k{i}-{uuid.uuid4().hex[:6]}") for i in range(2)]
    gid = entra.post("/Groups", entra_group(f"keep-{uuid.uuid4().hex[:6]}")).json()["id"]
    assert entra.patch(f"/Groups/{gid}", entra.add_members(*(u["id"] for u in users))).status_code == 204
    # Soft delete, then restore: Entra does not restore memberships, so they must survive.
    assert entra.patch(f"/Users/{users[0]['id']}", entra.disable()).status_code == 200
    assert _members(entra, gid) == sorted(u["id"] for u in users)
    assert entra.patch(f"/Users/{users[0]['id']}", entra.enable()).status_code == 200
    restored = entra.get(f"/Users/{users[0]['id']}").json()
    assert restored["active"] is True and [g["value"] for g in restored["groups"]] == [gid]
    # Hard delete removes the user from every Team.
    assert entra.delete(f"/Users/{users[1]['id']}").status_code == 204
    assert _members(entra, gid) == [users[0]["id"]]
