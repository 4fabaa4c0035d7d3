"""Every provisioning-log entry says what happened; the common failures say what to do."""

from __future__ import annotations

import pytest

from domain import events as ev
from domain.log_explain import suggested_fix, summary


def entry(action="scim:user:create", outcome="applied", status=201, *, error=None, detail=None, name="ada@x.com",
          rtype="User", changed=None) -> dict:
    return {"action": action, "outcome": outcome, "status": status, "error": error, "detail": detail or {},
            "resource": {"type": rtype, "id": "id-1", "name": name, "externalId": None}, "changed": changed or []}


@pytest.mark.parametrize("e, words", [
    (entry(), "Created user ada@x.com"),
    (entry(ev.USER_UPDATE, status=200, changed=["displayName", "emails"]), "Updated user ada@x.com (changed: displayName, emails)"),
    (entry(ev.USER_DEACTIVATE, status=200, changed=["active"]), "Deactivated user ada@x.com"),
    (entry(ev.USER_DELETE, status=204), "Deleted user ada@x.com"),
    (entry(ev.TEAM_MEMBER_ADD, status=200, rtype="Group", name="Astro", detail={"members_added": 2}),
     "Added 2 member(s) — Team Astro"),
    (entry(ev.TEAM_UPDATE, status=200, rtype="Group", name="Astro", changed=["members"],
           detail={"members_added": 1, "members_removed": 3}), "Updated Team Astro (changed: members); added 1 member(s), removed 3 member(s)"),
    (entry(ev.USER_UPDATE, "unchanged", 200), "nothing differed"),
    (entry("scim:user:create", "rejected", 409, error={"scimType": "uniqueness", "detail": "A user with userName 'ada' already exists"}),
     "Not applied (409): create user ada@x.com — A user with userName 'ada' already exists"),
    (entry("scim:user:patch", "expired", 503), "deadline passed"),
    (entry(ev.AUTH_REFUSED, "refused", 401, name=None, rtype=None,
           detail={"method": "GET", "path": "/scim/v2/x/Users", "reason": "The token is not valid"}),
     "Refused GET /scim/v2/x/Users (401): The token is not valid"),
    (entry(ev.AUTH_THROTTLED, "refused", 429, name=None, rtype=None, detail={"count": 40, "source": "10.0.0.1"}),
     "40 refused request(s) from 10.0.0.1"),
    (entry(ev.ORG_TEAM_CREATE, "refused", 409, rtype="Team", name=None, detail={"code": "scim_managed", "reason": "SCIM is on"}),
     "Refused: create Team id-1 (409): SCIM is on"),
    (entry(ev.ORG_SCIM_ENABLE, status=200, rtype="Organization", name=None), "Turned SCIM on for organization id-1"),
    (entry(ev.ORG_TOKEN_CREATE, rtype="Token", name=None), "Created token id-1"),
    (entry(ev.OPERATOR_REVOKE, status=200, rtype="Operator", name=None), "Revoked operator id-1"),
])
def test_every_entry_says_what_happened(e, words):
    assert words.lower() in summary(e).lower()


def refusal(status, reason):
    return entry(ev.AUTH_REFUSED, "refused", status, rtype=None, name=None,
                 detail={"method": "POST", "path": "/scim/v2/x/Users", "reason": reason})


def failure(status, detail, scim_type=None, outcome="rejected"):
    return entry("scim:team:patch", outcome, status, rtype="Group", error={"scimType": scim_type, "detail": detail})


@pytest.mark.parametrize("e, advice", [
    (failure(409, "A user with userName 'ada' already exists", "uniqueness"), "already has this userName"),
    (failure(400, "members must be users of this organization; unknown user id(s): u-9", "invalidValue"),
     "not a user of this organization"),
    (failure(400, "nested groups are not supported: a Group cannot be a member of a Group", "invalidValue"),
     "Teams cannot contain Teams"),
    (refusal(403, "SCIM provisioning is disabled for this organization; turn on the SCIM integration"),
     "scimgate scim enable"),
    (refusal(403, "SCIM provisioning requires an Organization API token with the Owner role"), "Owner token"),
    (refusal(403, "SCIM provisioning is available only on the Enterprise tier"), "Enterprise tier"),
    (refusal(403, "An operator token cannot call SCIM endpoints"), "Operator tokens"),
    (refusal(401, "The token is not valid for organization x"), "revoked"),
    (failure(503, "The command was not applied before its deadline", outcome="expired"), "workers are running"),
    (failure(503, "deadline"), "workers are running"),
    (entry(ev.AUTH_THROTTLED, "refused", 429), "rate limited"),
    (failure(429, "Too many write requests"), "rate limited"),
    (failure(404, "User u-1 not found"), "re-provision"),
    (failure(412, "If-Match does not match"), "out of date"),
    (failure(500, "Internal error"), "request id"),
    (failure(400, "'emails' must be a list", "invalidValue"), "attribute mapping"),
    (entry(ev.ORG_TEAM_MEMBER_ADD, "refused", 409, rtype="Team", detail={"code": "scim_managed"}), "in the IdP"),
    (entry(ev.ORG_TEAM_RENAME, "refused", 409, rtype="Team", detail={"code": "name_taken"}), "another name"),
    (entry(ev.ORG_SCIM_ENABLE, "refused", 403, rtype="Organization", detail={"code": "enterprise_tier_required"}),
     "Enterprise tier"),
])
def test_the_common_failures_say_what_to_do(e, advice):
    fix = suggested_fix(e)
    assert fix and advice.lower() in fix.lower()


@pytest.mark.parametrize("e", [entry(), entry(ev.USER_UPDATE, "unchanged", 200),
                               failure(418, "I'm a teapot")])
def test_no_fix_where_nothing_went_wrong_or_none_is_known(e):
    assert suggested_fix(e) is None
