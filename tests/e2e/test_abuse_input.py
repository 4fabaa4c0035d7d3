"""Abusive input at the ingress (issue 10): every input is bounded and validated before anything
is queued, every bad input gets an error body with the right status and never a 5xx, and
whatever one organization sends, another organization's writes keep succeeding and ``/healthz``
keeps answering.

The first part holds one regression test per finding of the review; the second part sends every
endpoint (SCIM and the management API) oversized, deeply nested, mistyped (every JSON type in
every field) and mis-cased input while a second organization writes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import orjson
import pytest
import redis

from domain.listing import ListParams
from infra.redis.cursor_secret import CURSOR_SECRET_KEY
from infra.store.cursors import CursorCodec, Position
from domain.limits import (
    MAX_ATTRIBUTE_NAMES,
    MAX_INDEXED_STRING,
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    MAX_PATCH_OPERATIONS,
)
from tests.e2e.scim_bodies import ERROR, GROUP_SCHEMA, USER_SCHEMA, okta_group, okta_user, patch
from tests.support.stack import Stack

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_JSON = {"Content-Type": "application/scim+json"}
HEALTHZ_BOUND = 5.0  # seconds: generous, this is about never blocking, not about speed


# ============================================================================ helpers


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/scim+json"), response.headers
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status) and body["detail"], body
    if scim_type:
        assert body.get("scimType") == scim_type, body
    return body


def assert_scim_answer(response) -> None:
    """No 5xx; any 4xx is an RFC 7644 error body carrying that status."""
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:500])
    if response.status_code >= 400:
        assert_scim_error(response, response.status_code)


def assert_management_answer(response) -> None:
    """No 5xx; any 4xx is the management API's JSON error body carrying that status."""
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:500])
    if response.status_code >= 400:
        error = response.json().get("error") or {}
        assert error.get("status") == response.status_code, (response.request.url, response.text[:300])


def email(prefix: str = "abuse") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def deep(levels: int):
    """A JSON value ``levels`` levels deep (arrays and objects alternating)."""
    value: object = []
    for level in range(levels - 1):
        value = [value] if level % 2 else {"k": value}
    return value


def raw(body) -> bytes:
    return json.dumps(body).encode()  # stdlib: takes what orjson would refuse to write (deep values)


def upper_keys(value):
    """Every member name upper-cased, at every level (SCIM member names are case-insensitive)."""
    if isinstance(value, dict):
        return {key.upper(): upper_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [upper_keys(item) for item in value]
    return value


@contextmanager
def healthz_watch(stack):
    """Polls ``/healthz`` in the background; yields a dict whose ``worst`` is the slowest answer."""
    seen = {"worst": 0.0, "answers": 0, "failures": []}
    stop = threading.Event()

    def poll():
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(f"{stack.url}/healthz").status_code
                except httpx.HTTPError as error:
                    status = repr(error)
                seen["worst"] = max(seen["worst"], time.monotonic() - started)
                seen["answers"] += 1
                if status != 200:
                    seen["failures"].append(status)
                stop.wait(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=60)
    assert seen["answers"] > 0 and not seen["failures"], seen
    assert seen["worst"] < HEALTHZ_BOUND, f"/healthz took {seen['worst']:.1f}s while the abuse ran"


@contextmanager
def another_org_writing(stack):
    """A second organization creating, changing and deleting users and Teams the whole time;
    asserts afterwards that every one of its writes succeeded."""
    org = stack.new_org()
    statuses: list = []
    stop = threading.Event()

    def write():
        try:
            keep_writing()
        except Exception as error:  # a broken writer must fail the test, not pass it
            statuses.append(("writer", repr(error)))

    def keep_writing():
        with stack.scim(org) as client:
            while not stop.is_set():
                user = client.post("/Users", json=okta_user(email("victim")))
                statuses.append(("POST /Users", user.status_code))
                if user.status_code != 201:
                    continue
                user_id = user.json()["id"]
                statuses.append(("PATCH /Users", client.patch(
                    f"/Users/{user_id}", json=patch({"op": "replace", "value": {"active": False}})).status_code))
                team = client.post("/Groups", json=okta_group(f"victims-{uuid.uuid4().hex[:8]}"))
                statuses.append(("POST /Groups", team.status_code))
                if team.status_code == 201:
                    statuses.append(("PATCH /Groups", client.patch(f"/Groups/{team.json()['id']}", json=patch(
                        {"op": "add", "path": "members", "value": [{"value": user_id}]})).status_code))
                statuses.append(("DELETE /Users", client.delete(f"/Users/{user_id}").status_code))

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield org
    finally:
        stop.set()
        thread.join(timeout=120)
    failed = [entry for entry in statuses if not isinstance(entry[1], int) or not 200 <= entry[1] < 300]
    assert statuses and not failed, failed[:10]


def run_all(client_factory, requests, check, threads: int = 4) -> int:
    """Send ``requests`` ((method, path, kwargs)) from ``threads`` clients; ``check`` each answer."""
    local = threading.local()

    def send(item):
        method, path, kwargs = item
        if not hasattr(local, "client"):
            local.client = client_factory()
        response = local.client.request(method, path, **kwargs)
        check(response)
        return response.status_code

    with ThreadPoolExecutor(threads) as pool:
        return len(list(pool.map(send, requests)))


# ============================================================================ findings of the review


def test_a_deeply_nested_patch_is_refused_and_fails_no_other_organizations_writes(stack, scim):
    """It used to pass the ingress (orjson takes 1,023 levels), break the Celery message of its
    whole batch, and fail every other organization's command in that batch with a 503."""
    user = scim.post("/Users", json=okta_user(email())).json()
    poison = b'{"Operations":[{"op":"replace","path":"title","value":' + b"[" * 990 + b"]" * 990 + b"}]}"
    other = stack.new_org()
    with stack.scim(other) as victim, ThreadPoolExecutor(12) as pool:
        poisoned = [pool.submit(scim.patch, f"/Users/{user['id']}", content=poison, headers=SCIM_JSON)
                    for _ in range(12)]
        writes = [pool.submit(victim.post, "/Users", json=okta_user(email("victim"))) for _ in range(24)]
        assert [future.result().status_code for future in writes] == [201] * 24
        for future in poisoned:
            assert_scim_error(future.result(), 400, "invalidSyntax")
    assert "title" not in scim.get(f"/Users/{user['id']}").json()


@pytest.mark.parametrize("where", ["/Users", "/Groups", "/Bulk", "/.search", "/Users/.search", "/Users/x"])
def test_bodies_nested_past_the_bound_are_invalid_syntax_everywhere(scim, where):
    method = "PATCH" if where == "/Users/x" else "POST"
    fine = {"schemas": [USER_SCHEMA], "userName": email(), "name": deep(MAX_JSON_DEPTH - 1)}
    too_deep = dict(fine, name=deep(MAX_JSON_DEPTH))
    assert "nested" not in scim.request(method, where, content=raw(fine), headers=SCIM_JSON).text
    body = assert_scim_error(scim.request(method, where, content=raw(too_deep), headers=SCIM_JSON), 400, "invalidSyntax")
    assert "nested more than" in body["detail"]


def test_a_search_naming_100000_attributes_is_refused_without_blocking_the_ingress(stack, scim):
    """It used to block the event loop for 22 s (/healthz included): the selection was rebuilt
    for every resource rendered."""
    scim.post("/Bulk", json={"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": okta_user(email("page"))} for i in range(40)]})
    names = [f"a{i}" for i in range(100_000)]  # 689 KB as in the review
    with healthz_watch(stack):
        for path in ("/Users/.search", "/.search", "/Groups/.search"):
            started = time.monotonic()
            body = assert_scim_error(scim.post(path, json={"schemas": [SEARCH], "attributes": names}), 400, "invalidValue")
            assert str(MAX_ATTRIBUTE_NAMES) in body["detail"] and time.monotonic() - started < HEALTHZ_BOUND
        assert_scim_error(scim.post("/Users/.search", json={"excludedAttributes": ["emails"] * 100_000}), 400, "invalidValue")
        # The most a request may name still renders a full page, the names resolved once for all.
        most = (["userName", "name.givenName", "EMAILS.value", f"{ENTERPRISE}:manager"] * MAX_ATTRIBUTE_NAMES)[
            :MAX_ATTRIBUTE_NAMES]
        page = scim.post("/Users/.search", json={"attributes": most, "count": 200})
        assert page.status_code == 200, page.text
        resources = page.json()["Resources"]
        assert len(resources) >= 40
        assert all(set(r) <= {"schemas", "id", "userName", "name", "emails"} and r["name"] == {"givenName": "Test"}
                   for r in resources)
        listed = scim.get("/Users", params={"attributes": ",".join(most[:60]), "count": 200})
        assert listed.status_code == 200 and len(listed.json()["Resources"]) >= 40
        assert_scim_error(scim.get("/Users", params={"attributes": ",".join(["a"] * (MAX_ATTRIBUTE_NAMES + 1))}),
                          400, "invalidValue")


def bulk(scim, *operations, **extra):
    response = scim.post("/Bulk", json={"schemas": [BULK], "Operations": list(operations), **extra})
    assert response.status_code == 200, response.text
    return response.json()["Operations"]


def user_post(bulk_id: str, user_name: str | None = None) -> dict:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": okta_user(user_name or email("bulk"))}


def test_bulk_path_referencing_an_undeclared_bulk_id_is_invalid_value_and_keeps_what_ran(scim):
    results = bulk(scim, user_post("a"), {"method": "DELETE", "path": "/Users/bulkId:nobody"},
                   {"method": "PATCH", "path": "/Groups/bulkId:nobody", "data": patch(
                       {"op": "replace", "path": "displayName", "value": "x"})})
    assert [r["status"] for r in results] == ["201", "400", "400"]
    assert all(r["response"]["scimType"] == "invalidValue" for r in results[1:])
    assert scim.get(f"/Users/{results[0]['location'].rsplit('/', 1)[-1]}").status_code == 200


def test_bulk_path_referencing_a_later_post_waits_for_it(scim):
    results = bulk(scim, {"method": "PATCH", "path": "/Users/bulkId:later", "data": patch(
        {"op": "replace", "path": "title", "value": "waited"})}, user_post("later"))
    assert [r["status"] for r in results] == ["200", "201"]
    user_id = results[1]["location"].rsplit("/", 1)[-1]
    assert results[0]["location"].endswith(f"/Users/{user_id}")
    assert scim.get(f"/Users/{user_id}").json()["title"] == "waited"


def test_bulk_path_referencing_a_failed_post_is_409_and_keeps_what_ran(scim):
    taken = scim.post("/Users", json=okta_user(email("taken"))).json()
    results = bulk(scim, user_post("fine"), user_post("dup", taken["userName"]),
                   {"method": "DELETE", "path": "/Users/bulkId:dup"},
                   {"method": "PUT", "path": "/Users/bulkId:dup", "data": okta_user(email())})
    assert [r["status"] for r in results] == ["201", "409", "409", "409"]
    assert scim.get(f"/Users/{taken['id']}").status_code == 200
    assert scim.get(f"/Users/{results[0]['location'].rsplit('/', 1)[-1]}").status_code == 200


def test_bulk_circular_references_through_paths_are_409(scim):
    results = bulk(scim,
                   {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
                       "displayName": f"g1-{uuid.uuid4().hex[:6]}", "members": [{"value": "bulkId:g2"}]}},
                   {"method": "POST", "path": "/Groups", "bulkId": "g2", "data": {
                       "displayName": f"g2-{uuid.uuid4().hex[:6]}", "members": [{"value": "bulkId:g1"}]}},
                   {"method": "DELETE", "path": "/Groups/bulkId:g1"})
    assert [r["status"] for r in results] == ["409", "409", "409"]


def test_mis_cased_member_names_mean_the_same_everywhere(scim):
    user = scim.post("/Users", json=okta_user(email())).json()
    changed = scim.patch(f"/Users/{user['id']}", json={
        "SCHEMAS": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "operations": [{"OP": "Replace", "Path": "title", "VALUE": "lower"}]})
    assert changed.status_code == 200 and changed.json()["title"] == "lower", changed.text
    response = scim.post("/Bulk", json={"Schemas": [BULK], "operations": [
        {"METHOD": "post", "PATH": "/Users", "BULKID": "m", "DATA": okta_user(email("cased"))},
        {"Method": "PATCH", "Path": "/Users/bulkId:m", "Data": {"Operations": [{"op": "add", "path": "title", "value": "b"}]}},
        {"method": "PATCH", "path": f"/Users/{user['id']}", "data": {"operations": [
            {"Op": "replace", "PATH": "nickName", "Value": "nick"}]}},
    ], "FAILONERRORS": 5})
    assert response.status_code == 200, response.text
    results = response.json()["Operations"]
    assert [r["status"] for r in results] == ["201", "200", "200"], results
    assert scim.get(f"/Users/{results[0]['location'].rsplit('/', 1)[-1]}").json()["title"] == "b"
    assert scim.get(f"/Users/{user['id']}").json()["nickName"] == "nick"
    canonical = scim.post("/Users/.search", json={
        "schemas": [SEARCH], "filter": f'userName eq "{user["userName"]}"', "attributes": ["userName"]}).json()
    cased = scim.post("/Users/.search", json={
        "SCHEMAS": [SEARCH], "FILTER": f'userName eq "{user["userName"]}"', "Attributes": ["USERNAME"]}).json()
    assert canonical == cased and canonical["totalResults"] == 1


def test_a_member_named_twice_in_different_cases_means_its_exact_spelling_only(stack, scim):
    """Read as the PATCH parser reads it: the exact spelling, else the first in any case. What is
    validated is what is applied; the other spelling is neither applied nor queued."""
    user = scim.post("/Users", json=okta_user(email())).json()
    marker = f"m-{uuid.uuid4().hex}"
    body = {"operations": [{"op": "replace", "path": "nickName", "value": marker}],
            "Operations": [{"op": "replace", "path": "title", "value": "exact"}]}
    assert scim.patch(f"/Users/{user['id']}", json=body).status_code == 200
    twice = {"op": "replace", "Path": "nickName", "path": "displayName", "value": "exact"}
    assert scim.patch(f"/Users/{user['id']}", json=patch(twice)).status_code == 200
    stored = scim.get(f"/Users/{user['id']}").json()
    assert stored["title"] == "exact" and stored["displayName"] == "exact" and "nickName" not in stored
    named = email("named")
    assert bulk(scim) == [] and scim.post("/Bulk", json={"Operations": [], "operations": [
        {"method": "POST", "path": "/Users", "data": okta_user(named)}]}).json()["Operations"] == []
    assert scim.get("/Users", params={"filter": f'userName eq "{named}"'}).json()["totalResults"] == 0
    assert_scim_error(scim.post("/Users", json={"userName": email(), "USERNAME": email()}), 400, "invalidValue")
    assert marker not in stack.logs()


@pytest.mark.parametrize("path", ["/Users/.search", "/Groups/.search", "/.search"])
@pytest.mark.parametrize("member", ["attributes", "excludedAttributes", "ATTRIBUTES"])
@pytest.mark.parametrize("value", [5, 1.5, True, {"userName": 1}, [["userName"]], [None], ["userName", 7], [{}], [[]]])
def test_non_string_attribute_lists_in_a_search_request_are_invalid_value(scim, path, member, value):
    assert_scim_error(scim.post(path, json={"schemas": [SEARCH], member: value}), 400, "invalidValue")


def test_null_and_string_attribute_lists_in_a_search_request_are_fine(scim):
    for value in (None, "userName", "userName,emails", ["userName", "emails"], []):
        assert scim.post("/.search", json={"schemas": [SEARCH], "attributes": value}).status_code == 200


@pytest.mark.parametrize("digits", [4301, 5000])
def test_integers_of_thousands_of_digits_are_invalid_filter_and_invalid_path(scim, digits):
    number = "1" * digits
    assert_scim_error(scim.get("/Users", params={"filter": f"title eq {number}"}), 400, "invalidFilter")
    assert_scim_error(scim.get("/Groups", params={"filter": f"displayName gt -{number}"}), 400, "invalidFilter")
    assert_scim_error(scim.post("/.search", json={"filter": f"emails[value eq {number}]"}), 400, "invalidFilter")
    assert_scim_error(scim.get("/Users", params={"sortBy": f"emails[value eq {number}].value"}), 400, "invalidValue")
    user = scim.post("/Users", json=okta_user(email())).json()
    for path in (f"emails[value eq {number}].type", f"emails[value eq {number}]"):
        assert_scim_error(scim.patch(f"/Users/{user['id']}", json=patch({"op": "remove", "path": path})), 400,
                          "invalidPath")
    results = bulk(scim, {"method": "PATCH", "path": f"/Users/{user['id']}",
                          "data": patch({"op": "remove", "path": f"emails[value eq {number}]"})})
    assert results[0]["status"] == "400" and results[0]["response"]["scimType"] == "invalidPath"


# ------------------------------------------------------------------ cursors


def cursor_page(scim, **params):
    response = scim.get("/Users", params={"cursor": "", "count": 1, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_cursor_forged_with_the_store_url_key_is_invalid(stack, scim):
    """The key used to be derived from the database URL (the default SQLite path), so anyone who
    knew it could forge a cursor."""
    for _ in range(2):
        scim.post("/Users", json=okta_user(email("cursor")))
    org_id = scim.base_url.path.rstrip("/").rsplit("/", 1)[-1]
    params = ListParams(filter=None, start_index=1, count=1, sort_by=None, descending=False, cursor="")
    for url in (stack.database_url, "sqlite+aiosqlite:///.scimgate/scimgate.db", ""):
        guessed = hashlib.sha256(f"scimgate-cursor:{url}".encode()).digest()
        forged = CursorCodec(guessed, org_id, "Users", params, timeout=3600).encode(Position(0, [0], False))
        assert_scim_error(scim.get("/Users", params={"cursor": forged, "count": 1}), 400, "invalidCursor")
    first = cursor_page(scim)
    assert cursor_page(scim, cursor=first["nextCursor"])["Resources"]  # a real one still works


def test_the_cursor_secret_is_random_shared_through_redis_and_malformed_payloads_are_invalid(stack, scim):
    scim.post("/Users", json=okta_user(email("cursor")))
    client = redis.Redis.from_url(stack.redis_url)
    try:
        secret = client.get(CURSOR_SECRET_KEY)
    finally:
        client.close()
    assert secret and len(secret) == 64 and stack.database_url.encode() not in secret
    key = hashlib.sha256(b"scimgate-cursor:" + secret).digest()
    org_id = scim.base_url.path.rstrip("/").rsplit("/", 1)[-1]
    params = ListParams(filter=None, start_index=1, count=1, sort_by=None, descending=False, cursor="")
    codec = CursorCodec(key, org_id, "Users", params, timeout=3600)
    genuine = codec.encode(Position(0, [0], False))
    assert scim.get("/Users", params={"cursor": genuine, "count": 1}).status_code == 200
    good = {"o": org_id, "q": codec.binding, "p": 0, "k": [0], "b": 0, "t": int(time.time())}
    for payload in ({**good, "k": ["zero"]}, {**good, "k": [{"dt": "not a date"}]}, {**good, "p": "0"},
                    {**good, "p": 5}, {**good, "k": [0, 1]}, {**good, "b": "yes"}, {**good, "t": "now"},
                    {k: v for k, v in good.items() if k != "k"}, {k: v for k, v in good.items() if k != "t"},
                    [good], "cursor"):
        data = orjson.dumps(payload)
        mac = base64.urlsafe_b64encode(hmac.new(key, data, hashlib.sha256).digest()[:16]).rstrip(b"=").decode()
        forged = base64.urlsafe_b64encode(data).rstrip(b"=").decode() + "." + mac
        assert_scim_error(scim.get("/Users", params={"cursor": forged, "count": 1}), 400, "invalidCursor")
        assert_scim_error(scim.post("/Users/.search", json={"cursor": forged, "count": 1}), 400, "invalidCursor")
    for garbage in ("é.é", "eyJ9.é", "x" * 5000, "a.b.c", ".", 5, ["x"]):
        response = scim.post("/Users/.search", json={"cursor": garbage})
        assert_scim_error(response, 400, "invalidValue" if not isinstance(garbage, str) else "invalidCursor")


# ------------------------------------------------------------------ strings the store indexes


def test_strings_longer_than_their_column_are_invalid_value_on_every_backend(scim):
    too_long, longest = "x" * (MAX_INDEXED_STRING + 1), "x" * MAX_INDEXED_STRING
    user = scim.post("/Users", json=okta_user(email())).json()
    group = scim.post("/Groups", json=okta_group(f"long-{uuid.uuid4().hex[:6]}")).json()
    for name in ("userName", "displayName", "externalId"):
        body = dict(okta_user(email()), **{name: too_long})
        assert_scim_error(scim.post("/Users", json=body), 400, "invalidValue")
        assert_scim_error(scim.put(f"/Users/{user['id']}", json=body), 400, "invalidValue")
        assert_scim_error(scim.patch(f"/Users/{user['id']}", json=patch(
            {"op": "replace", "path": name, "value": too_long})), 400, "invalidValue")
        assert_scim_error(scim.patch(f"/Users/{user['id']}", json=patch(
            {"op": "replace", "value": {name.upper(): too_long}})), 400, "invalidValue")
        assert bulk(scim, {"method": "POST", "path": "/Users", "bulkId": "l", "data": body})[0]["status"] == "400"
    for name in ("displayName", "externalId"):
        assert_scim_error(scim.post("/Groups", json=dict(okta_group("g"), **{name: too_long})), 400, "invalidValue")
        assert_scim_error(scim.patch(f"/Groups/{group['id']}", json=patch(
            {"op": "replace", "path": name, "value": too_long})), 400, "invalidValue")
    assert_scim_error(scim.patch(f"/Groups/{group['id']}", json=patch(
        {"op": "add", "path": "members", "value": [{"value": user["id"], "display": too_long}]})), 400, "invalidValue")
    assert_scim_error(scim.post("/Groups", json=dict(okta_group(f"m-{uuid.uuid4().hex[:6]}"), members=[
        {"value": user["id"], "display": too_long}])), 400, "invalidValue")
    assert scim.get(f"/Users/{user['id']}").json()["userName"] == user["userName"]
    # Exactly as long as the column is fine.
    fits = scim.post("/Users", json=dict(okta_user(email()), displayName=longest, externalId=longest))
    assert fits.status_code == 201, fits.text
    assert scim.patch(f"/Users/{fits.json()['id']}", json=patch(
        {"op": "replace", "path": "userName", "value": longest[:-20] + uuid.uuid4().hex[:20]})).status_code == 200
    assert scim.patch(f"/Groups/{group['id']}", json=patch(
        {"op": "add", "path": "members", "value": [{"value": user["id"], "display": longest}]})).status_code == 204


def test_counts_are_bounded(scim):
    group = scim.post("/Groups", json=okta_group(f"ops-{uuid.uuid4().hex[:6]}")).json()
    remove = {"op": "remove", "path": 'members[value eq "nobody"]'}
    assert_scim_error(scim.patch(f"/Groups/{group['id']}", json=patch(*[remove] * (MAX_PATCH_OPERATIONS + 1))), 413)
    assert scim.patch(f"/Groups/{group['id']}", json=patch(*[remove] * MAX_PATCH_OPERATIONS)).status_code == 204
    many = b"[" + b",".join([b"{}"] * (MAX_JSON_CONTAINERS + 1)) + b"]"
    for path in ("/Users", "/Bulk", "/.search"):
        assert_scim_error(scim.post(path, content=many, headers=SCIM_JSON), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users/.search", json={"filter": " or ".join(['userName eq "a"'] * 501)}), 400,
                      "invalidFilter")
    assert_scim_error(scim.post("/.search", json={"filter": 'userName eq "' + "a" * 20_000 + '"'}), 400,
                      "invalidFilter")


# ------------------------------------------------------------------ slow clients


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory):
    """An ingress that gives a request body one second."""
    running = Stack(tmp_path_factory.mktemp("slow"), extra_env={"SCIMGATE_BODY_TIMEOUT": "1"}).start(worker=False)
    yield running
    running.stop()


def trickle(stack, path: str, token: str, sent: bytes = b"{", length: int = 200) -> tuple[float, bytes]:
    """Send the headers and part of a body, then nothing; return when the answer arrived and it."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/scim+json\r\nContent-Length: {length}\r\n\r\n".encode() + sent
        )
        started, answer = time.monotonic(), b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return time.monotonic() - started, answer


def test_a_body_that_never_arrives_is_answered_408(slow_stack):
    org = slow_stack.new_org()
    with healthz_watch(slow_stack), ThreadPoolExecutor(8) as pool:
        paths = [f"/scim/v2/{org.id}/Users", f"/scim/v2/{org.id}/Bulk", f"/scim/v2/{org.id}/.search"] * 2
        answers = list(pool.map(lambda path: trickle(slow_stack, path, org.token), paths))
        for waited, answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer[:300]
            assert b"application/scim+json" in head and waited < HEALTHZ_BOUND
            assert json.loads(body) == {"schemas": [ERROR], "status": "408",
                                        "detail": "The request body was not received within 1 seconds"}
    waited, answer = trickle(slow_stack, f"/api/v1/organizations/{org.id}/teams", org.token, sent=b"")
    assert answer.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in answer and waited < HEALTHZ_BOUND


# ============================================================================ every endpoint, every field

TYPES = [None, True, 0, -1.5, 2**63 - 1, 1e308, "", "ü\u2028\U0001F600", "x" * 600, "bulkId:nope",
         [], [None, 1, "a"], [[[]]], {}, {"value": {"value": "x"}}, [{"value": "x", "display": 5}]]


def mutations(body: dict, fields: list[str]):
    """``body`` with each of ``fields`` (dotted for nested objects, ``[0]`` for a list's first
    item) set to each JSON type, then the whole body with its member names upper-cased."""
    for name in fields:
        for value in TYPES:
            mutated = json.loads(json.dumps(body))
            target, parts = mutated, name.split(".")
            for part in parts[:-1]:
                target = target[0] if part == "[0]" else target.setdefault(part, {})
            target[parts[-1]] = value
            yield mutated
    yield upper_keys(body)


def scim_requests(user_id: str, group_id: str):
    user = okta_user("template@example.com")
    user[ENTERPRISE] = {"department": "x", "manager": {"value": user_id}}
    user_fields = ["schemas", "userName", "name", "name.givenName", "displayName", "emails", "active", "externalId",
                   "password", "groups", "phoneNumbers", "x509Certificates", "meta", "id", f"{ENTERPRISE}.manager",
                   ENTERPRISE, "favouriteColour", "urn:example:unknown"]
    group = {"schemas": [GROUP_SCHEMA], "displayName": "template", "externalId": "e",
             "members": [{"value": user_id, "display": "d", "type": "User"}]}
    group_fields = ["schemas", "displayName", "externalId", "members", "members.[0].value", "members.[0].display",
                    "members.[0].type", "members.[0].$ref"]
    requests = []

    def unique(body):
        """A POST body that creates a new resource when it is valid (not a 409 on the template's name)."""
        for key, template, fresh in (("userName", "template@example.com", email("matrix")),
                                     ("displayName", "template", f"matrix-{uuid.uuid4().hex[:10]}")):
            for spelling in (key, key.upper()):
                if body.get(spelling) == template:
                    body = dict(body, **{spelling: fresh})
        return body

    for body in mutations(user, user_fields):
        requests.append(("POST", "/Users", {"content": raw(unique(body)), "headers": SCIM_JSON}))
        requests.append(("PUT", f"/Users/{user_id}", {"content": raw(body), "headers": SCIM_JSON}))
    for body in mutations(group, group_fields):
        requests.append(("POST", "/Groups", {"content": raw(unique(body)), "headers": SCIM_JSON}))
        requests.append(("PUT", f"/Groups/{group_id}", {"content": raw(body), "headers": SCIM_JSON}))
    for target, paths in ((f"/Users/{user_id}", ["title", "name", "emails", 'emails[type eq "work"].value', "active",
                                                  "externalId", f"{ENTERPRISE}:manager", None]),
                          (f"/Groups/{group_id}", ["members", 'members[value eq "x"]', "displayName", None])):
        for path in paths:
            operation = {"op": "replace", "value": "v"} if path is None else {"op": "add", "path": path, "value": "v"}
            for body in mutations(patch(operation), ["schemas", "Operations", "Operations.[0].op",
                                                      "Operations.[0].path", "Operations.[0].value"]):
                requests.append(("PATCH", target, {"content": raw(body), "headers": SCIM_JSON}))
    search = {"schemas": [SEARCH], "attributes": ["userName"], "excludedAttributes": ["emails"],
              "filter": "userName pr", "sortBy": "userName", "sortOrder": "descending", "startIndex": 1,
              "count": 2, "cursor": ""}
    for path in ("/Users/.search", "/Groups/.search", "/.search"):
        for body in mutations(search, list(search)):
            requests.append(("POST", path, {"content": raw(body), "headers": SCIM_JSON}))
    bulk_body = {"schemas": [BULK], "failOnErrors": 3, "Operations": [
        {"method": "PATCH", "path": f"/Users/{user_id}", "bulkId": "b", "version": 'W/"1"',
         "data": patch({"op": "replace", "path": "title", "value": "t"})}]}
    for body in mutations(bulk_body, ["schemas", "failOnErrors", "Operations", "Operations.[0].method",
                                      "Operations.[0].path", "Operations.[0].bulkId", "Operations.[0].version",
                                      "Operations.[0].data"]):
        requests.append(("POST", "/Bulk", {"content": raw(body), "headers": SCIM_JSON}))
    texts = ["", "x", "\x00", "y" * 5000, "1" * 4301, "(((", 'userName eq "a"', "emails[", "ü", " , ,",
             "-1", "9" * 30]
    for name in ("filter", "sortBy", "sortOrder", "attributes", "excludedAttributes", "startIndex", "count", "cursor"):
        for text in texts:
            for path in ("/Users", "/Groups", f"/Users/{user_id}"):
                requests.append(("GET", path, {"params": {name: text}}))
    for weird in ("x" * 2000, "%00", "ü", "..", "bulkId:x", "a%2Fb", "%25", "1" * 4301):
        for method in ("GET", "DELETE", "PUT", "PATCH"):
            for kind in ("Users", "Groups"):
                requests.append((method, f"/{kind}/{weird}", {"content": b"{}", "headers": SCIM_JSON}))
        for path in ("/Schemas/", "/ResourceTypes/"):
            requests.append(("GET", path + weird, {}))
    for path in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
        requests.append(("GET", path, {"params": {"attributes": "x" * 5000, "filter": "((("}}))
    oversized = b'{"userName":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    too_deep = raw({"Operations": [{"op": "add", "value": deep(MAX_JSON_DEPTH + 1)}]})
    for method, path in (("POST", "/Users"), ("PUT", f"/Users/{user_id}"), ("PATCH", f"/Users/{user_id}"),
                         ("POST", "/Groups"), ("PUT", f"/Groups/{group_id}"), ("PATCH", f"/Groups/{group_id}"),
                         ("POST", "/Users/.search"), ("POST", "/Groups/.search"), ("POST", "/.search"),
                         ("POST", "/Bulk")):
        requests.append((method, path, {"content": oversized, "headers": SCIM_JSON}))
        requests.append((method, path, {"content": too_deep, "headers": SCIM_JSON}))
    return requests


def management_requests(team_id: str, user_id: str):
    requests = []
    for path, body, fields in (("/teams", {"name": "t", "userIds": [user_id]}, ["name", "userIds", "userId"]),
                               (f"/teams/{team_id}", {"name": "renamed"}, ["name"]),
                               (f"/teams/{team_id}/members", {"userIds": [user_id]}, ["userIds", "userId"]),
                               ("/scim", {"enabled": False}, ["enabled"])):
        method = {"/teams": "POST", f"/teams/{team_id}": "PATCH", "/scim": "PUT"}.get(path, "POST")
        for mutated in mutations(body, fields):
            if path == "/teams" and mutated.get("name") == "t":
                mutated["name"] = f"t-{uuid.uuid4().hex[:10]}"
            requests.append((method, path, {"content": raw(mutated)}))
        requests.append((method, path, {"content": raw({"a": deep(MAX_JSON_DEPTH + 1)})}))
        requests.append((method, path, {"content": b"[" * 1000 + b"]" * 1000}))
        requests.append((method, path, {"content": b'{"name":"' + b"x" * (300 * 1024) + b'"}'}))
    for name in ("page", "pageSize"):
        for text in ("", "0", "-1", "x", "1" * 4301, "9" * 30, "1.5"):
            for path in ("/users", "/teams", f"/teams/{team_id}"):
                requests.append(("GET", path, {"params": {name: text}}))
    # (A NUL in a management path is answered by api/middleware.py's lenient_paths with a SCIM
    # body, not the management API's JSON: left to that file's owner.)
    for weird in ("x" * 2000, "ü", "1" * 4301, "%20"):
        requests.append(("GET", f"/users/{weird}", {}))
        requests.append(("DELETE", f"/teams/{team_id}/members/{weird}", {}))
        requests.append(("PATCH", f"/teams/{weird}", {"content": b'{"name": "n"}'}))
    return requests


def test_every_endpoint_and_field_with_every_json_type_never_5xx_while_another_org_writes(stack, org, scim):
    user = scim.post("/Users", json=okta_user(email("target"))).json()
    group = scim.post("/Groups", json=okta_group(f"target-{uuid.uuid4().hex[:6]}")).json()
    owner = stack.new_org(scim=False)  # the management API's writes need SCIM off
    headers = {"Authorization": f"Bearer {owner.token}"}
    base = f"{stack.url}/api/v1/organizations/{owner.id}"
    team = httpx.post(f"{base}/teams", json={"name": "matrix"}, headers=headers).json()
    with another_org_writing(stack), healthz_watch(stack):
        sent = run_all(lambda: stack.scim(org), scim_requests(user["id"], group["id"]), assert_scim_answer)
        sent += run_all(lambda: httpx.Client(base_url=base, headers=headers, timeout=60),
                        management_requests(team["id"], "nobody"), assert_management_answer)
        anonymous = [(method, path, {"content": b"[" * 1000 + b"]" * 1000, "headers": SCIM_JSON})
                     for method, path in (("POST", "/Users"), ("POST", "/Bulk"), ("PATCH", "/Users/x"))]
        sent += run_all(lambda: httpx.Client(base_url=f"{stack.url}/scim/v2/{org.id}", timeout=60), anonymous,
                        lambda response: assert_scim_error(response, 401))
    assert sent > 1500
    # The organizations abused stay as consistent as they were.
    assert scim.get(f"/Users/{user['id']}").status_code == 200
    assert httpx.get(f"{base}/teams", headers=headers).status_code == 200
