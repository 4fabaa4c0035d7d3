"""Ping, OneLogin, JumpCloud and Rippling, replayed end to end (idp-traffic.md §5), and the IdP
named in audit events from each one's User-Agent."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.idp_traffic import (
    ENTERPRISE,
    ENTRA_UA,
    JUMPCLOUD_UA,
    OKTA_UA,
    ONELOGIN_UA,
    PING_UA,
    RIPPLING_UA,
    client,
    okta_group,
    okta_user,
    onelogin_user,
    patch,
    unique,
)
from tests.e2e.scim_bodies import ERROR, GROUP_SCHEMA, LIST, USER_SCHEMA


def _user(user_name: str) -> dict:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Pat", "familyName": "Doe"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
    }


# ============================================================================ Ping


def test_ping_mixed_case_filter_templates(stack, org):
    with client(stack, org, PING_UA) as http:
        name = unique("Pat.Doe", "ping.example")
        user = http.post("/Users", json=_user(name)).json()
        other = http.post("/Users", json=_user(unique("someone", "elsewhere.example"))).json()

        # PingOne's documented template `username Eq "%s"`: names and operators are case-insensitive.
        for template in ('username Eq "%s"', 'USERNAME EQ "%s"', 'UserName eq "%s"'):
            response = http.get("/Users", params={"filter": template % name.upper()})
            assert response.status_code == 200, response.text
            assert [u["id"] for u in response.json()["Resources"]] == [user["id"]]

        # `emails Co "%s"` is the SCIM spelling: a bare multi-valued attribute means its value.
        for template in ('emails Co "%s"', 'Emails.Value CO "%s"', 'emails[type Eq "work" AND value Co "%s"]'):
            response = http.get("/Users", params={"filter": template % "PING.EXAMPLE"})
            assert response.status_code == 200, response.text
            assert [u["id"] for u in response.json()["Resources"]] == [user["id"]]

        # `email Co "%s"` (PingOne's second example) names an attribute SCIM does not define. It is
        # answered 400 invalidFilter naming it, so the admin sees it in Ping's provisioning log and
        # fixes the template, instead of an empty list that would make Ping create a duplicate.
        response = http.get("/Users", params={"filter": 'email Co "ping.example"'})
        assert response.status_code == 400
        assert response.json()["scimType"] == "invalidFilter" and "email" in response.json()["detail"]
        assert response.json()["schemas"] == [ERROR]

        # Remove User Action "Disable", then "Delete".
        disabled = http.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": "active", "value": False}))
        assert disabled.status_code == 200 and disabled.json()["active"] is False
        assert http.delete(f"/Users/{other['id']}").status_code == 204
        listed = http.get("/Users").json()
        assert [(u["id"], u["active"]) for u in listed["Resources"]] == [(user["id"], False)]
    events = stack.audit_events(org.id, wait_for=4)
    assert {e["idp"] for e in events} == {"ping"}


# ============================================================================ OneLogin


def test_onelogin_template_string_booleans_legacy_schemas_trailing_ampersand_empty_agent(stack, org):
    with client(stack, org, ONELOGIN_UA) as http:
        assert http.headers["User-Agent"] == ""
        name = unique("jdoe", "onelogin.example")
        # The lookup has a trailing "&" and `+` for spaces.
        lookup = f'/Users?filter=userName+eq+"{name}"&'
        response = http.get(lookup)
        assert response.status_code == 200, response.text
        assert response.json()["totalResults"] == 0

        created = http.post("/Users", json=onelogin_user(name, active="true", department="Finance"))
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["active"] is True and user["userName"] == name
        assert user[ENTERPRISE] == {"department": "Finance"}  # not dropped: the legacy URN is the extension
        assert user["schemas"] == [USER_SCHEMA, ENTERPRISE]

        found = http.get(lookup).json()
        assert [u["id"] for u in found["Resources"]] == [user["id"]]

        # Update by PUT of the whole template; "active": "false" deactivates.
        body = onelogin_user(name, active="false", department="Audit")
        body["name"]["givenName"] = "Joan"
        replaced = http.put(f"/Users/{user['id']}", json=body)
        assert replaced.status_code == 200, replaced.text
        stored = http.get(f"/Users/{user['id']}").json()
        assert stored["active"] is False and stored["name"]["givenName"] == "Joan"
        assert stored[ENTERPRISE] == {"department": "Audit"}
        # ...and "true" brings the user back.
        assert http.put(f"/Users/{user['id']}", json=onelogin_user(name, active="true")).status_code == 200
        stored = http.get(f"/Users/{user['id']}").json()
        assert stored["active"] is True and ENTERPRISE not in stored

        # Group membership by PATCH; "Refresh Entitlements" lists the groups.
        gid = http.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "OneLogin Role"}).json()["id"]
        added = http.patch(f"/Groups/{gid}", json=patch({"op": "add", "path": "members", "value": [{"value": user["id"]}]}))
        assert added.status_code in (200, 204), added.text
        groups = http.get("/Groups?startIndex=1&count=100&").json()
        assert [(g["displayName"], [m["value"] for m in g["members"]]) for g in groups["Resources"]] == [
            ("OneLogin Role", [user["id"]])]
    # An empty User-Agent names no IdP.
    events = stack.audit_events(org.id, wait_for=5)
    assert {e["idp"] for e in events} == {"unknown"}


def test_onelogin_scim11_core_template(stack, org):
    """The OneLogin "Core"/"Enterprise" 1.0 templates: legacy 1.0 URNs, emails as one object,
    SCIM 1.1's enterprise manager.managerId."""
    with client(stack, org, ONELOGIN_UA) as http:
        boss = http.post("/Users", json=_user(unique("boss", "onelogin.example"))).json()
        name = unique("legacy", "onelogin.example")
        body = {
            "schemas": ["urn:scim:schemas:core:1.0", "urn:scim:schemas:extension:enterprise:1.0"],
            "userName": name,
            "name": {"familyName": "Doe", "givenName": "Jo", "formatted": "Jo Doe"},
            "emails": {"value": name, "type": "work", "primary": True},
            "title": "Analyst",
            "urn:scim:schemas:extension:enterprise:1.0": {"department": "Ops", "manager": {"managerId": boss["id"]}},
        }
        created = http.post("/Users", json=body)
        assert created.status_code == 201, created.text
        stored = http.get(f"/Users/{created.json()['id']}").json()
        assert stored["emails"] == [{"value": name, "type": "work", "primary": True}]
        assert stored["title"] == "Analyst" and stored["name"]["formatted"] == "Jo Doe"
        assert stored[ENTERPRISE] == {"department": "Ops", "manager": {"value": boss["id"]}}


# ============================================================================ JumpCloud


def test_jumpcloud_test_connection_creates_and_deletes_a_real_user_and_group(stack, org):
    with client(stack, org, JUMPCLOUD_UA) as http:
        name = f"jctest-{uuid.uuid4().hex[:8]}@jumpcloud.example"
        assert http.get("/Users", params={"filter": f'userName eq "{name}"'}).json()["totalResults"] == 0
        user = http.post("/Users", json=_user(name))
        assert user.status_code == 201, user.text
        uid = user.json()["id"]
        # JumpCloud never creates an empty group: the test group carries the test user.
        group_name = f"JumpCloud Test Group {uuid.uuid4().hex[:6]}"
        group = http.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": group_name,
                                          "members": [{"value": uid, "display": name}]})
        assert group.status_code == 201, group.text
        gid = group.json()["id"]
        assert [m["value"] for m in group.json()["members"]] == [uid]
        assert [g["value"] for g in http.get(f"/Users/{uid}").json()["groups"]] == [gid]

        assert http.delete(f"/Groups/{gid}").status_code == 204
        assert http.delete(f"/Users/{uid}").status_code == 204
        # Nothing is left behind.
        assert http.get(f"/Users/{uid}").status_code == 404
        assert http.get(f"/Groups/{gid}").status_code == 404
        assert http.get("/Users").json()["totalResults"] == 0
        assert http.get("/Groups").json()["totalResults"] == 0
        # The same test can run again (same names).
        again = http.post("/Users", json=_user(name))
        assert again.status_code == 201 and again.json()["id"] != uid
    events = stack.audit_events(org.id, wait_for=5)
    assert [e["action"] for e in events] == [
        "scim:user:create", "scim:team:create", "scim:team:delete", "scim:user:delete", "scim:user:create"]
    assert {e["idp"] for e in events} == {"jumpcloud"}


def test_jumpcloud_takes_over_a_matching_group_and_removes_members_by_value_list(stack, org):
    with client(stack, org, OKTA_UA) as okta:
        existing = okta.post("/Groups", json=okta_group("Designers")).json()
    with client(stack, org, JUMPCLOUD_UA) as http:
        users = [http.post("/Users", json=_user(unique(f"d{i}", "jumpcloud.example"))).json()["id"] for i in range(3)]
        found = http.get("/Groups", params={"filter": 'displayName eq "designers"'}).json()
        assert [g["id"] for g in found["Resources"]] == [existing["id"]]
        gid = existing["id"]
        assert http.patch(f"/Groups/{gid}", json=patch(
            {"op": "add", "path": "members", "value": [{"value": u} for u in users]})).status_code in (200, 204)
        # Azure-style removal: path "members" with a value list.
        removed = http.patch(f"/Groups/{gid}", json=patch(
            {"op": "remove", "path": "members", "value": [{"value": users[0]}]}))
        assert removed.status_code in (200, 204), removed.text
        members = sorted(m["value"] for m in http.get(f"/Groups/{gid}").json()["members"])
        assert members == sorted(users[1:])


# ============================================================================ Rippling


def test_rippling_probes_service_provider_config_then_provisions(stack, org):
    with client(stack, org, RIPPLING_UA) as http:
        config = http.get("/ServiceProviderConfig")
        assert config.status_code == 200, config.text
        assert config.headers["content-type"].startswith("application/scim+json")
        body = config.json()
        assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
        for feature in ("patch", "bulk", "filter", "changePassword", "sort", "etag"):
            assert isinstance(body[feature]["supported"], bool)
        assert body["patch"]["supported"] is True and body["filter"]["supported"] is True
        assert isinstance(body["filter"]["maxResults"], int)
        assert any(s["type"] == "oauthbearertoken" for s in body["authenticationSchemes"])
        # A probe with a wrong token is refused (the Owner token is what the test validates).
        refused = http.get("/ServiceProviderConfig", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401 and refused.json()["status"] == "401"

        # "Supports Pagination": a page of one.
        http.post("/Users", json=_user(unique("r1", "rippling.example")))
        http.post("/Users", json=_user(unique("r2", "rippling.example")))
        page = http.get("/Users", params={"startIndex": 1, "count": 1}).json()
        assert page["schemas"] == [LIST] and page["totalResults"] == 2 and page["itemsPerPage"] == 1
        # Termination date reached: deactivate.
        uid = page["Resources"][0]["id"]
        assert http.patch(f"/Users/{uid}", json=patch({"op": "replace", "value": {"active": False}})).status_code == 200
        assert http.get(f"/Users/{uid}").json()["active"] is False
    events = stack.audit_events(org.id, wait_for=4)
    assert [(e["action"], e["idp"]) for e in events] == [
        ("scim:auth:refused", "rippling"), ("scim:user:create", "rippling"), ("scim:user:create", "rippling"),
        ("scim:user:deactivate", "rippling")]


# ============================================================================ the IdP in audit events


@pytest.mark.parametrize("user_agent, idp", [
    (OKTA_UA, "okta"),
    ("OKTA SCIM Integration", "okta"),
    (ENTRA_UA, "entra"),
    ("OneLogin SCIM", "onelogin"),
    (JUMPCLOUD_UA, "jumpcloud"),
    (PING_UA, "ping"),
    ("PingFederate/11.3 SCIM connector", "ping"),
    (RIPPLING_UA, "rippling"),
    ("", "unknown"),
    ("curl/8.5.0", "unknown"),
])
def test_idp_named_in_audit_events(stack, org, user_agent, idp):
    with client(stack, org, user_agent) as http:
        uid = http.post("/Users", json=okta_user(unique())).json()["id"]
        gid = http.post("/Groups", json=okta_group(f"g-{uuid.uuid4().hex[:6]}")).json()["id"]
        http.patch(f"/Groups/{gid}", json=patch({"op": "add", "path": "members", "value": [{"value": uid}]}))
        http.patch(f"/Users/{uid}", json=patch({"op": "replace", "value": {"active": False}}))
        http.delete(f"/Groups/{gid}")
        http.delete(f"/Users/{uid}")
        http.get("/Users", headers={"Authorization": "Bearer wrong"})  # refused, audited too
    events = stack.audit_events(org.id, wait_for=7)
    assert len(events) == 7
    assert {e["idp"] for e in events} == {idp}
    assert all(e.get("user_agent", "") == user_agent for e in events)
