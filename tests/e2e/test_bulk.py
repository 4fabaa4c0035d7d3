"""POST /Bulk end to end (RFC 7644 §3.7): bulkId references, failOnErrors, limits, per-operation
errors, and every operation applied exactly once through the ordinary pipeline."""

from __future__ import annotations

import uuid

from tests.e2e.scim_bodies import ERROR, GROUP_SCHEMA, USER_SCHEMA, patch

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


def bulk(scim, operations, **extra):
    return scim.post("/Bulk", json={"schemas": [BULK_REQUEST], "Operations": operations, **extra})


def user_op(bulk_id: str, name: str | None = None, **extra) -> dict:
    name = name or f"{bulk_id}-{uuid.uuid4().hex[:8]}@example.com"
    return {
        "method": "POST", "path": "/Users", "bulkId": bulk_id,
        "data": {"schemas": [USER_SCHEMA], "userName": name, **extra},
    }


def group_op(bulk_id: str, *members: str) -> dict:
    return {
        "method": "POST", "path": "/Groups", "bulkId": bulk_id,
        "data": {
            "schemas": [GROUP_SCHEMA], "displayName": f"Team {uuid.uuid4().hex[:8]}",
            "members": [{"type": "User", "value": member} for member in members],
        },
    }


def test_bulk_creates_users_and_a_team_whose_members_reference_them(scim):
    response = bulk(scim, [user_op("alice"), user_op("bob"), group_op("team", "bulkId:alice", "bulkId:bob")])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schemas"] == [BULK_RESPONSE]
    results = body["Operations"]
    assert [r["status"] for r in results] == ["201", "201", "201"]  # strings, as in RFC 7644 §3.7.3
    assert [r["bulkId"] for r in results] == ["alice", "bob", "team"]
    assert all(r["method"] == "POST" and r["version"].startswith('W/"') for r in results)
    alice, bob, team = (r["location"].rsplit("/", 1)[-1] for r in results)
    assert results[0]["location"].endswith(f"/Users/{alice}") and results[2]["location"].endswith(f"/Groups/{team}")
    members = scim.get(f"/Groups/{team}").json()["members"]
    assert sorted(m["value"] for m in members) == sorted([alice, bob])
    assert [g["value"] for g in scim.get(f"/Users/{alice}").json()["groups"]] == [team]


def test_patch_adds_members_created_in_the_same_request(scim):
    team = scim.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": f"T {uuid.uuid4().hex[:8]}"}).json()
    response = bulk(scim, [
        user_op("m1"),
        {"method": "PATCH", "path": f"/Groups/{team['id']}",
         "data": patch({"op": "add", "path": "members", "value": [{"value": "bulkId:m1"}]})},
    ])
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "200"] and results[1]["version"] != team["meta"]["version"]
    m1 = results[0]["location"].rsplit("/", 1)[-1]
    assert [m["value"] for m in scim.get(f"/Groups/{team['id']}").json()["members"]] == [m1]


def test_forward_references_wait_for_the_post_they_name(scim):
    # The Team comes first but names a user created later in the request (RFC 7644 §3.7.2).
    response = bulk(scim, [group_op("team", "bulkId:late"), user_op("late")])
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "201"]
    team, late = (r["location"].rsplit("/", 1)[-1] for r in results)
    assert [m["value"] for m in scim.get(f"/Groups/{team}").json()["members"]] == [late]


def test_put_patch_delete_by_bulk_id_path_and_version(scim):
    created = bulk(scim, [user_op("u", displayName="First")]).json()["Operations"][0]
    uid, version = created["location"].rsplit("/", 1)[-1], created["version"]
    name = scim.get(f"/Users/{uid}").json()["userName"]
    response = bulk(scim, [
        user_op("v"),
        {"method": "PATCH", "path": "/Users/bulkId:v", "data": patch({"op": "add", "path": "title", "value": "T"})},
        {"method": "PUT", "path": f"/Users/{uid}", "version": version,
         "data": {"schemas": [USER_SCHEMA], "userName": name, "displayName": "Second"}},
        {"method": "PATCH", "path": f"/Users/{uid}", "version": version,  # stale now: 412
         "data": patch({"op": "replace", "path": "displayName", "value": "Third"})},
        {"method": "DELETE", "path": "/Users/bulkId:v"},
    ])
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "200", "200", "412", "204"]
    v = results[0]["location"].rsplit("/", 1)[-1]
    assert results[1]["location"].endswith(f"/Users/{v}") and results[4]["location"].endswith(f"/Users/{v}")
    assert results[3]["response"]["schemas"] == [ERROR] and results[3]["location"].endswith(f"/Users/{uid}")
    assert scim.get(f"/Users/{uid}").json()["displayName"] == "Second"
    assert scim.get(f"/Users/{v}").status_code == 404


def test_errors_are_reported_per_operation_and_the_rest_proceeds(scim):
    name = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    response = bulk(scim, [
        user_op("ok1", name),
        user_op("dup", name),  # 409 uniqueness
        {"method": "GET", "path": "/Users"},  # not a bulk method
        {"method": "POST", "bulkId": "nopath", "data": {"schemas": [USER_SCHEMA], "userName": "x@y.z"}},
        {"method": "POST", "path": "/Widgets", "bulkId": "w", "data": {}},
        {"method": "PATCH", "path": "/Users/does-not-exist", "data": patch({"op": "add", "path": "title", "value": "x"})},
        user_op("bad", None, active="not-a-boolean-at-all"),
        group_op("needs-dup", "bulkId:dup"),  # references a failed POST: 409
        group_op("needs-ghost", "bulkId:ghost"),  # references no POST at all: 400
        user_op("ok2"),
    ])
    assert response.status_code == 200, response.text
    results = response.json()["Operations"]
    statuses = [r["status"] for r in results]
    assert statuses[0] == "201" and statuses[-1] == "201"
    assert statuses[1:9] == ["409", "400", "400", "400", "404", "400", "409", "400"]
    assert results[1]["response"]["scimType"] == "uniqueness" and "location" not in results[1]
    assert results[8]["response"]["scimType"] == "invalidValue"
    for failed in results[1:9]:
        assert failed["response"]["schemas"] == [ERROR] and failed["response"]["status"] == failed["status"]
    found = scim.get("/Users", params={"filter": f'userName eq "{name}"'}).json()
    assert found["totalResults"] == 1


def test_fail_on_errors_stops_after_that_many_errors(scim):
    name = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    late = f"late-{uuid.uuid4().hex[:8]}@example.com"
    response = bulk(
        scim,
        [user_op("a", name), user_op("b", name), user_op("c", name), user_op("d", late)],
        failOnErrors=2,
    )
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "409", "409"]  # stopped: "d" never ran
    assert scim.get("/Users", params={"filter": f'userName eq "{late}"'}).json()["totalResults"] == 0
    assert bulk(scim, [user_op("x")], failOnErrors=0).status_code == 400


def test_circular_references_are_409(scim):
    # Groups hold only users here, so a Team referencing another Team's bulkId cannot resolve either way.
    response = bulk(scim, [group_op("g1", "bulkId:g2"), group_op("g2", "bulkId:g1")])
    assert [r["status"] for r in response.json()["Operations"]] == ["409", "409"]


def test_each_operation_is_applied_once(stack, scim, org):
    names = [f"once-{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(5)]
    response = bulk(scim, [user_op(f"u{i}", name) for i, name in enumerate(names)])
    assert [r["status"] for r in response.json()["Operations"]] == ["201"] * 5
    for name in names:
        assert scim.get("/Users", params={"filter": f'userName eq "{name}"'}).json()["totalResults"] == 1
    events = stack.audit_events(org.id, wait_for=5)
    creates = [e for e in events if e["action"] == "scim:user:create"]
    assert len(creates) == 5 and len({e["command_id"] for e in creates}) == 5


def test_limits_are_413_and_nothing_is_applied(scim):
    spc = scim.get("/ServiceProviderConfig").json()["bulk"]
    assert spc["supported"] is True and spc["maxOperations"] >= 1 and spc["maxPayloadSize"] > 0
    tag = uuid.uuid4().hex[:8]
    too_many = [user_op(f"b{i}", f"{tag}-{i}@x.io") for i in range(spc["maxOperations"] + 1)]
    response = bulk(scim, too_many)
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == "413" and str(spc["maxOperations"]) in body["detail"]
    padding = "x" * (spc["maxPayloadSize"] + 1)
    response = bulk(scim, [user_op("big", f"{tag}-big@x.io", title=padding)])
    assert response.status_code == 413
    assert response.json()["detail"] == f"The size of the bulk operation exceeds the maxPayloadSize ({spc['maxPayloadSize']})."
    assert scim.get("/Users", params={"filter": f'userName sw "{tag}"'}).json()["totalResults"] == 0


def test_malformed_bulk_requests_are_400(scim):
    assert scim.post("/Bulk", json={"schemas": ["urn:nope"], "Operations": []}).json()["scimType"] == "invalidSyntax"
    assert scim.post("/Bulk", json={"schemas": [BULK_REQUEST]}).status_code == 400
    assert scim.post("/Bulk", json={"schemas": [BULK_REQUEST], "Operations": {}}).status_code == 400
    assert scim.post("/Bulk", json=[]).status_code == 400
    empty = bulk(scim, [])
    assert empty.status_code == 200 and empty.json()["Operations"] == []
    assert scim.get("/Bulk").status_code == 405
    assert scim.get("/Me").status_code == 501
