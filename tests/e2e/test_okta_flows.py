"""Okta's documented request sequences, end to end through the ingress, Redis, a worker and the store."""

from __future__ import annotations

import uuid

from tests.e2e.scim_bodies import ERROR, LIST, USER_SCHEMA, okta_group, okta_user, patch

SCIM_JSON = "application/scim+json"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@okta.local"


def test_connection_test_lists_users_and_groups(scim):
    users = scim.get("/Users", params={"startIndex": 1, "count": 2})
    assert users.status_code == 200
    assert users.headers["content-type"].startswith(SCIM_JSON)
    body = users.json()
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 0 and body["startIndex"] == 1 and body["itemsPerPage"] == 0
    assert body["Resources"] == []
    groups = scim.get("/Groups", params={"startIndex": 1, "count": 100})
    assert groups.status_code == 200
    assert groups.json()["totalResults"] == 0


def test_assign_flow_lookup_create_get_put_deactivate_reactivate(scim):
    email = unique_email("test.user")
    lookup = scim.get("/Users", params={"filter": f'userName eq "{email}"', "startIndex": 1, "count": 100})
    assert lookup.status_code == 200 and lookup.json()["totalResults"] == 0

    created = scim.post("/Users", json=okta_user(email), headers={"Content-Type": SCIM_JSON})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["id"] and user["userName"] == email and user["active"] is True
    assert "password" not in user
    assert created.headers["Location"] == user["meta"]["location"]
    assert created.headers["ETag"] == user["meta"]["version"]
    assert user["meta"]["resourceType"] == "User"
    assert user["schemas"] == [USER_SCHEMA]

    # Okta's SPEC test: the lookup is case-insensitive on userName.
    upper = scim.get("/Users", params={"filter": f'userName eq "{email.upper()}"'})
    assert [r["id"] for r in upper.json()["Resources"]] == [user["id"]]
    by_external = scim.get("/Users", params={"filter": 'externalId eq "00ujl29u0le5T6Aj10h7"'})
    assert user["id"] in [r["id"] for r in by_external.json()["Resources"]]

    fetched = scim.get(f"/Users/{user['id']}")
    assert fetched.status_code == 200 and fetched.json()["name"] == {"givenName": "Test", "familyName": "User"}

    # Profile update by PUT, echoing id/meta/groups as Okta's custom apps do.
    put_body = dict(fetched.json(), name={"givenName": "Another", "middleName": "Excited", "familyName": "User"})
    put_body["password"] = "another-random"
    replaced = scim.put(f"/Users/{user['id']}", json=put_body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"]["middleName"] == "Excited"
    assert replaced.json()["meta"]["version"] != user["meta"]["version"]

    deactivated = scim.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "value": {"active": False}}))
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False
    # Deactivated users are still returned by GET and filters.
    assert scim.get(f"/Users/{user['id']}").json()["active"] is False
    still_listed = scim.get("/Users", params={"filter": f'userName eq "{email}"'}).json()
    assert still_listed["totalResults"] == 1 and still_listed["Resources"][0]["active"] is False

    reactivated = scim.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "value": {"active": True}}))
    assert reactivated.status_code == 200 and reactivated.json()["active"] is True


def test_duplicate_user_name_is_409_uniqueness_case_insensitively(scim):
    email = unique_email()
    assert scim.post("/Users", json=okta_user(email)).status_code == 201
    clash = scim.post("/Users", json=okta_user(email.upper()), headers={"Content-Type": "application/json"})
    assert clash.status_code == 409
    body = clash.json()
    assert body["schemas"] == [ERROR] and body["status"] == "409" and body["scimType"] == "uniqueness"


def test_patch_sub_attribute_paths(scim):
    user = scim.post("/Users", json=okta_user(unique_email())).json()
    changed = scim.patch(
        f"/Users/{user['id']}",
        json=patch(
            {"op": "replace", "path": "name.familyName", "value": "Lovelace"},
            {"op": "add", "path": "title", "value": "Engineer"},
            {"op": "remove", "path": "locale"},
        ),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"]["familyName"] == "Lovelace" and body["title"] == "Engineer" and "locale" not in body


def test_delete_then_404_everywhere(scim):
    user = scim.post("/Users", json=okta_user(unique_email())).json()
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    for response in (
        scim.get(f"/Users/{user['id']}"),
        scim.put(f"/Users/{user['id']}", json=okta_user(user["userName"])),
        scim.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "value": {"active": False}})),
        scim.delete(f"/Users/{user['id']}"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["status"] == "404"
    assert scim.get("/Users", params={"filter": f'userName eq "{user["userName"]}"'}).json()["totalResults"] == 0


def test_put_never_creates(scim):
    response = scim.put(f"/Users/{uuid.uuid4()}", json=okta_user(unique_email()))
    assert response.status_code == 404


def test_group_push_create_add_remove_replace_rename_delete(scim):
    users = [scim.post("/Users", json=okta_user(unique_email())).json() for _ in range(3)]
    a, b, c = (u["id"] for u in users)
    name = f"Test SCIMv2 {uuid.uuid4().hex[:6]}"
    created = scim.post("/Groups", json=okta_group(name))
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["displayName"] == name and group["members"] == []
    gid = group["id"]
    assert scim.post("/Groups", json=okta_group(name.upper())).status_code == 409

    found = scim.get("/Groups", params={"filter": f'displayName eq "{name}"'}).json()
    assert [g["id"] for g in found["Resources"]] == [gid]

    def members():
        return sorted(m["value"] for m in scim.get(f"/Groups/{gid}").json()["members"])

    added = scim.patch(
        f"/Groups/{gid}",
        json=patch({"op": "add", "path": "members", "value": [{"value": a, "display": "a"}, {"value": b}]}),
    )
    assert added.status_code in (200, 204), added.text
    assert members() == sorted([a, b])

    removed = scim.patch(
        f"/Groups/{gid}",
        json=patch(
            {"op": "remove", "path": f'members[value eq "{a}"]'},
            {"op": "add", "path": "members", "value": [{"value": c}]},
        ),
    )
    assert removed.status_code in (200, 204)
    assert members() == sorted([b, c])

    replaced = scim.patch(
        f"/Groups/{gid}", json=patch({"op": "replace", "path": "members", "value": [{"value": a}, {"value": c}]})
    )
    assert replaced.status_code in (200, 204)
    assert members() == sorted([a, c])

    renamed = scim.patch(
        f"/Groups/{gid}", json=patch({"op": "replace", "value": {"id": gid, "displayName": name + " renamed"}})
    )
    assert renamed.status_code in (200, 204), renamed.text
    fetched = scim.get(f"/Groups/{gid}").json()
    assert fetched["displayName"] == name + " renamed"
    assert {m["value"]: m["display"] for m in fetched["members"]}[a] == users[0]["displayName"]

    # A member's groups attribute shows the Team.
    assert [g["value"] for g in scim.get(f"/Users/{a}").json()["groups"]] == [gid]

    assert scim.delete(f"/Groups/{gid}").status_code == 204
    assert scim.get(f"/Groups/{gid}").status_code == 404
    assert scim.get(f"/Users/{a}").json()["groups"] == []


def test_group_member_must_be_a_user_of_the_organization(stack, scim):
    other = stack.new_org()
    with stack.scim(other) as other_client:
        stranger = other_client.post("/Users", json=okta_user(unique_email())).json()
    group = scim.post("/Groups", json=okta_group(f"g-{uuid.uuid4().hex[:6]}")).json()
    response = scim.patch(
        f"/Groups/{group['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": stranger["id"]}]})
    )
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert scim.get(f"/Groups/{group['id']}").json()["members"] == []


def test_discovery_endpoints(scim):
    config = scim.get("/ServiceProviderConfig")
    assert config.status_code == 200
    assert config.json()["patch"]["supported"] is True
    assert config.json()["filter"]["supported"] is True
    types = scim.get("/ResourceTypes").json()
    assert {t["name"] for t in types["Resources"]} == {"User", "Group"}
    schemas = scim.get("/Schemas").json()
    ids = {s["id"] for s in schemas["Resources"]}
    assert USER_SCHEMA in ids and "urn:ietf:params:scim:schemas:core:2.0:Group" in ids
    user_schema = scim.get(f"/Schemas/{USER_SCHEMA}").json()
    user_name = next(a for a in user_schema["attributes"] if a["name"] == "userName")
    assert user_name["caseExact"] is False and user_name["uniqueness"] == "server"


def test_base_url_pasted_with_a_trailing_slash_still_works(stack, org):
    """IdPs append /Users to the base URL as the admin pasted it: //Users and Users/ must work."""
    import httpx

    headers = {"Authorization": f"Bearer {org.token}"}
    base = f"{stack.url}/scim/v2/{org.id}"
    created = httpx.post(f"{base}//Users", json=okta_user(unique_email("slash")), headers=headers)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert httpx.get(f"{base}/Users/{user_id}/", headers=headers).status_code == 200
    listed = httpx.get(f"{base}//Users/?filter=userName%20eq%20%22{created.json()['userName']}%22", headers=headers)
    assert listed.status_code == 200 and listed.json()["totalResults"] == 1
    assert httpx.get(f"{base}//Nope", headers=headers).status_code == 404
