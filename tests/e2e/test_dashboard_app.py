"""The dashboard sub-application over HTTP (no browser): sign-in, sessions, CSRF, headers, scoping."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import orjson
import pytest
import redis

from infra.redis.dashboard_sessions import PREFIX as SESSION_PREFIX
from tests.e2e.scim_bodies import okta_user
from tests.support.dashboard import csrf_of, dashboard_client, new_operator, sign_in, signed_in
from tests.support.stack import REPO, Stack


def sse_messages(client, until, timeout: float = 15.0) -> list[dict]:
    """The data of the event stream's messages, until ``until(messages)`` holds."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", "/dashboard/events", timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                messages.append(orjson.loads(line[6:]))
                if until(messages):
                    return messages
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"not seen in {timeout} s: {messages[-3:]}")


def events_of(messages: list[dict]) -> list[dict]:
    return [event for message in messages for event in message["events"]]


def test_without_a_session_pages_redirect_and_data_answers_401(stack):
    with dashboard_client(stack) as client:
        for path in ("/dashboard", "/dashboard/"):
            response = client.get(path)
            assert response.status_code == 303 and response.headers["Location"] == "/dashboard/signin"
        for path in ("/dashboard/api/me", "/dashboard/api/log", "/dashboard/api/orgs", "/dashboard/events"):
            response = client.get(path)
            assert response.status_code == 401 and response.json()["error"]["status"] == 401
        missing = client.get("/dashboard/nothing-here")
        assert missing.status_code in (303, 404) and "Traceback" not in missing.text


def test_the_sign_in_form_has_one_token_field_and_strict_headers(stack):
    with dashboard_client(stack) as client:
        form = client.get("/dashboard/signin")
        assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
        inputs = [tag for tag in form.text.split("<input")[1:]]
        visible = [tag for tag in inputs if 'type="hidden"' not in tag]
        assert len(visible) == 1 and 'name="token"' in visible[0]
        assert "<script>" not in form.text and "<script " not in form.text.replace('<script type="module" src=', "")
        for response in (form, client.get("/dashboard/static/dashboard.js"), client.get("/dashboard/api/me")):
            headers = response.headers
            assert "script-src 'self'" in headers["Content-Security-Policy"]
            assert "unsafe-inline" not in headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
        assert client.get("/dashboard/static/vendor/uPlot.esm.js").status_code == 200
        assert client.get("/dashboard/static/../../app.py").status_code == 404


def test_a_wrong_token_gets_the_form_again_and_no_detail(stack, org):
    with dashboard_client(stack) as client:
        for wrong in ("nope", org.token + "x", "x" * 5000, ""):
            response = sign_in(client, wrong)
            assert response.status_code == 401 and 'name="token"' in response.text
            assert "That token is not valid for the dashboard." in response.text
            assert wrong[:50] not in response.text.split("</form>")[0].split('name="csrf"')[0] or not wrong
            assert "scimgate_dash=" not in response.headers.get("set-cookie", "")


def test_forms_without_their_csrf_token_or_from_another_origin_are_refused(stack, org):
    with dashboard_client(stack) as client:
        token = csrf_of(client.get("/dashboard/signin").text)
        assert client.post("/dashboard/signin", data={"token": org.token}).status_code == 403
        assert client.post("/dashboard/signin", data={"token": org.token, "csrf": "forged"}).status_code == 403
        other = client.post("/dashboard/signin", data={"token": org.token, "csrf": token},
                            headers={"Origin": "https://evil.example"})
        assert other.status_code == 403 and "scimgate_dash=" not in other.headers.get("set-cookie", "")
    with signed_in(stack, org.token) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200
        assert client.post("/dashboard/signout", data={}).status_code == 403
        assert client.post("/dashboard/signout", data={"csrf": "forged"}).status_code == 403
        no_origin = client.post("/dashboard/signout", data={"csrf": csrf_of(page.text)}, headers={"Origin": ""})
        assert no_origin.status_code == 403
        assert client.get("/dashboard/api/me").status_code == 200  # still signed in


def test_the_session_is_a_random_id_in_a_strict_http_only_cookie_kept_in_redis(stack, org):
    with dashboard_client(stack) as client:
        response = sign_in(client, org.token)
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
        session_id = client.cookies["scimgate_dash"]
        assert org.token not in cookie and len(session_id) >= 40
        me = client.get("/dashboard/api/me").json()
        assert me == {"kind": "organization", "name": me["name"], "org_id": org.id, "role": "owner"}
    store = redis.Redis.from_url(stack.redis_url)
    try:
        keys = [key for key in store.scan_iter(f"{SESSION_PREFIX}*", count=1000)]
        assert keys and all(session_id.encode() not in key for key in keys)  # keyed by its hash
        values = b"".join(store.get(key) or b"" for key in keys)
        assert org.token.encode() not in values and session_id.encode() not in values
        assert all(0 < store.ttl(key) <= 28_800 for key in keys)
    finally:
        store.close()


def test_sign_out_deletes_the_session(stack, org):
    with signed_in(stack, org.token) as client:
        page = client.get("/dashboard")
        old = client.cookies["scimgate_dash"]
        response = client.post("/dashboard/signout", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303 and response.headers["Location"] == "/dashboard/signin"
        client.cookies.set("scimgate_dash", old, path="/dashboard")  # replaying the old cookie does not work
        assert client.get("/dashboard/api/me").status_code == 401


def test_a_revoked_token_ends_its_session(stack):
    org = stack.new_org()
    with signed_in(stack, org.token) as client:
        subprocess.run([sys.executable, "-m", "scimgate", "token", "revoke", org.token_id], env=stack.env, cwd=REPO,
                       check=True, capture_output=True, timeout=60)
        assert client.get("/dashboard/api/me").status_code == 401


def test_a_member_token_signs_in_read_only_to_its_own_organization(stack, org):
    member = stack.token_for(org.id, "member")
    with signed_in(stack, member) as client:
        assert client.get("/dashboard/api/me").json()["role"] == "member"
        lines = client.get("/dashboard/api/orgs").json()
        assert [line["org_id"] for line in lines["organizations"]] == [org.id] and lines["next_cursor"] is None


def test_an_organization_sees_only_its_own_log_and_health(stack):
    mine, theirs = stack.new_org(), stack.new_org()
    name = f"own-{uuid.uuid4().hex[:6]}@example.com"
    with stack.scim(mine) as scim:
        assert scim.post("/Users", json=okta_user(name)).status_code == 201
    with stack.scim(theirs) as scim:
        assert scim.post("/Users", json=okta_user(name)).status_code == 201
    with signed_in(stack, mine.token) as client:
        deadline = time.monotonic() + 15
        while not (entries := client.get("/dashboard/api/log", params={"user": name}).json()["entries"]):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert {entry["orgId"] for entry in entries} == {mine.id}
        refused = client.get("/dashboard/api/log", params={"org": theirs.id})
        assert refused.status_code == 400  # no org filter for an organization's session
        assert client.get("/dashboard/api/log", params={"since": "yesterday-ish"}).status_code == 400
        health = client.get("/dashboard/api/orgs").json()["organizations"]
        assert [line["org_id"] for line in health] == [mine.id] and health[0]["state"] == "healthy"
        assert health[0]["total_24h"] >= 1 and health[0]["last_contact"]


def test_an_operator_sees_every_organization_paged(stack):
    first, second = stack.new_org(), stack.new_org()
    operator = new_operator(stack)
    with signed_in(stack, operator["token"]) as client:
        assert client.get("/dashboard/api/me").json()["kind"] == "operator"
        seen, cursor = [], None
        while True:
            page = client.get("/dashboard/api/orgs", params={"limit": 2, **({"after": cursor} if cursor else {})}).json()
            assert len(page["organizations"]) <= 2
            seen += [line["org_id"] for line in page["organizations"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert {first.id, second.id} <= set(seen) and len(seen) == len(set(seen))
        with stack.scim(second) as scim:
            assert scim.post("/Users", json=okta_user(f"r-{uuid.uuid4().hex[:6]}@example.com")).status_code == 201
        deadline = time.monotonic() + 15
        while True:  # the relay logs the entry just after the write
            recent = client.get("/dashboard/api/orgs", params={"recent": "1"}).json()
            if [line["org_id"] for line in recent["organizations"][:1]] == [second.id]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert recent["organizations"][0]["state"] == "healthy" and recent["next_cursor"] is None
        assert client.get("/dashboard/api/orgs", params={"limit": 1000}).status_code == 400
        assert client.get("/dashboard/api/orgs", params={"limit": "many"}).status_code == 400


def test_the_event_stream_carries_only_the_sessions_organization(stack):
    mine, theirs = stack.new_org(), stack.new_org()
    name = f"live-{uuid.uuid4().hex[:6]}@example.com"
    with signed_in(stack, mine.token) as client:
        def write() -> None:
            with stack.scim(theirs) as scim:
                assert scim.post("/Users", json=okta_user(name)).status_code == 201
            with stack.scim(mine) as scim:
                assert scim.post("/Users", json=okta_user(name)).status_code == 201

        written = []

        def arrived(messages: list[dict]) -> bool:
            if not written:
                written.append(True)
                write()
            return any(e.get("resource_name") == name for e in events_of(messages))

        messages = sse_messages(client, arrived)
    assert {e["org_id"] for e in events_of(messages)} == {mine.id}
    assert all("ops" not in message for message in messages)  # the pipeline's state is for operators


def test_the_operators_stream_has_the_pipeline_state(stack):
    operator = new_operator(stack)
    with signed_in(stack, operator["token"]) as client:
        messages = sse_messages(client, lambda got: any("ops" in m for m in got))
    ops = next(m["ops"] for m in messages if "ops" in m)
    assert {"queue_depth", "oldest_queued_seconds", "outbox_pending", "outbox_lag_seconds", "live_workers"} <= set(ops)
    assert ops["live_workers"] >= 1


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory):
    """A stack whose dashboard sessions last one second."""
    running = Stack(tmp_path_factory.mktemp("short"), extra_env={"SCIMGATE_DASHBOARD_SESSION_SECONDS": "1"})
    running.start(worker=False)
    yield running
    running.stop()


def test_a_session_expires(short_stack):
    org = short_stack.new_org()
    with signed_in(short_stack, org.token) as client:
        assert client.get("/dashboard/api/me").status_code == 200
        time.sleep(1.5)
        assert client.get("/dashboard/api/me").status_code == 401
        assert client.get("/dashboard").headers["Location"] == "/dashboard/signin"


def test_sign_in_attempts_are_rate_limited_per_address(short_stack):
    org = short_stack.new_org()
    with dashboard_client(short_stack) as client:
        statuses = [sign_in(client, f"guess-{n}").status_code for n in range(25)]
        assert statuses[:15] == [401] * 15 and statuses[-1] == 429
        limited = sign_in(client, org.token)  # even the right token: no lookup past the budget
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert "Too many sign-in attempts" in limited.text
