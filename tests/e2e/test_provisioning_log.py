"""The provisioning log end to end: SCIM writes through a real ingress and worker land in the log
once each, traceable by request id, without a password; the API's tenancy, filters and errors;
the tokens API; ``scimgate log`` and ``scimgate token list``."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.e2e.scim_bodies import okta_group, okta_user, patch
from tests.e2e.test_operators import new_operator, scimgate

PASSWORD = "Pa55-word-never-logged-7f3a"


def log_api(stack, token: str | None, org_id: str | None = None) -> httpx.Client:
    base = f"{stack.url}/api/v1/organizations/{org_id}" if org_id else f"{stack.url}/api/v1"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=30)


def wait_for_entries(client: httpx.Client, params: dict, count: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/provisioning-log", params={**params, "limit": "500"})
        assert response.status_code == 200, response.text
        entries = response.json()["entries"]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


@pytest.fixture
def traffic(stack, org):
    """An Okta-like push: users with passwords (POST, PUT, PATCH), a Team, a clash, a bad member."""
    name = f"ada.{uuid.uuid4().hex[:6]}@example.com"
    ids = {}
    with stack.scim(org) as scim:
        body = dict(okta_user(name, external_id=f"ext-{uuid.uuid4().hex[:6]}"), password=PASSWORD)
        created = scim.post("/Users", json=body)
        assert created.status_code == 201
        user = created.json()
        ids["create"] = created.headers["X-Request-Id"]
        put = scim.put(f"/Users/{user['id']}", json=dict(body, displayName="Ada L", password=PASSWORD))
        assert put.status_code == 200
        ids["put"] = put.headers["X-Request-Id"]
        patched = scim.patch(f"/Users/{user['id']}", json=patch(
            {"op": "replace", "value": {"password": PASSWORD, "active": False}}))
        assert patched.status_code in (200, 204)
        ids["patch"] = patched.headers["X-Request-Id"]
        clash = scim.post("/Users", json=dict(body, externalId="other"))
        assert clash.status_code == 409
        ids["clash"] = clash.headers["X-Request-Id"]
        team = scim.post("/Groups", json=dict(okta_group(f"Astro {uuid.uuid4().hex[:4]}"),
                                              members=[{"value": user["id"]}]))
        assert team.status_code == 201
        bad_member = scim.patch(f"/Groups/{team.json()['id']}", json=patch(
            {"op": "add", "path": "members", "value": [{"value": str(uuid.uuid4())}]}))
        assert bad_member.status_code == 400
        ids["bad_member"] = bad_member.headers["X-Request-Id"]
    return {"user": user, "team": team.json(), "name": name, "request_ids": ids}


def test_every_scim_write_is_logged_once_traceable_and_without_a_password(stack, org, traffic):
    with log_api(stack, org.token, org.id) as client:
        entries = wait_for_entries(client, {}, 6)
        by_request = {}
        for entry in entries:
            by_request.setdefault(entry["requestId"], []).append(entry)
        for key, request_id in traffic["request_ids"].items():
            assert len(by_request.get(request_id, [])) == 1, (key, entries)
        assert [e["time"] for e in entries] == sorted((e["time"] for e in entries), reverse=True)
        created = by_request[traffic["request_ids"]["create"]][0]
        assert created["outcome"] == "applied" and created["resource"]["name"] == traffic["name"]
        assert "password" in created["changed"] and "password" not in created["newValues"]
        assert created["queueWaitMs"] is not None and created["applyMs"] is not None and created["commandId"]
        put = by_request[traffic["request_ids"]["put"]][0]
        assert put["newValues"]["displayName"] == "Ada L" and put["oldValues"]["displayName"] == "Test User"
        clash = by_request[traffic["request_ids"]["clash"]][0]
        assert clash["outcome"] == "rejected" and clash["status"] == 409
        assert clash["error"]["scimType"] == "uniqueness" and "userName" in clash["suggestedFix"]
        bad = by_request[traffic["request_ids"]["bad_member"]][0]
        assert bad["status"] == 400 and "not a user of this organization" in bad["suggestedFix"]
        mine = client.get("/provisioning-log", params={"user": traffic["name"].upper()}).json()["entries"]
        assert {e["requestId"] for e in mine} >= {traffic["request_ids"][k] for k in ("create", "put", "patch")}
        teams = client.get("/provisioning-log", params={"team": traffic["team"]["displayName"]}).json()["entries"]
        assert teams and all(e["resource"]["type"] == "Group" for e in teams)
    with stack.engine.connect() as conn:
        rows = str(list(conn.execute(text("SELECT * FROM provisioning_log WHERE org_id = :o"), {"o": org.id})))
    assert PASSWORD not in rows and org.token not in rows


def test_paging_through_the_api(stack, org, traffic):
    with log_api(stack, org.token, org.id) as client:
        everything = wait_for_entries(client, {}, 6)
        seen, cursor = [], None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = client.get("/provisioning-log", params=params).json()
            seen += [e["id"] for e in page["entries"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen[: len(everything)] == [e["id"] for e in everything][: len(seen)] and len(seen) == len(set(seen))


def test_tenancy_of_the_log(stack, org, traffic):
    other = stack.new_org()
    member = stack.token_for(org.id, "member")
    with log_api(stack, org.token, org.id) as client:
        wait_for_entries(client, {}, 6)
    with log_api(stack, other.token, org.id) as client:  # another organization's token
        assert client.get("/provisioning-log").status_code == 401
    with log_api(stack, other.token, other.id) as client:  # ... sees only its own
        assert all(e["orgId"] == other.id for e in client.get("/provisioning-log").json()["entries"])
    with log_api(stack, member, org.id) as client:  # any role of the organization reads
        assert client.get("/provisioning-log").status_code == 200
    with log_api(stack, org.token) as client:  # across organizations: operators only
        refused = client.get("/provisioning-log")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "operator_required"
    with log_api(stack, None) as client:
        assert client.get("/provisioning-log").status_code == 401
    operator = new_operator(stack)
    with log_api(stack, operator["token"]) as client:
        everyone = wait_for_entries(client, {"org": org.id}, 6)
        assert everyone and {e["orgId"] for e in everyone} == {org.id}
        assert client.get("/provisioning-log", params={"user": traffic["name"]}).json()["entries"]
    with log_api(stack, operator["token"], org.id) as client:  # operators do not pass as an organization
        assert client.get("/provisioning-log").status_code == 401


@pytest.mark.parametrize("params", [
    {"since": "yesterday"}, {"limit": "9999"}, {"outcome": "bogus"}, {"colour": "blue"}, {"cursor": "%%%"},
    {"since": "1h", "until": "2h"}, {"user": "x" * 600},
])
def test_bad_filters_are_400_json_errors(stack, org, params):
    with log_api(stack, org.token, org.id) as client:
        response = client.get("/provisioning-log", params=params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_filter"


def test_refusals_reach_the_log_with_a_fix(stack, org):
    response = httpx.get(f"{stack.url}/scim/v2/{org.id}/Users", headers={"Authorization": "Bearer wrong-token"})
    request_id = response.headers["X-Request-Id"]
    with log_api(stack, org.token, org.id) as client:
        [entry] = wait_for_entries(client, {"requestId": request_id}, 1)
    assert entry["outcome"] == "refused" and entry["status"] == 401 and "token" in entry["suggestedFix"]
    assert "wrong-token" not in json.dumps(entry)


def test_tokens_api_lists_creates_and_revokes_for_owners(stack, org):
    member = stack.token_for(org.id, "member")
    other = stack.new_org()
    with log_api(stack, org.token, org.id) as client:
        made = client.post("/tokens", json={"role": "member", "name": "ci"})
        assert made.status_code == 201 and set(made.json()) >= {"token", "id"}
        listed = client.get("/tokens").json()["tokens"]
        assert {t["id"] for t in listed} >= {org.token_id, made.json()["id"]}
        assert made.json()["token"] not in json.dumps(listed) and org.token not in json.dumps(listed)
        assert all(set(t) == {"id", "role", "name", "created", "lastUsed", "revoked"} for t in listed)
        assert client.delete(f"/tokens/{other.token_id}").status_code == 404  # never another organization's
        assert client.delete(f"/tokens/{made.json()['id']}").status_code == 204
        assert client.delete(f"/tokens/{made.json()['id']}").status_code == 404
        assert client.post("/tokens", json={"role": "god"}).status_code == 400
        revoked = [t for t in client.get("/tokens").json()["tokens"] if t["id"] == made.json()["id"]]
        assert revoked[0]["revoked"] is not None
        actions: set[str] = set()
        deadline = time.monotonic() + 20
        while not {"org:token:create", "org:token:revoke"} <= actions and time.monotonic() < deadline:
            time.sleep(0.3)
            actions = {e["action"] for e in client.get("/provisioning-log").json()["entries"]}
        assert {"org:token:create", "org:token:revoke"} <= actions
    with log_api(stack, member, org.id) as client:
        assert client.get("/tokens").status_code == 403
        assert client.post("/tokens", json={"role": "owner"}).status_code == 403
    with log_api(stack, other.token, other.id) as client:
        assert client.get("/users").status_code == 200  # the other organization's token still works


def test_scimgate_log_and_token_list(stack, org, traffic):
    with log_api(stack, org.token, org.id) as client:
        wait_for_entries(client, {}, 6)
    found = json.loads(scimgate(stack, "log", "--org", org.id, "--user", traffic["name"], "--since", "24h",
                                "--json").stdout)
    assert found["entries"] and all(e["resource"]["type"] == "User" for e in found["entries"])
    human = scimgate(stack, "log", "--org", org.id, "--outcome", "rejected", "--limit", "10").stdout
    assert "scim:user:create" in human and "rejected" in human and "fix:" in human
    assert len(human.strip().splitlines()) >= 2
    paged = scimgate(stack, "log", "--org", org.id, "--limit", "1").stdout
    assert "--cursor" in paged
    assert scimgate(stack, "log", "--org", org.id, "--since", "yesterday", check=False).returncode == 2
    tokens = json.loads(scimgate(stack, "token", "list", "--org", org.id, "--json").stdout)
    assert org.token_id in {t["id"] for t in tokens} and org.token not in json.dumps(tokens)
    assert org.token_id in scimgate(stack, "token", "list", "--org", org.id).stdout
