"""Random bad input over HTTP never gets a 500: every answer is a 2xx or a SCIM error (principle 6)."""

from __future__ import annotations

import os
import random
import uuid
from urllib.parse import quote

import pytest

import json

from tests.e2e.scim_bodies import ERROR, okta_group, okta_user

KEYS = [
    "userName", "name", "givenName", "familyName", "emails", "value", "type", "primary", "active",
    "displayName", "members", "groups", "externalId", "schemas", "meta", "id", "password", "phoneNumbers",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "manager", "department", "Operations",
    "op", "path", "addresses", "x509Certificates", "roles", "$ref", "display", "locale", "title", "nickName",
]
PATHS = [
    "userName", "name.givenName", "emails", 'emails[type eq "work"]', 'emails[type eq "work"].value',
    "members", 'members[value eq "x"]', "active", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "nosuch", "name[", "emails[type eq]", "", "meta.created", "id", "groups",
]


SEARCH_KEYS = ["schemas", "attributes", "excludedAttributes", "filter", "sortBy", "sortOrder", "startIndex", "count",
               "cursor", "ATTRIBUTES", "Filter"]


def _dumps(body) -> bytes:
    return json.dumps(body).encode()  # stdlib: big integers too


def random_value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False, "True", "false"])
    if choice == 2:
        return rng.choice([0, -1, 3.5, 10**20])
    if choice == 3:
        return rng.choice(["", "x", "a@example.com", "\u0000", "ü" * 3, "bulkId:q", str(uuid.uuid4())])
    if choice == 4:
        return rng.choice(KEYS)
    if choice == 5:
        return "y" * rng.randrange(1, 300)
    if choice in (6, 7):
        return {rng.choice(KEYS): random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}
    return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]


def random_patch(rng: random.Random) -> dict:
    operations = []
    for _ in range(rng.randrange(0, 4)):
        op = {"op": rng.choice(["add", "Replace", "remove", "frob", 7])}
        if rng.random() < 0.8:
            op["path"] = rng.choice(PATHS)
        if rng.random() < 0.8:
            op["value"] = random_value(rng)
        operations.append(op)
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}
    if rng.random() < 0.2:
        body = random_value(rng)
    return body


def assert_no_500(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.json()["schemas"] == [ERROR], response.text[:500]


SEEDS = [int(seed) for seed in os.environ.get("SCIMGATE_FUZZ_SEEDS", "7,8,9").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_bodies_never_500(scim, seed):
    rng = random.Random(seed)
    user = scim.post("/Users", json=okta_user(f"fuzz.{uuid.uuid4().hex[:6]}@example.com")).json()
    group = scim.post("/Groups", json=okta_group(f"fuzz-{uuid.uuid4().hex[:6]}")).json()
    for _ in range(60):
        user_body = okta_user(f"f{rng.randrange(10**9)}@example.com")
        for key in rng.sample(sorted(user_body), 2):
            user_body[key] = random_value(rng)
        if rng.random() < 0.5:
            user_body[rng.choice(KEYS)] = random_value(rng)
        assert_no_500(scim.post("/Users", content=_dumps(user_body),
                                headers={"Content-Type": "application/scim+json"}))
        assert_no_500(scim.put(f"/Users/{user['id']}", content=_dumps(user_body),
                               headers={"Content-Type": "application/scim+json"}))
        assert_no_500(scim.patch(f"/Users/{user['id']}", content=_dumps(random_patch(rng)),
                                 headers={"Content-Type": "application/scim+json"}))
        assert_no_500(scim.patch(f"/Groups/{group['id']}", content=_dumps(random_patch(rng)),
                                 headers={"Content-Type": "application/scim+json"}))
        group_body = okta_group(f"g{rng.randrange(10**9)}")
        group_body[rng.choice(["members", "displayName", "externalId", rng.choice(KEYS)])] = random_value(rng)
        assert_no_500(scim.post("/Groups", content=_dumps(group_body),
                                headers={"Content-Type": "application/scim+json"}))
        query = {rng.choice(["filter", "sortBy", "attributes", "excludedAttributes", "startIndex", "count",
                             "cursor", "sortOrder"]): str(random_value(rng))}
        assert_no_500(scim.get("/Users", params=query))
        assert_no_500(scim.get("/Groups", params=query))
        search = {rng.choice(SEARCH_KEYS): random_value(rng) for _ in range(rng.randrange(1, 4))}
        assert_no_500(scim.post(rng.choice(["/.search", "/Users/.search", "/Groups/.search"]), content=_dumps(search),
                                headers={"Content-Type": "application/scim+json"}))
    bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [random_value(rng) for _ in range(5)]}
    assert_no_500(scim.post("/Bulk", content=_dumps(bulk), headers={"Content-Type": "application/scim+json"}))


def test_nul_in_ids_and_bodies_is_a_scim_error(stack, scim):
    assert_no_500(scim.get("/Users/a%00b"))
    assert scim.get("/Users/a%00b").status_code == 404
    assert_no_500(scim.patch("/Groups/a%00b", json={"Operations": [{"op": "remove", "path": "members"}]}))
    refused = scim.post("/Users", json=okta_user("nul\u0000@example.com"))
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    group = scim.post("/Groups", json=okta_group(f"nul-{uuid.uuid4().hex[:6]}")).json()
    added = scim.patch(f"/Groups/{group['id']}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": "x\u0000y"}]}],
    })
    assert_no_500(added)
    assert added.status_code == 400
    headers = {"Authorization": f"Bearer {stack.new_org().token}"}
    import httpx

    assert_no_500(httpx.get(f"{stack.url}/api/v1/organizations/a%00b/users", headers=headers))


@pytest.mark.parametrize("seed", SEEDS)
def test_management_api_random_input_never_500(stack, seed):
    import httpx

    rng = random.Random(seed)
    org = stack.new_org(scim=False)
    headers = {"Authorization": f"Bearer {org.token}"}
    base = f"{stack.url}/api/v1/organizations/{org.id}"
    # One client for the whole run: httpx's module-level calls build a TLS context each (~50 ms).
    with httpx.Client(headers=headers, timeout=30) as http:
        team = http.post(f"{base}/teams", json={"name": f"t-{seed}"})
        assert team.status_code < 300, team.text
        team_id = team.json()["id"]
        for _ in range(40):
            body = random_value(rng)
            for method, path in (
                ("POST", "/teams"), ("PATCH", f"/teams/{team_id}"), ("POST", f"/teams/{team_id}/members"),
                ("PUT", "/scim"), ("DELETE", f"/teams/{team_id}/members/{quote(str(random_value(rng)), safe='')}"),
            ):
                response = http.request(method, f"{base}{path}", content=_dumps(body))
                assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
            query = {rng.choice(["page", "pageSize"]): str(random_value(rng))}
            for path in ("/users", "/teams", f"/teams/{team_id}"):
                response = http.get(f"{base}{path}", params=query)
                assert response.status_code < 500, (path, query, response.status_code, response.text[:300])
