"""Per-organization request budgets over HTTP: 429 with Retry-After and a SCIM error body past a
(deliberately low) limit, separate read and write budgets, other organizations unaffected, every
SCIM and management route covered, and ``0`` turning the limits off."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.scim_bodies import okta_user
from tests.support.stack import Org, Stack

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LOW_LIMITS = {
    "SCIMGATE_ORG_READ_RATE": "1", "SCIMGATE_ORG_READ_BURST": "5",
    "SCIMGATE_ORG_WRITE_RATE": "1", "SCIMGATE_ORG_WRITE_BURST": "3",
    "SCIMGATE_SOURCE_REFUSAL_RATE": "0",  # these tests are about organizations' budgets
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("limited"), extra_env=LOW_LIMITS).start()
    yield running
    running.stop()


def until_429(send, attempts: int = 60) -> tuple[int, httpx.Response]:
    """Send until a 429 comes back; returns how many were answered before it, and the 429."""
    for answered in range(attempts):
        response = send()
        if response.status_code == 429:
            return answered, response
        assert response.status_code < 300, response.text
    raise AssertionError(f"no 429 after {attempts} requests")


def assert_scim_429(response: httpx.Response, budget: str) -> int:
    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/scim+json")
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == "429" and "scimType" not in body
    assert budget in body["detail"], body["detail"]
    return int(retry_after)


def test_a_tight_read_loop_is_answered_429_with_retry_after(limited):
    org = limited.new_org()
    with limited.scim(org) as scim:
        answered, refused = until_429(lambda: scim.get("/Users"))
        assert answered >= 5  # the burst
        seconds = assert_scim_429(refused, "read")
        time.sleep(seconds + 0.2)  # Retry-After is honest: by then a token is back
        assert scim.get("/Users").status_code == 200


def test_another_organization_is_unaffected(limited):
    noisy, quiet = limited.new_org(), limited.new_org()
    with limited.scim(noisy) as scim:
        until_429(lambda: scim.get("/Users"))
        assert scim.get("/Users").status_code == 429
    with limited.scim(quiet) as scim:
        assert scim.get("/Users").status_code == 200
        assert scim.post("/Users", json=okta_user(f"quiet.{quiet.id}@example.com")).status_code == 201


def test_reads_and_writes_have_budgets_of_their_own(limited):
    org = limited.new_org()
    with limited.scim(org) as scim:
        until_429(lambda: scim.get("/Users"))
        # A .search is a read: refused with the reads ...
        search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 1}
        assert_scim_429(scim.post("/Users/.search", json=search), "read")
        # ... while writes still have their own budget.
        names = iter(range(100))
        answered, refused = until_429(lambda: scim.post("/Users", json=okta_user(f"w{next(names)}.{org.id}@x.com")))
        assert answered >= 3
        assert_scim_429(refused, "write")
        assert_scim_429(scim.get("/Users"), "read")


def test_bulk_and_lenient_paths_are_limited_too(limited):
    org = limited.new_org()
    headers = {"Authorization": f"Bearer {org.token}"}
    base = f"{limited.url}/scim/v2/{org.id}"
    # A base URL pasted with a trailing slash is dispatched internally: it is limited all the same.
    until_429(lambda: httpx.get(f"{base}//Users/", headers=headers))
    bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []}
    until_429(lambda: httpx.post(f"{base}/Bulk", json=bulk, headers=headers))
    assert_scim_429(httpx.post(f"{base}/Bulk", json=bulk, headers=headers), "write")


def test_the_management_api_shares_the_organization_budgets(limited):
    org = limited.new_org()
    api = httpx.Client(base_url=f"{limited.url}/api/v1/organizations/{org.id}",
                       headers={"Authorization": f"Bearer {org.token}"}, timeout=30)
    with api:
        _answered, refused = until_429(lambda: api.get("/users"))
        assert refused.headers["Retry-After"].isdigit() and int(refused.headers["Retry-After"]) >= 1
        error = refused.json()["error"]  # the management API's own error shape
        assert error["status"] == 429 and error["code"] == "rate_limited" and "read" in error["message"]
    with limited.scim(org) as scim:
        assert_scim_429(scim.get("/Users"), "read")  # one read budget per organization


def test_a_member_token_of_the_organization_counts_against_it_not_against_others(limited):
    """A token that is the organization's own is charged to the organization, even when refused."""
    org = limited.new_org()
    member = Org(org.id, limited.token_for(org.id, "member"), "")
    with limited.scim(member) as scim:
        statuses = [scim.get("/Users").status_code for _ in range(15)]
    assert statuses[0] == 403 and set(statuses) == {403, 429}
    with limited.scim(limited.new_org()) as other:
        assert other.get("/Users").status_code == 200


@pytest.fixture(scope="module")
def unlimited(tmp_path_factory):
    off = {
        "SCIMGATE_ORG_READ_RATE": "0", "SCIMGATE_ORG_READ_BURST": "1",
        "SCIMGATE_ORG_WRITE_RATE": "0", "SCIMGATE_ORG_WRITE_BURST": "1",
        "SCIMGATE_SOURCE_REFUSAL_RATE": "0", "SCIMGATE_SOURCE_REFUSAL_BURST": "1",
    }
    running = Stack(tmp_path_factory.mktemp("unlimited"), extra_env=off).start()
    yield running
    running.stop()


def test_zero_turns_every_limit_off(unlimited):
    org = unlimited.new_org()
    with unlimited.scim(org) as scim:
        reads = [scim.get("/Users").status_code for _ in range(60)]
        writes = [scim.post("/Users", json=okta_user(f"off{i}.{org.id}@example.com")).status_code for i in range(15)]
    with httpx.Client(base_url=f"{unlimited.url}/scim/v2/{org.id}", timeout=30) as anonymous:
        refused = [anonymous.get("/Users").status_code for _ in range(40)]
    assert set(reads) == {200} and set(writes) == {201} and set(refused) == {401}
    events = unlimited.audit_events(org.id, wait_for=15 + 40)
    assert len([e for e in events if e["action"] == "scim:auth:refused"]) == 40  # each audited
