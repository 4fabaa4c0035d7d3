"""Nobody can flood the audit stream or forge a line in it: a flood of refused requests with huge,
newline-laden organization ids, paths and request ids leaves a bounded number of bounded events
(past its source's budget: 429, counted in one summary per interval), ``audit tail`` prints one
line per event, and a second organization's requests from the same address go on unharmed."""

from __future__ import annotations

import concurrent.futures
import json
import math
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.scim_bodies import okta_user
from tests.support.stack import REPO, Stack

BURST, RATE, INTERVAL = 5, 1, 1
FLOOD = 240
MAX_EVENT_BYTES = 2048


@pytest.fixture(scope="module")
def flooded(tmp_path_factory):
    env = {
        "SCIMGATE_SOURCE_REFUSAL_BURST": str(BURST), "SCIMGATE_SOURCE_REFUSAL_RATE": str(RATE),
        "SCIMGATE_REFUSAL_SUMMARY_SECONDS": str(INTERVAL),
    }
    running = Stack(tmp_path_factory.mktemp("flooded"), extra_env=env).start()
    yield running
    running.stop()


def forged_line(n: int) -> str:
    return f"x\n2026-11-28T21:48:11Z  scim:user:delete  success  org=victim{n}  User/{uuid.uuid4()}\n"


def flood_requests(stack: Stack, victim_org_id: str) -> list[tuple[str, str, dict]]:
    """Refused requests (no token, a wrong token): hostile organization ids, paths, request ids."""
    huge_org = quote((forged_line(0) * 80)[:2500], safe="")  # percent-encoded: the server decodes it
    huge_path = "/Users/" + quote((forged_line(1) * 60)[:2500], safe="")
    requests = []
    for i in range(FLOOD):
        kind = i % 6
        request_id = [b"r" * 6000, f"evil\t{i}\tid".encode(), b"caf\xc3\xa9-\xff"][i % 3]
        headers = {"X-Request-Id": request_id}
        if kind == 0:
            url = f"{stack.url}/scim/v2/{huge_org}/Users"
        elif kind == 1:
            url = f"{stack.url}/scim/v2/{victim_org_id}{huge_path}"
            headers["Authorization"] = "Bearer sgt-not-a-token"
        elif kind == 2:
            url = f"{stack.url}/api/v1/organizations/{huge_org}/users"
        elif kind == 3:
            url = f"{stack.url}/scim/v2/{quote(forged_line(i), safe='')}/Groups"
            headers["User-Agent"] = "agent " + "u" * 4000
        elif kind == 4:
            url = f"{stack.url}/scim/v2/{victim_org_id}/Users"
        else:
            url = f"{stack.url}/api/v1/organizations/{victim_org_id}/teams"
            headers["Authorization"] = "Bearer sgt-wrong"
        requests.append(("GET", url, headers))
    return requests


def tail_lines(stack: Stack) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "scimgate", "audit", "tail", "--count", "100000"], env=stack.env, cwd=REPO,
        capture_output=True, text=True, timeout=60, check=True,
    )
    return result.stdout.splitlines()


def test_a_flood_of_refused_requests_leaves_a_bounded_audit_and_harms_nobody(flooded):
    victim = flooded.new_org()  # the organization whose URL the flood aims at, and whose IdP keeps working
    statuses: list[int] = []
    echoed: list[str] = []

    def refused(request) -> None:
        method, url, headers = request
        response = httpx.request(method, url, headers=headers, timeout=30)
        statuses.append(response.status_code)
        echoed.append(response.headers.get("X-Request-Id", ""))
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1

    def idp_traffic() -> list[int]:
        answers = []
        with flooded.scim(victim) as scim:
            for i in range(20):
                answers.append(scim.post("/Users", json=okta_user(f"idp{i}.{victim.id}@example.com")).status_code)
                answers.append(scim.get("/Users", params={"count": 5}).status_code)
        return answers

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        idp = pool.submit(idp_traffic)
        list(pool.map(refused, flood_requests(flooded, victim.id)))
        idp_answers = idp.result()
    elapsed = time.monotonic() - started

    # The IdP's requests, from the same address as the flood, were all served.
    assert set(idp_answers) == {200, 201}
    assert len(statuses) == FLOOD and set(statuses) <= {401, 429} and 429 in statuses
    # None of those request ids is echoed back: each got a fresh one.
    assert all(len(rid) == 32 and rid.isalnum() for rid in echoed)

    # Every refused request is either audited on its own or counted in a summary; nothing more.
    deadline = time.monotonic() + 20
    while True:
        events = flooded.audit_events()
        refusals = [e for e in events if e["action"] in ("scim:auth:refused", "org:auth:refused")]
        summaries = [e for e in events if e["action"] == "scim:auth:throttled"]
        if len(refusals) + sum(s["detail"]["count"] for s in summaries) >= FLOOD or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(refusals) + sum(s["detail"]["count"] for s in summaries) == FLOOD
    assert len(refusals) == statuses.count(401)
    assert len(refusals) <= BURST + RATE * math.ceil(elapsed) + 1
    assert 1 <= len(summaries) <= math.ceil(elapsed / INTERVAL) + 1
    assert {s["detail"]["source"] for s in summaries} == {"127.0.0.1"}

    flood_events = refusals + summaries
    for event in flood_events:
        raw = json.dumps(event)
        assert len(raw) <= MAX_EVENT_BYTES, raw[:300]
        strings = [v for v in [*event.values(), *event.get("detail", {}).values()] if isinstance(v, str)]
        assert not any("\n" in s or "\r" in s for s in strings)
        org_id = event.get("org_id", "")
        assert org_id in (victim.id, "") or org_id.startswith("invalid:") and len(org_id) < 100
        assert len(event.get("request_id", "")) <= 128
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)) and all(uuid.UUID(i).version == 7 for i in ids)  # refusals have ids too

    # `scimgate audit tail` prints exactly one line per event: nothing forged.
    lines = tail_lines(flooded)
    assert len(lines) == len(events)
    assert not any(line.startswith("2026-11-28T21:48:11Z") for line in lines)


def test_the_victims_events_are_its_own_and_intact(flooded):
    org = flooded.new_org()
    with flooded.scim(org) as scim:
        user = scim.post("/Users", json=okta_user(f"after.{org.id}@example.com")).json()
    events = flooded.audit_events(org.id, wait_for=1)
    assert [(e["action"], e["resource_id"]) for e in events] == [("scim:user:create", user["id"])]


def test_an_organizations_own_refused_token_pays_the_source_budget_too(flooded):
    """A Member token is the organization's, so it is charged to the organization on the way in;
    its refusals still pay the source's refusal budget (also through a re-dispatched lenient path),
    and past it they are answered 429 and not audited one by one."""
    org = flooded.new_org()
    member = flooded.token_for(org.id, "member")
    headers = {"Authorization": f"Bearer {member}"}
    statuses = [httpx.get(f"{flooded.url}/scim/v2/{org.id}//Users/", headers=headers).status_code for _ in range(30)]
    assert set(statuses) <= {403, 429} and 429 in statuses
    audited = [e for e in flooded.audit_events(org.id, timeout=0) if e["action"] == "scim:auth:refused"]
    assert len(audited) == statuses.count(403)  # each 403 audited; each 429 only counted
