"""The SCIM-managed organization, end to end: the management API and CLI over a real stack.

Users and IdP-managed Teams are pushed through SCIM exactly as an IdP would; the management API
(``/api/v1/organizations/{id}``) and the ``scimgate users|teams`` commands then show them, refuse
what the IdP owns while SCIM is on, and allow what the product allows (pre-SCIM Teams, deleting a
leftover account).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.e2e.scim_bodies import GROUP_SCHEMA, okta_group, okta_user, patch
from tests.support.stack import REPO

SOURCE_OF_TRUTH = "identity provider is the source of truth"


# -- helpers ------------------------------------------------------------------------------------


def api(stack, org_id: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{stack.url}/api/v1/organizations/{org_id}", headers=headers, timeout=30)


@pytest.fixture
def mgmt(stack, org):
    with api(stack, org.id, org.token) as client:
        yield client


def email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@example.com"


def push_user(scim, user_name: str | None = None) -> dict:
    created = scim.post("/Users", json=okta_user(user_name or email()))
    assert created.status_code == 201, created.text
    return created.json()


def push_group(scim, name: str | None = None, members: list[str] = ()) -> dict:
    body = dict(okta_group(name or f"Team {uuid.uuid4().hex[:6]}"), members=[{"value": m} for m in members])
    created = scim.post("/Groups", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def set_active(scim, user_id: str, active: bool) -> None:
    changed = scim.patch(f"/Users/{user_id}", json=patch({"op": "replace", "value": {"active": active}}))
    assert changed.status_code in (200, 204), changed.text


def assert_error(response: httpx.Response, status: int, code: str, *, contains: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code
    assert contains.lower() in error["message"].lower()
    return error


def scim_member_ids(scim, group_id: str) -> set[str]:
    group = scim.get(f"/Groups/{group_id}")
    assert group.status_code == 200, group.text
    return {m["value"] for m in group.json().get("members") or []}


def cli(stack, *args: str) -> subprocess.CompletedProcess:
    env = dict(stack.env, SCIMGATE_DATABASE_URL=stack.database_url)
    return subprocess.run(
        [sys.executable, "-m", "scimgate", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


def events(stack, org_id: str, action: str, wait_for: int = 1) -> list[dict]:
    """Events of one action (the worker's relay sweeps the management API's outbox rows within seconds)."""
    import time

    deadline = time.monotonic() + 15
    while True:
        found = [e for e in stack.audit_events(org_id, timeout=0) if e["action"] == action]
        if len(found) >= wait_for or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


# -- reads --------------------------------------------------------------------------------------


def test_organization_summary_counts(stack, org, scim, mgmt):
    alice, bob = push_user(scim), push_user(scim)
    push_group(scim, members=[alice["id"], bob["id"]])
    set_active(scim, bob["id"], False)

    shown = mgmt.get(f"{stack.url}/api/v1/organizations/{org.id}")
    assert shown.status_code == 200, shown.text
    assert shown.headers["content-type"].startswith("application/json")
    body = shown.json()
    assert body["id"] == org.id and body["tier"] == "enterprise" and body["scimEnabled"] is True and body["name"]
    assert body["counts"] == {"users": 2, "activeUsers": 1, "inactiveUsers": 1, "teams": 1, "idpManagedTeams": 1}


def test_users_and_teams_show_what_scim_pushed(scim, mgmt):
    alice = push_user(scim)
    team = push_group(scim, members=[alice["id"]])

    users = mgmt.get("/users").json()
    assert users["totalResults"] == 1 and users["page"] == 1
    (listed,) = users["users"]
    assert listed["id"] == alice["id"] and listed["userName"] == alice["userName"]
    assert listed["displayName"] == "Test User" and listed["active"] is True and listed["idpManaged"] is True
    assert listed["teams"] == [{"id": team["id"], "name": team["displayName"], "idpManaged": True}]
    assert mgmt.get(f"/users/{alice['id']}").json() == listed

    teams = mgmt.get("/teams").json()
    (summary,) = teams["teams"]
    assert summary["id"] == team["id"] and summary["name"] == team["displayName"]
    assert summary["idpManaged"] is True and summary["memberCount"] == 1 and summary["activeMemberCount"] == 1
    shown = mgmt.get(f"/teams/{team['id']}").json()
    assert shown["members"] == [
        {"id": alice["id"], "userName": alice["userName"], "displayName": "Test User", "active": True}
    ]


def test_paging_users_teams_and_members(scim, mgmt):
    people = [push_user(scim) for _ in range(5)]
    team = push_group(scim, members=[p["id"] for p in people])
    seen = []
    for page in (1, 2, 3):
        body = mgmt.get("/users", params={"page": page, "pageSize": 2}).json()
        assert body["totalResults"] == 5 and body["pageSize"] == 2 and body["page"] == page
        seen += [u["id"] for u in body["users"]]
    assert seen == [p["id"] for p in people]
    assert mgmt.get("/users", params={"page": 4, "pageSize": 2}).json()["users"] == []
    first = mgmt.get(f"/teams/{team['id']}", params={"page": 1, "pageSize": 3}).json()
    members = mgmt.get(f"/teams/{team['id']}", params={"page": 2, "pageSize": 3}).json()
    assert len(first["members"]) == 3 and len(members["members"]) == 2
    assert {m["id"] for m in first["members"] + members["members"]} == {p["id"] for p in people}
    assert members["membersPage"] == {"page": 2, "pageSize": 3, "totalResults": 5}
    assert mgmt.get("/teams", params={"pageSize": 1}).json()["totalResults"] == 1
    for bad in ({"pageSize": 0}, {"pageSize": 1001}, {"page": 0}, {"page": "x"}):
        assert_error(mgmt.get("/users", params=bad), 400, "invalid_request")


def test_unknown_ids_and_endpoints_are_json_errors(mgmt):
    assert_error(mgmt.get(f"/users/{uuid.uuid4()}"), 404, "not_found")
    assert_error(mgmt.get(f"/teams/{uuid.uuid4()}"), 404, "not_found")
    assert_error(mgmt.delete(f"/users/{uuid.uuid4()}"), 404, "not_found")
    assert_error(mgmt.get("/nothing-here"), 404, "not_found")
    wrong = mgmt.put("/users")
    assert_error(wrong, 405, "method_not_allowed")
    assert wrong.headers["Allow"] == "GET"
    assert_error(mgmt.post("/teams", content=b"{not json", headers={"Content-Type": "application/json"}),
                 400, "invalid_json")


# -- auth and tenancy ---------------------------------------------------------------------------


def test_auth_refusals(stack, org, mgmt):
    with api(stack, org.id, None) as anonymous:
        refused = anonymous.get("/users")
        assert_error(refused, 401, "unauthorized")
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    with api(stack, org.id, "not-a-token") as bogus:
        assert_error(bogus.get("/users"), 401, "invalid_token")

    member = stack.token_for(org.id, "member")
    with api(stack, org.id, member) as reader:
        assert reader.get("/users").status_code == 200
        assert reader.get("/teams").status_code == 200
        assert reader.get(f"{stack.url}/api/v1/organizations/{org.id}").status_code == 200
        assert_error(reader.delete(f"/users/{uuid.uuid4()}"), 403, "owner_required")
        assert_error(reader.post("/teams", json={"name": "x"}), 403, "owner_required")
        assert_error(reader.put("/scim", json={"enabled": False}), 403, "owner_required")
    refusals = [e for e in stack.audit_events(org.id, wait_for=1) if e["action"] == "org:auth:refused"]
    assert refusals and all(member not in json.dumps(e) for e in refusals)


def test_another_orgs_token_gets_the_unknown_org_answer(stack, org, scim):
    victim_user = push_user(scim)
    victim_team = push_group(scim, members=[victim_user["id"]])
    other = stack.new_org()
    unknown_org = "c" + "0" * 24

    with api(stack, org.id, other.token) as cross, api(stack, unknown_org, other.token) as nowhere:
        for path in ("", "/users", f"/users/{victim_user['id']}", "/teams", f"/teams/{victim_team['id']}"):
            base = f"{stack.url}/api/v1/organizations"
            a, b = cross.get(f"{base}/{org.id}{path}"), nowhere.get(f"{base}/{unknown_org}{path}")
            assert a.status_code == b.status_code == 401
            assert a.json()["error"]["code"] == b.json()["error"]["code"] == "invalid_token"
            assert a.json()["error"]["message"].replace(org.id, "X") == b.json()["error"]["message"].replace(unknown_org, "X")
        assert cross.delete(f"/users/{victim_user['id']}").status_code == 401
        assert cross.delete(f"/teams/{victim_team['id']}").status_code == 401
        assert cross.put("/scim", json={"enabled": False}).status_code == 401

    # The other organization's own URLs do not reach this organization's resources either.
    with api(stack, other.id, other.token) as own:
        assert_error(own.get(f"/users/{victim_user['id']}"), 404, "not_found")
        assert_error(own.delete(f"/users/{victim_user['id']}"), 404, "not_found")
        assert_error(own.get(f"/teams/{victim_team['id']}"), 404, "not_found")
        assert_error(own.post(f"/teams/{victim_team['id']}/members", json={"userIds": [victim_user["id"]]}),
                     404, "not_found")
        assert own.get("/users").json()["totalResults"] == 0
    assert scim.get(f"/Users/{victim_user['id']}").status_code == 200
    assert scim_member_ids(scim, victim_team["id"]) == {victim_user["id"]}


# -- the SCIM toggle ----------------------------------------------------------------------------


def test_scim_toggle_needs_owner_and_enterprise_tier(stack, org, mgmt):
    off = mgmt.put("/scim", json={"enabled": False})
    assert off.status_code == 200 and off.json()["scimEnabled"] is False
    with stack.scim(org) as scim:
        refused = scim.get("/Users")
        assert refused.status_code == 403 and "disabled" in refused.json()["detail"]
    on = mgmt.put("/scim", json={"enabled": True})
    assert on.status_code == 200 and on.json()["scimEnabled"] is True
    with stack.scim(org) as scim:
        assert scim.get("/Users").status_code == 200
    assert_error(mgmt.put("/scim", json={"enabled": "yes"}), 400, "invalid_request")
    assert_error(mgmt.put("/scim", json=[]), 400, "invalid_json")

    team_tier = stack.new_org(tier="team", scim=False)
    with api(stack, team_tier.id, team_tier.token) as client:
        error = assert_error(client.put("/scim", json={"enabled": True}), 403, "enterprise_tier_required",
                             contains="Enterprise tier")
        assert "team tier" in error["message"]
        assert client.get(f"{stack.url}/api/v1/organizations/{team_tier.id}").json()["scimEnabled"] is False
        assert client.put("/scim", json={"enabled": False}).status_code == 200
    actions = [e["action"] for e in events(stack, org.id, "org:scim:enable")]
    assert actions == ["org:scim:enable"]


# -- SCIM on: the IdP is the source of truth ----------------------------------------------------


def test_while_scim_is_on_idp_teams_and_new_teams_are_refused(stack, org, scim, mgmt):
    alice, bob = push_user(scim), push_user(scim)
    team = push_group(scim, members=[alice["id"]])

    assert_error(mgmt.post("/teams", json={"name": "Hand made"}), 409, "scim_managed", contains=SOURCE_OF_TRUTH)
    assert_error(mgmt.post(f"/teams/{team['id']}/members", json={"userIds": [bob["id"]]}), 409, "scim_managed",
                 contains=SOURCE_OF_TRUTH)
    assert_error(mgmt.patch(f"/teams/{team['id']}", json={"name": "Renamed"}), 409, "scim_managed",
                 contains=SOURCE_OF_TRUTH)
    assert_error(mgmt.delete(f"/teams/{team['id']}/members/{alice['id']}"), 409, "scim_managed",
                 contains=SOURCE_OF_TRUTH)
    assert_error(mgmt.delete(f"/teams/{team['id']}"), 409, "scim_managed", contains=SOURCE_OF_TRUTH)

    # Nothing changed: the IdP's view is intact.
    assert scim_member_ids(scim, team["id"]) == {alice["id"]}
    assert scim.get(f"/Groups/{team['id']}").json()["displayName"] == team["displayName"]
    assert mgmt.get("/teams").json()["totalResults"] == 1
    # The IdP itself still manages the Team through SCIM.
    added = scim.patch(f"/Groups/{team['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": bob["id"]}]}))
    assert added.status_code in (200, 204)
    assert mgmt.get(f"/teams/{team['id']}").json()["memberCount"] == 2

    refused = events(stack, org.id, "org:team:create")
    assert refused and refused[0]["outcome"] == "refused" and refused[0]["detail"]["code"] == "scim_managed"
    assert refused[0]["status"] == 409 and refused[0]["token_id"] == org.token_id
    assert org.token not in json.dumps(refused)


def test_pre_scim_teams_stay_editable_after_scim_is_turned_on(stack, org, scim, mgmt):
    alice, bob, carol = push_user(scim), push_user(scim), push_user(scim)
    assert mgmt.put("/scim", json={"enabled": False}).json()["scimEnabled"] is False

    created = mgmt.post("/teams", json={"name": "Legacy admins", "userIds": [alice["id"]]})
    assert created.status_code == 201, created.text
    legacy = created.json()
    assert created.headers["Location"].endswith(f"/teams/{legacy['id']}")
    assert legacy["idpManaged"] is False and legacy["memberCount"] == 1
    added = mgmt.post(f"/teams/{legacy['id']}/members", json={"userIds": [bob["id"], carol["id"], alice["id"]]})
    assert added.status_code == 200, added.text
    assert sorted(added.json()["added"]) == sorted([bob["id"], carol["id"]])
    assert added.json()["team"]["memberCount"] == 3
    assert_error(mgmt.post("/teams", json={"name": "legacy ADMINS"}), 409, "name_taken")
    assert_error(mgmt.post(f"/teams/{legacy['id']}/members", json={"userIds": [str(uuid.uuid4())]}), 400,
                 "unknown_users")

    assert mgmt.put("/scim", json={"enabled": True}).json()["scimEnabled"] is True
    # Still refused for every Team: creating Teams and adding users.
    assert_error(mgmt.post("/teams", json={"name": "Another"}), 409, "scim_managed", contains=SOURCE_OF_TRUTH)
    assert_error(mgmt.post(f"/teams/{legacy['id']}/members", json={"userIds": [bob["id"]]}), 409, "scim_managed",
                 contains=SOURCE_OF_TRUTH)
    # Allowed for a Team made before SCIM: remove members, rename, delete.
    assert mgmt.delete(f"/teams/{legacy['id']}/members/{bob['id']}").status_code == 204
    assert_error(mgmt.delete(f"/teams/{legacy['id']}/members/{bob['id']}"), 404, "not_found")
    renamed = mgmt.patch(f"/teams/{legacy['id']}", json={"name": "Former admins"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Former admins"
    assert {m["id"] for m in mgmt.get(f"/teams/{legacy['id']}").json()["members"]} == {alice["id"], carol["id"]}
    # The SCIM view of the pre-SCIM Team agrees (it is a Group like any other to the IdP).
    assert scim_member_ids(scim, legacy["id"]) == {alice["id"], carol["id"]}
    assert mgmt.delete(f"/teams/{legacy['id']}").status_code == 204
    assert_error(mgmt.get(f"/teams/{legacy['id']}"), 404, "not_found")
    assert scim.get(f"/Groups/{legacy['id']}").status_code == 404
    assert all(u["teams"] == [] for u in mgmt.get("/users").json()["users"])

    for action in ("org:team:create", "org:team:member:add", "org:team:member:remove", "org:team:rename",
                   "org:team:delete", "org:scim:disable"):
        found = [e for e in events(stack, org.id, action) if e["outcome"] == "success"]
        assert found, action
        assert found[0]["detail"]["via"] == "api" and found[0]["token_id"] == org.token_id


def test_while_scim_is_off_everything_is_allowed_even_on_idp_teams(org, scim, mgmt):
    alice, bob = push_user(scim), push_user(scim)
    team = push_group(scim, members=[alice["id"]])
    mgmt.put("/scim", json={"enabled": False})

    assert mgmt.post(f"/teams/{team['id']}/members", json={"userId": bob["id"]}).status_code == 200
    assert mgmt.delete(f"/teams/{team['id']}/members/{alice['id']}").status_code == 204
    renamed = mgmt.patch(f"/teams/{team['id']}", json={"name": "Renamed by hand"})
    assert renamed.status_code == 200 and renamed.json()["idpManaged"] is True
    made = mgmt.post("/teams", json={"name": "Made by hand"}).json()
    assert made["idpManaged"] is False
    assert mgmt.delete(f"/teams/{team['id']}").status_code == 204
    assert [t["id"] for t in mgmt.get("/teams").json()["teams"]] == [made["id"]]
    assert_error(mgmt.patch(f"/teams/{made['id']}", json={}), 400, "invalid_request")
    assert_error(mgmt.patch(f"/teams/{made['id']}", json={"name": "  "}), 400, "invalid_request")


# -- deactivation, delete, re-push --------------------------------------------------------------


def test_deactivated_user_keeps_memberships_but_counts_in_no_active_members(scim, mgmt):
    alice, bob = push_user(scim), push_user(scim)
    one = push_group(scim, members=[alice["id"], bob["id"]])
    two = push_group(scim, members=[alice["id"]])

    set_active(scim, alice["id"], False)
    user = mgmt.get(f"/users/{alice['id']}").json()
    assert user["active"] is False and {t["id"] for t in user["teams"]} == {one["id"], two["id"]}
    counts = {t["id"]: (t["memberCount"], t["activeMemberCount"]) for t in mgmt.get("/teams").json()["teams"]}
    assert counts == {one["id"]: (2, 1), two["id"]: (1, 0)}
    members = {m["id"]: m["active"] for m in mgmt.get(f"/teams/{one['id']}").json()["members"]}
    assert members == {alice["id"]: False, bob["id"]: True}
    assert scim_member_ids(scim, one["id"]) == {alice["id"], bob["id"]}
    assert scim.get(f"/Users/{alice['id']}").json()["active"] is False  # inactive users are still returned

    set_active(scim, alice["id"], True)
    counts = {t["id"]: (t["memberCount"], t["activeMemberCount"]) for t in mgmt.get("/teams").json()["teams"]}
    assert counts == {one["id"]: (2, 2), two["id"]: (1, 1)}
    assert mgmt.get(f"/users/{alice['id']}").json()["active"] is True


def test_entra_string_boolean_deactivation_shows_inactive(scim, mgmt):
    alice = push_user(scim)
    team = push_group(scim, members=[alice["id"]])
    body = patch({"op": "Replace", "path": "active", "value": "False"})
    assert scim.patch(f"/Users/{alice['id']}", json=body).status_code in (200, 204)
    assert mgmt.get(f"/teams/{team['id']}").json()["activeMemberCount"] == 0
    assert mgmt.get("/users").json()["users"][0]["active"] is False


def test_delete_leftover_account_while_scim_is_on(stack, org, scim, mgmt):
    alice, bob = push_user(scim), push_user(scim)
    one = push_group(scim, members=[alice["id"], bob["id"]])
    two = push_group(scim, members=[alice["id"]])
    set_active(scim, alice["id"], False)  # Okta deactivated, never deletes

    assert mgmt.delete(f"/users/{alice['id']}").status_code == 204
    assert_error(mgmt.get(f"/users/{alice['id']}"), 404, "not_found")
    assert scim.get(f"/Users/{alice['id']}").status_code == 404
    assert scim_member_ids(scim, one["id"]) == {bob["id"]}
    assert scim_member_ids(scim, two["id"]) == set()
    counts = {t["id"]: t["memberCount"] for t in mgmt.get("/teams").json()["teams"]}
    assert counts == {one["id"]: 1, two["id"]: 0}
    assert_error(mgmt.delete(f"/users/{alice['id']}"), 404, "not_found")

    (event,) = events(stack, org.id, "org:user:delete")
    assert event["outcome"] == "success" and event["resource_id"] == alice["id"] and event["status"] == 204
    assert event["detail"]["teams_removed"] == 2 and event["detail"]["via"] == "api"
    assert org.token not in json.dumps(event)


def test_user_deleted_then_pushed_again_is_created_anew(scim, mgmt):
    user_name = email("returning")
    first = push_user(scim, user_name)
    team = push_group(scim, members=[first["id"]])
    assert mgmt.delete(f"/users/{first['id']}").status_code == 204

    # Okta's assign flow: look up by userName (nothing), then create.
    lookup = scim.get("/Users", params={"filter": f'userName eq "{user_name}"'})
    assert lookup.status_code == 200 and lookup.json()["totalResults"] == 0
    again = push_user(scim, user_name)
    assert again["id"] != first["id"] and again["userName"] == user_name and again["active"] is True
    shown = mgmt.get(f"/users/{again['id']}").json()
    assert shown["teams"] == [] and shown["active"] is True
    assert scim_member_ids(scim, team["id"]) == set()
    assert scim.get(f"/Users/{first['id']}").status_code == 404

    # And the same through SCIM's own DELETE (Entra's hard delete), userName differing in case.
    assert scim.delete(f"/Users/{again['id']}").status_code == 204
    third = push_user(scim, user_name.upper())
    assert third["id"] not in (first["id"], again["id"])
    assert [u["id"] for u in mgmt.get("/users").json()["users"]] == [third["id"]]


# -- nested groups (SCIM) -----------------------------------------------------------------------


def test_nested_group_member_is_refused_on_create_and_patch(scim):
    alice = push_user(scim)
    parent = push_group(scim, members=[alice["id"]])
    child = push_group(scim)
    created = scim.post(
        "/Groups",
        json={"schemas": [GROUP_SCHEMA], "displayName": "Nested", "members": [{"value": child["id"], "type": "Group"}]},
    )
    assert created.status_code == 400 and "nested groups are not supported" in created.json()["detail"]
    assert created.json()["scimType"] == "invalidValue"
    added = scim.patch(
        f"/Groups/{parent['id']}",
        json=patch({"op": "add", "path": "members", "value": [{"value": child["id"], "type": "Group"}]}),
    )
    assert added.status_code == 400 and "nested groups are not supported" in added.json()["detail"]
    assert scim_member_ids(scim, parent["id"]) == {alice["id"]}


def test_group_id_as_member_without_type_says_nested_groups_are_unsupported(scim):
    parent, child = push_group(scim), push_group(scim)
    added = scim.patch(
        f"/Groups/{parent['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": child["id"]}]})
    )
    assert added.status_code == 400
    assert "nested groups are not supported" in added.json()["detail"]


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_users_and_teams_list_show(stack, org, scim):
    alice, bob = push_user(scim), push_user(scim)
    team = push_group(scim, members=[alice["id"], bob["id"]])
    set_active(scim, bob["id"], False)

    listed = cli(stack, "users", "list", "--org", org.id, "--json")
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert body["totalResults"] == 2
    assert {u["id"]: u["active"] for u in body["users"]} == {alice["id"]: True, bob["id"]: False}
    text = cli(stack, "users", "list", "--org", org.id)
    assert text.returncode == 0 and "IDP MANAGED" in text.stdout and alice["userName"] in text.stdout

    shown = cli(stack, "users", "show", "--org", org.id, bob["id"], "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["teams"][0]["id"] == team["id"]
    assert "active:       no" in cli(stack, "users", "show", "--org", org.id, bob["id"]).stdout

    teams = json.loads(cli(stack, "teams", "list", "--org", org.id, "--json").stdout)
    assert [(t["id"], t["memberCount"], t["activeMemberCount"], t["idpManaged"]) for t in teams["teams"]] == [
        (team["id"], 2, 1, True)
    ]
    detail = json.loads(cli(stack, "teams", "show", "--org", org.id, team["id"], "--json").stdout)
    assert {m["id"]: m["active"] for m in detail["members"]} == {alice["id"]: True, bob["id"]: False}
    text = cli(stack, "teams", "show", "--org", org.id, team["id"]).stdout
    assert "2 (1 active)" in text and "inactive" in text

    missing = cli(stack, "users", "show", "--org", org.id, str(uuid.uuid4()))
    assert missing.returncode == 2 and "not found" in missing.stderr
    other = stack.new_org()
    assert cli(stack, "teams", "show", "--org", other.id, team["id"]).returncode == 2  # tenant isolation


def test_cli_users_delete_removes_from_org_and_teams(stack, org, scim):
    alice = push_user(scim)
    team = push_group(scim, members=[alice["id"]])
    deleted = cli(stack, "users", "delete", "--org", org.id, alice["id"])
    assert deleted.returncode == 0, deleted.stderr
    assert "removed from 1 Team" in deleted.stdout
    assert scim.get(f"/Users/{alice['id']}").status_code == 404
    assert scim_member_ids(scim, team["id"]) == set()
    again = cli(stack, "users", "delete", "--org", org.id, alice["id"])
    assert again.returncode == 2 and "not found" in again.stderr
    (event,) = events(stack, org.id, "org:user:delete")
    assert event["detail"]["via"] == "cli" and "token_id" not in event


def test_management_writes_alongside_idp_traffic(stack, org, scim, mgmt):
    """Deleting users and reading while the IdP pushes memberships in parallel: no 5xx, a consistent end state."""
    from concurrent.futures import ThreadPoolExecutor

    people = [push_user(scim) for _ in range(12)]
    team = push_group(scim)
    doomed = {p["id"] for p in people[::3]}

    def idp_add(person):
        body = patch({"op": "add", "path": "members", "value": [{"value": person["id"]}]})
        with stack.scim(org) as client:
            return client.patch(f"/Groups/{team['id']}", json=body).status_code

    def admin_delete(user_id):
        with api(stack, org.id, org.token) as client:
            return client.delete(f"/users/{user_id}").status_code

    with ThreadPoolExecutor(8) as pool:
        adds = [pool.submit(idp_add, p) for p in people]
        deletes = [pool.submit(admin_delete, uid) for uid in doomed]
        reads = [pool.submit(lambda: mgmt.get(f"/teams/{team['id']}").status_code) for _ in range(4)]
    statuses = [f.result() for f in adds + deletes + reads]
    assert all(status < 500 for status in statuses), [s for s in statuses if s >= 500]
    assert all(f.result() == 204 for f in deletes)
    # A member add that raced a delete either landed first (then the delete removed it) or was refused.
    assert all(f.result() in (200, 204, 400) for f in adds)
    survivors = {p["id"] for p in people} - doomed
    assert all(f.result() in (200, 204) for f, p in zip(adds, people) if p["id"] in survivors)
    members = {m["id"] for m in mgmt.get(f"/teams/{team['id']}", params={"pageSize": 100}).json()["members"]}
    assert members == survivors
    assert scim_member_ids(scim, team["id"]) == members


def _management_routes() -> list[tuple[str, str]]:
    from api.management import management_app

    fake = "00000000-0000-0000-0000-000000000000"
    org_routes = "/organizations/{org_id}"  # the one route of no organization is operators' (test_provisioning_log)
    return [
        (route.method, re.sub(r"\{\w+\}", fake, route.resource.canonical.removeprefix(org_routes)))
        for route in management_app().router.routes() if route.resource.canonical.startswith(org_routes)
    ]


@pytest.mark.parametrize(("method", "path"), _management_routes())
def test_every_management_route_is_behind_the_token_check(stack, org, method, path):
    """Structure, not discipline: each route of the sub-application, now and later, needs a token
    of the organization (and an Owner's to change anything)."""
    with api(stack, org.id, None) as anonymous:
        assert_error(anonymous.request(method, path, json={}), 401, "unauthorized")
    if method not in ("GET", "HEAD"):
        with api(stack, org.id, stack.token_for(org.id, "member")) as member:
            assert_error(member.request(method, path, json={}), 403, "owner_required")
