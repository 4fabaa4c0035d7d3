"""Only an Owner token of the URL's organization, with SCIM on (Enterprise tier), gets in."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.scim_bodies import ERROR, okta_group, okta_user, patch


def _every_endpoint(user_id: str, group_id: str):
    """(method, path, json) for every SCIM endpoint of an organization."""
    return [
        ("GET", "/Users", None),
        ("POST", "/Users", okta_user(f"x{uuid.uuid4().hex[:6]}@example.com")),
        ("POST", "/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        ("GET", f"/Users/{user_id}", None),
        ("PUT", f"/Users/{user_id}", okta_user("hijack@example.com")),
        ("PATCH", f"/Users/{user_id}", patch({"op": "replace", "value": {"active": False}})),
        ("DELETE", f"/Users/{user_id}", None),
        ("GET", "/Groups", None),
        ("POST", "/Groups", okta_group("hijack")),
        ("POST", "/Groups/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        ("GET", f"/Groups/{group_id}", None),
        ("PUT", f"/Groups/{group_id}", okta_group("hijack")),
        ("PATCH", f"/Groups/{group_id}", patch({"op": "replace", "path": "displayName", "value": "hijack"})),
        ("DELETE", f"/Groups/{group_id}", None),
        ("POST", "/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        ("POST", "/Bulk", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "DELETE", "path": f"/Users/{user_id}"}],
        }),
        ("GET", "/ServiceProviderConfig", None),
        ("GET", "/ResourceTypes", None),
        ("GET", "/Schemas", None),
    ]


@pytest.fixture
def victim(stack):
    org = stack.new_org()
    with stack.scim(org) as client:
        user = client.post("/Users", json=okta_user(f"victim.{uuid.uuid4().hex[:6]}@example.com")).json()
        group = client.post("/Groups", json=okta_group(f"victims-{uuid.uuid4().hex[:6]}")).json()
    return org, user, group


def test_another_organizations_token_gets_the_unknown_organization_answer(stack, victim):
    victim_org, user, group = victim
    attacker = stack.new_org()
    unknown_org = "c" + "0" * 24
    for method, path, body in _every_endpoint(user["id"], group["id"]):
        cross = httpx.request(
            method, f"{stack.url}/scim/v2/{victim_org.id}{path}", json=body,
            headers={"Authorization": f"Bearer {attacker.token}"},
        )
        nowhere = httpx.request(
            method, f"{stack.url}/scim/v2/{unknown_org}{path}", json=body,
            headers={"Authorization": f"Bearer {attacker.token}"},
        )
        assert cross.status_code == 401, (method, path, cross.text)
        assert nowhere.status_code == 401
        assert cross.json()["detail"].replace(victim_org.id, "ORG") == nowhere.json()["detail"].replace(
            unknown_org, "ORG"
        )
        assert "WWW-Authenticate" in cross.headers
    # Nothing of the victim's changed.
    with stack.scim(victim_org) as client:
        assert client.get(f"/Users/{user['id']}").json()["active"] is True
        assert client.get(f"/Groups/{group['id']}").json()["displayName"] == group["displayName"]
        assert client.get("/Users").json()["totalResults"] == 1


def test_missing_or_bad_token_is_401_with_www_authenticate(stack, org):
    base = f"{stack.url}/scim/v2/{org.id}/Users"
    for headers in ({}, {"Authorization": "non-token"}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = httpx.get(base, headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["schemas"] == [ERROR] and body["status"] == "401" and body["detail"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_member_role_token_is_403(stack, org):
    member_token = stack.token_for(org.id, "member")
    response = httpx.get(f"{stack.url}/scim/v2/{org.id}/Users", headers={"Authorization": f"Bearer {member_token}"})
    assert response.status_code == 403
    assert "Owner" in response.json()["detail"]


def test_scim_disabled_is_403(stack):
    org = stack.new_org(scim=False)
    response = httpx.get(f"{stack.url}/scim/v2/{org.id}/Users", headers={"Authorization": f"Bearer {org.token}"})
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]


def test_team_tier_is_403(stack):
    org = stack.new_org(tier="team", scim=False)
    response = httpx.get(f"{stack.url}/scim/v2/{org.id}/Users", headers={"Authorization": f"Bearer {org.token}"})
    assert response.status_code == 403
    assert "Enterprise" in response.json()["detail"]


def test_refusals_are_audited(stack, org):
    httpx.get(f"{stack.url}/scim/v2/{org.id}/Users", headers={"Authorization": "Bearer wrong-token"})
    events = stack.audit_events(org.id, wait_for=1)
    refused = [e for e in events if e["action"] == "scim:auth:refused"]
    assert refused and refused[-1]["status"] == 401 and refused[-1]["outcome"] == "refused"
    assert "wrong-token" not in str(events)


def _scim_routes() -> list[tuple[str, str]]:
    """Every route of the SCIM sub-application, as (method, path under the org's base URL)."""
    from api.scim_app import scim_app

    routes = []
    for route in scim_app().router.routes():
        path = route.resource.canonical.removeprefix("/{org_id}")
        path = path.replace("{id}", "00000000-0000-0000-0000-000000000000")
        routes.append(("GET" if route.method == "*" else route.method, path))
    return routes


@pytest.mark.parametrize(("method", "path"), _scim_routes())
@pytest.mark.parametrize("spelling", ["{path}", "/{path}", "{path}/"])
def test_no_scim_route_answers_without_an_owner_token_whatever_the_path_spelling(stack, org, method, path, spelling):
    """Structure, not discipline: every route the SCIM sub-application has (now and later) is
    behind its authorisation middleware, also when a pasted base URL doubles a slash."""
    url = f"{stack.url}/scim/v2/{org.id}" + spelling.format(path=path)
    response = httpx.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
    assert response.status_code == 401, (method, url, response.text)
    if method != "HEAD":
        assert response.json()["schemas"] == [ERROR]
    member = stack.token_for(org.id, "member")
    refused = httpx.request(method, url, headers={"Authorization": f"Bearer {member}"},
                            json={} if method in ("POST", "PUT", "PATCH") else None)
    assert refused.status_code == 403, (method, url, refused.text)
