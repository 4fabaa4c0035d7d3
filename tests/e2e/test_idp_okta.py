"""Okta, replayed end to end (idp-traffic.md §2): catalogue (OIN) apps, custom-wizard (AIW) apps
and Okta's own SCIM 2.0 SPEC test. Each test reads the store back with GET and checks that it
holds exactly what the Okta admin intended."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.idp_traffic import (
    OKTA_SPEC_UA,
    OKTA_UA,
    SCIM_JSON,
    client,
    member_ids,
    okta_group,
    okta_rename,
    okta_spec_user,
    okta_user,
    patch,
    unique,
)
from tests.e2e.scim_bodies import ERROR, GROUP_SCHEMA, LIST, USER_SCHEMA


@pytest.fixture
def okta(stack, org):
    with client(stack, org, OKTA_UA) as http:
        yield http


def _users(http, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        created = http.post("/Users", json=okta_user(unique("okta", "okta.local")))
        assert created.status_code == 201, created.text
        out.append(created.json())
    return out


# ============================================================================ OIN (catalogue) apps


def test_oin_profile_update_by_put_after_get(okta):
    email = unique("test.user", "okta.local")
    assert okta.get("/Users", params={"filter": f'userName eq "{email}"', "startIndex": 1, "count": 100}).json()[
        "totalResults"] == 0
    user = okta.post("/Users", json=okta_user(email)).json()

    # §2.6: GET, then PUT the full object with the changed attributes (no password, no meta).
    current = okta.get(f"/Users/{user['id']}").json()
    body = {
        "schemas": [USER_SCHEMA],
        "id": user["id"],
        "userName": email,
        "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
        "emails": [{"primary": True, "value": email, "type": "work", "display": email}],
        "active": True,
        "groups": [],
        "meta": {"resourceType": "User"},
    }
    replaced = okta.put(f"/Users/{user['id']}", json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["content-type"].startswith(SCIM_JSON)

    stored = okta.get(f"/Users/{user['id']}").json()
    assert stored["name"] == {"givenName": "Another", "middleName": "Excited", "familyName": "User"}
    assert stored["emails"] == [{"primary": True, "value": email, "type": "work", "display": email}]
    # PUT replaces: what the body left out (displayName, locale, externalId) is gone.
    assert "displayName" not in stored and "locale" not in stored and "externalId" not in stored
    assert stored["active"] is True and stored["id"] == user["id"]
    assert stored["meta"]["version"] != current["meta"]["version"]
    assert stored == replaced.json()


def test_oin_deactivate_and_reactivate_by_pathless_patch(stack, org, okta):
    user = okta.post("/Users", json=okta_user(unique("test.user", "okta.local"))).json()
    deactivated = okta.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "value": {"active": False}}))
    assert deactivated.status_code in (200, 204), deactivated.text
    stored = okta.get(f"/Users/{user['id']}").json()
    assert stored["active"] is False
    assert {k: v for k, v in stored.items() if k not in ("active", "meta")} == {
        k: v for k, v in user.items() if k not in ("active", "meta")}

    reactivated = okta.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "value": {"active": True}}))
    assert reactivated.status_code in (200, 204)
    assert okta.get(f"/Users/{user['id']}").json()["active"] is True

    actions = [e["action"] for e in stack.audit_events(org.id, wait_for=3) if e.get("resource_id") == user["id"]]
    assert actions == ["scim:user:create", "scim:user:deactivate", "scim:user:reactivate"]


def test_oin_group_push_batched_membership_with_rename_resent_each_time(stack, org, okta):
    users = _users(okta, 7)
    ids = [u["id"] for u in users]
    name = f"Engineering {uuid.uuid4().hex[:6]}"
    created = okta.post("/Groups", json=okta_group(name))
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["schemas"] == [GROUP_SCHEMA] and group["members"] == [] and group["meta"]["resourceType"] == "Group"
    gid = group["id"]

    # Okta looks the group up by displayName, then pushes membership in batches; before every
    # membership PATCH it re-sends the path-less rename carrying id and displayName.
    found = okta.get("/Groups", params={"filter": f'displayName eq "{name}"'}).json()
    assert [g["id"] for g in found["Resources"]] == [gid]
    for batch in (ids[0:3], ids[3:5], ids[5:7]):
        renamed = okta.patch(f"/Groups/{gid}", json=okta_rename(gid, name))
        assert renamed.status_code in (200, 204), renamed.text
        added = okta.patch(f"/Groups/{gid}", json=patch(
            {"op": "add", "path": "members", "value": [{"value": i, "display": "x@okta.local"} for i in batch]}))
        assert added.status_code in (200, 204), added.text
    assert member_ids(okta, gid) == sorted(ids)

    # One membership change: remove by valuePath filter plus add, in one PATCH (§2.8).
    okta.patch(f"/Groups/{gid}", json=okta_rename(gid, name))
    changed = okta.patch(f"/Groups/{gid}", json=patch(
        {"op": "remove", "path": f'members[value eq "{ids[0]}"]'},
        {"op": "remove", "path": f'members[value eq "{ids[1]}"]'},
        {"op": "add", "path": "members", "value": [{"value": ids[0], "display": "back"}]},
    ))
    assert changed.status_code in (200, 204), changed.text
    assert member_ids(okta, gid) == sorted(ids[0:1] + ids[2:])

    stored = okta.get(f"/Groups/{gid}").json()
    assert stored["displayName"] == name
    displays = {m["value"]: m.get("display") for m in stored["members"]}
    assert displays[ids[2]] == "x@okta.local"  # the member display as Okta sent it (RFC 7643 §4.2)
    assert displays[ids[0]] == "back"
    assert all(e["idp"] == "okta" for e in stack.audit_events(org.id, wait_for=7 + 1 + 8))


def test_oin_push_now_resends_everything_idempotently(okta):
    users = _users(okta, 4)
    ids = [u["id"] for u in users]
    name = f"Push {uuid.uuid4().hex[:6]}"
    gid = okta.post("/Groups", json=okta_group(name)).json()["id"]
    okta.patch(f"/Groups/{gid}", json=patch({"op": "add", "path": "members", "value": [{"value": i} for i in ids[:3]]}))

    # The group went out of sync in Okta (renamed, membership changed): "Push now".
    new_name = name + " (renamed)"
    wanted = [ids[1], ids[3]]
    push = [
        okta_rename(gid, new_name),
        patch({"op": "replace", "path": "members",
               "value": [{"value": i, "display": "someone@okta.local"} for i in wanted]}),
    ]
    for body in push:
        response = okta.patch(f"/Groups/{gid}", json=body)
        assert response.status_code in (200, 204), response.text
    first = okta.get(f"/Groups/{gid}").json()
    assert first["displayName"] == new_name and sorted(m["value"] for m in first["members"]) == sorted(wanted)

    # Pushing again (and again) changes nothing and still succeeds.
    for _ in range(2):
        for body in push:
            response = okta.patch(f"/Groups/{gid}", json=body)
            assert response.status_code in (200, 204), response.text
        again = okta.get(f"/Groups/{gid}").json()
        assert again["displayName"] == new_name
        assert sorted(m["value"] for m in again["members"]) == sorted(wanted)
        assert again["meta"]["version"] == first["meta"]["version"]  # a no-op push writes nothing

    # Users' groups follow the Team.
    assert [g["value"] for g in okta.get(f"/Users/{ids[1]}").json()["groups"]] == [gid]
    assert okta.get(f"/Users/{ids[0]}").json()["groups"] == []


def test_oin_unlink_pushed_group_and_delete(okta):
    users = _users(okta, 2)
    gid = okta.post("/Groups", json=okta_group(f"Unlink {uuid.uuid4().hex[:6]}")).json()["id"]
    okta.patch(f"/Groups/{gid}", json=patch({"op": "add", "path": "members", "value": [{"value": u["id"]} for u in users]}))
    deleted = okta.delete(f"/Groups/{gid}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert okta.get(f"/Groups/{gid}").status_code == 404
    # The users stay; only the Team and its memberships went.
    for u in users:
        stored = okta.get(f"/Users/{u['id']}").json()
        assert stored["active"] is True and stored["groups"] == []


# ============================================================================ custom-wizard (AIW) apps


def test_aiw_user_every_update_is_a_full_put_echoing_id_meta_groups_password(stack, org, okta):
    email = unique("aiw", "okta.local")
    user = okta.post("/Users", json=okta_user(email, given="Ada", family="Lovelace")).json()
    gid = okta.post("/Groups", json=okta_group(f"AIW {uuid.uuid4().hex[:6]}")).json()["id"]
    okta.put(f"/Groups/{gid}", json={**okta_group("ignored"), "displayName": okta.get(f"/Groups/{gid}").json()[
        "displayName"], "members": [{"value": user["id"]}]})

    def put_from_get(**changes):
        """Okta's AIW merge: GET the user, apply the profile, PUT it all back with a new password."""
        current = okta.get(f"/Users/{user['id']}").json()
        body = {**current, **changes, "password": uuid.uuid4().hex[:10]}
        response = okta.put(f"/Users/{user['id']}", json=body)
        assert response.status_code == 200, response.text
        assert "password" not in response.json()
        return okta.get(f"/Users/{user['id']}").json()

    # Profile update.
    stored = put_from_get(name={"givenName": "Ada", "familyName": "King"}, title="Countess")
    assert stored["name"] == {"givenName": "Ada", "familyName": "King"} and stored["title"] == "Countess"
    assert [g["value"] for g in stored["groups"]] == [gid]  # the echoed groups change nothing

    # Deactivation and reactivation are PUTs too.
    assert put_from_get(active=False)["active"] is False
    stored = put_from_get(active=True)
    assert stored["active"] is True and stored["title"] == "Countess"
    # A stale or empty groups echo never touches memberships (groups is readOnly).
    assert put_from_get(groups=[])["groups"][0]["value"] == gid
    assert member_ids(okta, gid) == [user["id"]]

    events = [e for e in stack.audit_events(org.id, wait_for=7) if e.get("resource_id") == user["id"]]
    assert [e["action"] for e in events] == [
        "scim:user:create", "scim:user:update", "scim:user:deactivate", "scim:user:reactivate", "scim:user:update"]
    # The password is named as changed, never shown.
    assert all("password" in e["changed"] for e in events)
    assert not any("1mz050nq" in str(e) for e in events)


def test_aiw_group_membership_by_put_of_full_members_list(okta):
    users = _users(okta, 5)
    ids = [u["id"] for u in users]
    name = f"AIW group {uuid.uuid4().hex[:6]}"
    group = okta.post("/Groups", json=okta_group(name)).json()
    gid = group["id"]

    def put_members(members: list[str], display_name: str = name):
        current = okta.get(f"/Groups/{gid}").json()
        body = {**current, "displayName": display_name,
                "members": [{"value": i, "display": f"{i}@okta.local"} for i in members]}
        response = okta.put(f"/Groups/{gid}", json=body)
        assert response.status_code == 200, response.text
        assert sorted(m["value"] for m in response.json()["members"]) == sorted(members)
        return okta.get(f"/Groups/{gid}").json()

    assert sorted(m["value"] for m in put_members(ids[:3])["members"]) == sorted(ids[:3])
    stored = put_members([ids[0], ids[3], ids[4]])
    assert sorted(m["value"] for m in stored["members"]) == sorted([ids[0], ids[3], ids[4]])
    # Rename and membership in one PUT; then the very same PUT again is a no-op.
    stored = put_members(ids[3:], display_name=name + " v2")
    assert stored["displayName"] == name + " v2"
    again = put_members(ids[3:], display_name=name + " v2")
    assert sorted(m["value"] for m in again["members"]) == sorted(ids[3:])
    assert again["meta"]["version"] == stored["meta"]["version"]
    # Echoing what GET returned (value, display, $ref, type) is a no-op as well.
    echoed = okta.put(f"/Groups/{gid}", json=okta.get(f"/Groups/{gid}").json())
    assert echoed.status_code == 200, echoed.text
    assert member_ids(okta, gid) == sorted(ids[3:])
    # The last member leaves: an empty list empties the Team.
    assert put_members([], display_name=name + " v2")["members"] == []
    assert okta.get(f"/Users/{ids[3]}").json()["groups"] == []


# ============================================================================ Okta SCIM 2.0 SPEC test (§2.9)


def test_okta_scim20_spec_test_all_steps(stack, org):
    spec_headers = {
        "Accept-Charset": "utf-8",
        "Content-Type": "application/scim+json; charset=utf-8",
        "Accept": "application/scim+json",
    }
    with client(stack, org, OKTA_SPEC_UA) as http:
        http.headers.update(spec_headers)
        # "Create at least one user in your SCIM server before running".
        seed = http.post("/Users", json=okta_user(unique("seed", "okta.local")))
        assert seed.status_code == 201

        # 1. GET /Users?count=1&startIndex=1
        r = http.get("/Users?count=1&startIndex=1")
        assert r.status_code == 200
        body = r.json()
        assert LIST in body["schemas"]
        assert all(isinstance(body[k], int) and not isinstance(body[k], bool)
                   for k in ("itemsPerPage", "startIndex", "totalResults"))
        assert body["Resources"]
        first = body["Resources"][0]
        for key in ("id", "userName", "active"):
            assert first[key] not in (None, "")
        assert first["name"]["familyName"] and first["name"]["givenName"] and first["emails"][0]["value"]
        isv_user_id = first["id"]

        # 2. GET /Users/{id}
        r = http.get(f"/Users/{isv_user_id}")
        assert r.status_code == 200 and r.json()["id"] == isv_user_id
        assert r.json()["name"]["familyName"] and r.json()["emails"][0]["value"] and r.json()["active"] is not None

        # 3. invalid user by username
        r = http.get('/Users?filter=userName eq "invalid-user-' + uuid.uuid4().hex + '@example.com"')
        assert r.status_code == 200 and LIST in r.json()["schemas"] and r.json()["totalResults"] == 0

        # 4. invalid user by id
        r = http.get(f"/Users/{uuid.uuid4()}")
        assert r.status_code == 404
        assert r.json()["detail"] and ERROR in r.json()["schemas"]

        # 5. random user does not exist
        given, family = f"Given{uuid.uuid4().hex[:5]}", f"Family{uuid.uuid4().hex[:5]}"
        random_email = f"{given.lower()}.{family.lower()}@example.com"
        random_username = random_email
        r = http.get(f'/Users?filter=userName eq "{random_email}"')
        assert r.status_code == 200 and r.json()["totalResults"] == 0 and LIST in r.json()["schemas"]

        # 6. create the user, POSTed as application/json
        create_headers = {"Content-Type": "application/json", "Accept": "application/scim+json; charset=utf-8"}
        r = http.post("/Users", json=okta_spec_user(random_username, given, family, random_email),
                      headers=create_headers)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["active"] is True and created["id"]
        assert created["name"]["familyName"] == family and created["name"]["givenName"] == given
        assert USER_SCHEMA in created["schemas"] and created["userName"] == random_username
        id_user_one = created["id"]
        assert created["emails"][0]["value"] == random_email

        # 7. verify the user was created
        r = http.get(f"/Users/{id_user_one}")
        assert r.status_code == 200
        assert (r.json()["userName"], r.json()["name"]["familyName"], r.json()["name"]["givenName"]) == (
            random_username, family, given)

        # 8. the same POST again: 409
        r = http.post("/Users", json=okta_spec_user(random_username, given, family, random_email),
                      headers=create_headers)
        assert r.status_code == 409
        assert r.json()["status"] == "409" and ERROR in r.json()["schemas"]

        # 9. username case sensitivity check: 200 (and userName is caseExact false: it is found)
        r = http.get(f'/Users?filter=userName eq "{random_username.upper()}"')
        assert r.status_code == 200
        assert [u["id"] for u in r.json()["Resources"]] == [id_user_one]

        # 10. a non-token: 401 with status as a string
        r = http.get(f'/Users?filter=userName eq "{random_username.upper()}"', headers={"Authorization": "non-token"})
        assert r.status_code == 401
        assert r.json()["status"] == "401" and r.json()["detail"] and ERROR in r.json()["schemas"]

        # 11. 404 for an id that does not exist
        r = http.get("/Users/00919288221112222")
        assert r.status_code == 404 and r.json()["status"] == "404"

    # The store holds exactly the seed and the created user, once each.
    with client(stack, org, OKTA_UA) as http:
        listed = http.get("/Users").json()
        assert listed["totalResults"] == 2
        assert random_username in [u["userName"] for u in listed["Resources"]]
    events = stack.audit_events(org.id, wait_for=3)
    okta_events = [e for e in events if e["action"] != "scim:auth:refused"]
    assert all(e["idp"] == "okta" for e in events)
    assert [e["action"] for e in okta_events if e["outcome"] == "success"] == ["scim:user:create"] * 2
