"""Replay helpers for real IdP traffic (../shared/reference/idp-traffic.md): User-Agents, request
bodies as each IdP sends them, and an Entra client that appends the tenant URL's query string.

Bodies marked "verbatim" are copied from the cited vendor document (section numbers refer to
idp-traffic.md); the others are built from the documented shapes with unique values.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from urllib.parse import quote

import httpx

from tests.e2e.scim_bodies import GROUP_SCHEMA, PATCH_OP, USER_SCHEMA

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MS_GROUP_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
SCIM_JSON = "application/scim+json"

# -- User-Agents -------------------------------------------------------------------------------
# Documented: Okta (§2.1), Okta's SPEC test (§2.9), Entra (§5, GitHub's SCIM code), OneLogin's
# empty agent (§5), PingFederate's Apache-HttpClient (§5). JumpCloud's and Rippling's agents are
# not documented; the values below are assumptions that name the vendor.
OKTA_UA = "Okta SCIM Client 1.0.0"
OKTA_SPEC_UA = "OKTA SCIM Integration"
ENTRA_UA = "Microsoft Azure AD SCIM provisioning 1.0.0"
ONELOGIN_UA = ""
PING_UA = "Apache-HttpClient/4.5.13 (Java/11.0.20)"
JUMPCLOUD_UA = "JumpCloud SCIM Client 1.0"
RIPPLING_UA = "Rippling SCIM Provisioning"

ENTRA_FLAG = "aadOptscim062020"


def unique(prefix: str = "user", domain: str = "example.com") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@{domain}"


def patch(*operations) -> dict:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def qs(**params: str) -> str:
    """A query string encoded the way a browser-less client does: ``%20`` for spaces, ``%22`` for quotes."""
    return "&".join(f"{name}={quote(str(value), safe='')}" for name, value in params.items())


@contextmanager
def client(stack, org, user_agent: str):
    with stack.scim(org, user_agent=user_agent) as bound:
        yield bound


# -- Okta --------------------------------------------------------------------------------------


def okta_user(user_name: str, *, given: str = "Test", family: str = "User", external_id: str | None = None) -> dict:
    """§2.5 create-user body (verbatim shape, unique values)."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id or "00u" + uuid.uuid4().hex[:17],
        "groups": [],
        "password": uuid.uuid4().hex[:8],
        "active": True,
    }


def okta_group(name: str) -> dict:
    return {"schemas": [GROUP_SCHEMA], "displayName": name, "members": []}


def okta_rename(group_id: str, name: str) -> dict:
    """§2.8: path-less replace holding ``id`` and ``displayName`` (re-sent on every membership change)."""
    return patch({"op": "replace", "value": {"id": group_id, "displayName": name}})


def okta_spec_user(user_name: str, given: str, family: str, email: str) -> dict:
    """§2.9 step 6 body, verbatim template."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"{given} {family}",
        "active": True,
    }


# -- Microsoft Entra ID ------------------------------------------------------------------------


def entra_user() -> dict:
    """§3.2 create user, verbatim (each test runs in its own organization)."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": True,
        "emails": [{
            "primary": True,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
        }],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
    }


def entra_group(display_name: str = "displayName", external_id: str = "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159") -> dict:
    """§3.2 create group, verbatim: note the Microsoft schema URI."""
    return {
        "schemas": [GROUP_SCHEMA, MS_GROUP_SCHEMA],
        "externalId": external_id,
        "displayName": display_name,
        "meta": {"resourceType": "Group"},
    }


def entra_member(user_id: str) -> dict:
    return {"$ref": None, "value": user_id}


class Entra:
    """An Entra provisioning job's view of the tenant URL ``/scim/v2/{org}`` (optionally with
    ``?aadOptscim062020``): Entra inserts the resource path before the tenant URL's query string
    and appends its own parameters after it, so every request carries the flag first."""

    def __init__(self, http: httpx.Client, flag: bool):
        self.http = http
        self.flag = flag

    def url(self, path: str, query: str = "") -> str:
        parts = ([ENTRA_FLAG] if self.flag else []) + ([query] if query else [])
        return path + ("?" + "&".join(parts) if parts else "")

    def get(self, path: str, query: str = "", **kw) -> httpx.Response:
        return self.http.get(self.url(path, query), **kw)

    def post(self, path: str, body: dict, **kw) -> httpx.Response:
        return self.http.post(self.url(path), json=body, **kw)

    def put(self, path: str, body: dict, **kw) -> httpx.Response:
        return self.http.put(self.url(path), json=body, **kw)

    def patch(self, path: str, body: dict, **kw) -> httpx.Response:
        return self.http.patch(self.url(path), json=body, **kw)

    def delete(self, path: str, **kw) -> httpx.Response:
        return self.http.delete(self.url(path), **kw)

    # Entra's two dialects (§3.3): the same intent, spelled with and without the flag.

    def op(self, name: str) -> str:
        return name.lower() if self.flag else name.capitalize()

    def disable(self) -> dict:
        value = False if self.flag else "False"
        return patch({"op": self.op("replace"), "path": "active", "value": value})

    def enable(self) -> dict:
        value = True if self.flag else "True"
        return patch({"op": self.op("replace"), "path": "active", "value": value})

    def remove_member(self, user_id: str) -> dict:
        if self.flag:
            return patch({"op": "remove", "path": f'members[value eq "{user_id}"]'})
        return patch({"op": "Remove", "path": "members", "value": [entra_member(user_id)]})

    def add_members(self, *user_ids: str) -> dict:
        return patch({"op": self.op("add"), "path": "members", "value": [entra_member(u) for u in user_ids]})


def entra_replace_multiple(flag: bool, *, work_email: str, display: str, given: str, family: str,
                           employee_number: str, external_id: str | None = None) -> dict:
    """§3.3 "Replace multiple": one ``Replace`` per path without the flag; with it, the filtered
    email path plus one path-less replace whose keys are dotted paths and full URNs."""
    if not flag:
        ops = [
            {"op": "Replace", "path": "displayName", "value": display},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": work_email},
            {"op": "Replace", "path": "name.givenName", "value": given},
            {"op": "Replace", "path": "name.familyName", "value": family},
        ]
        if external_id is not None:
            ops.append({"op": "Replace", "path": "externalId", "value": external_id})
        ops.append({"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": employee_number})
        return patch(*ops)
    value = {"displayName": display, "name.givenName": given, "name.familyName": family,
             f"{ENTERPRISE}:employeeNumber": employee_number}
    if external_id is not None:
        value["externalId"] = external_id
    return patch(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": work_email},
        {"op": "replace", "value": value},
    )


# -- OneLogin ----------------------------------------------------------------------------------


def onelogin_user(user_name: str, *, active: str = "true", department: str | None = None) -> dict:
    """A OneLogin "SCIM v2 Enterprise" template as rendered (§5): legacy URNs in ``schemas``,
    ``active`` a string from ``{$user.active}``."""
    body = {
        "schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
        "userName": user_name,
        "name": {"givenName": "One", "familyName": "Login", "formatted": "One Login"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": active,
    }
    if department is not None:
        body["urn:scim:schemas:extension:enterprise:2.0"] = {"department": department}
    return body


# -- reading back ------------------------------------------------------------------------------


def member_ids(http: httpx.Client, group_id: str) -> list[str]:
    """The Team's member ids as the store holds them, read back with GET."""
    response = http.get(f"/Groups/{group_id}")
    assert response.status_code == 200, response.text
    return sorted(m["value"] for m in response.json().get("members", []))
