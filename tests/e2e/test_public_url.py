"""The public base URL behind a proxy (issue 10): every URL scimgate generates (``meta.location``,
``Location``, Bulk ``location``, ``$ref`` of members and groups, list and search responses,
discovery documents) uses ``SCIMGATE_PUBLIC_URL`` when set; otherwise the scheme and host that
a trusted proxy forwards, and from anyone else the request's own (valid) ``Host``."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.scim_bodies import GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, patch
from tests.support.stack import Stack

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "Forwarded": "proto=https;host=evil.example"}


def _urls(value) -> list[str]:
    """Every ``location`` and ``$ref`` in a response body."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("location", "$ref") and isinstance(v, str)]
        return found + [url for v in value.values() for url in _urls(v)]
    if isinstance(value, list):
        return [url for v in value for url in _urls(v)]
    return []


def every_generated_url(client: httpx.Client, headers: dict | None = None) -> list[str]:
    """Drive every endpoint that generates URLs; return them all (bodies and Location)."""
    headers = headers or {}
    seen: list[str] = []

    def call(method: str, path: str, expected: int, **kwargs) -> dict:
        response = client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expected, response.text
        if "Location" in response.headers:
            seen.append(response.headers["Location"])
        body = response.json() if response.content else {}
        seen.extend(_urls(body))
        return body

    user = call("POST", "/Users", 201, json={"schemas": [USER_SCHEMA], "userName": f"u-{uuid.uuid4().hex[:8]}"})
    group = call("POST", "/Groups", 201, json={"schemas": [GROUP_SCHEMA], "displayName": f"T {uuid.uuid4().hex[:8]}",
                                               "members": [{"value": user["id"]}]})
    assert "Location" in client.post("/Users", headers=headers, json={"userName": f"v-{uuid.uuid4().hex[:8]}"}).headers
    fetched_group = call("GET", f"/Groups/{group['id']}", 200)
    fetched_user = call("GET", f"/Users/{user['id']}", 200)
    assert fetched_group["members"][0]["$ref"] and fetched_user["groups"][0]["$ref"]  # both kinds of $ref
    call("PUT", f"/Users/{user['id']}", 200, json={"schemas": [USER_SCHEMA], "userName": user["userName"], "title": "x"})
    call("PATCH", f"/Users/{user['id']}", 200, json=patch({"op": "replace", "path": "title", "value": "y"}))
    call("PATCH", f"/Groups/{group['id']}?attributes=members", 200,
         json={"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]})
    listed = call("GET", "/Users", 200, params={"attributes": "userName,groups"})
    assert listed["Resources"]
    call("GET", "/Groups", 200)
    call("POST", "/Users/.search", 200, json={"schemas": [SEARCH_REQUEST], "filter": f'userName eq "{user["userName"]}"'})
    call("POST", "/.search", 200, json={"schemas": [SEARCH_REQUEST]})
    bulk = call("POST", "/Bulk", 200, json={"schemas": [BULK_REQUEST], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "b1", "data": {"schemas": [USER_SCHEMA], "userName": f"b-{uuid.uuid4().hex[:8]}"}},
        {"method": "PATCH", "path": f"/Users/{user['id']}", "data": patch({"op": "replace", "path": "title", "value": "z"})},
    ]})
    assert all(result.get("location") for result in bulk["Operations"])
    for path in ("/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/User", "/Schemas",
                 f"/Schemas/{USER_SCHEMA}"):
        call("GET", path, 200)
    assert len(seen) > 20
    return seen


def _client(stack: Stack, org, *, local_address: str | None = None) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    return httpx.Client(base_url=f"{stack.url}/scim/v2/{org.id}", timeout=60, transport=transport,
                        headers={"Authorization": f"Bearer {org.token}"})


@pytest.fixture(scope="module")
def public_stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("public-url"),
                    extra_env={"SCIMGATE_PUBLIC_URL": "https://scim.example.com/"}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def proxied_stack(tmp_path_factory):
    """Trusts one proxy, 127.0.0.1; clients that connect from 127.0.0.2 are not it."""
    running = Stack(tmp_path_factory.mktemp("proxied"), extra_env={"SCIMGATE_TRUSTED_PROXIES": "127.0.0.1"}).start()
    yield running
    running.stop()


def test_a_configured_public_url_is_in_every_generated_url(public_stack):
    org = public_stack.new_org()
    base = f"https://scim.example.com/scim/v2/{org.id}/"
    with _client(public_stack, org) as client:
        urls = every_generated_url(client, {**FORGED, "Host": "internal.example:8080"})
    assert all(url.startswith(base) for url in urls), [u for u in urls if not u.startswith(base)]


def test_by_default_forwarded_headers_are_ignored(stack, org):
    base = f"{stack.url}/scim/v2/{org.id}/"
    with _client(stack, org) as client:
        urls = every_generated_url(client, FORGED)
    assert all(url.startswith(base) for url in urls), [u for u in urls if not u.startswith(base)]


def test_a_trusted_proxy_sets_scheme_and_host(proxied_stack):
    org = proxied_stack.new_org()
    base = f"https://scim.example.com/scim/v2/{org.id}/"
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "scim.example.com", "Host": "internal:8080"}
    with _client(proxied_stack, org) as client:
        urls = every_generated_url(client, headers)
    assert all(url.startswith(base) for url in urls), [u for u in urls if not u.startswith(base)]


def test_a_trusted_proxy_may_say_it_with_rfc7239_forwarded(proxied_stack):
    org = proxied_stack.new_org()
    with _client(proxied_stack, org) as client:
        created = client.post("/Users", json={"userName": f"f-{uuid.uuid4().hex[:8]}"},
                              headers={"Forwarded": 'for=203.0.113.9;proto=https;host="scim.example.com:8443"'})
    assert created.status_code == 201, created.text
    base = f"https://scim.example.com:8443/scim/v2/{org.id}/Users/"
    assert created.headers["Location"].startswith(base) and created.json()["meta"]["location"].startswith(base)


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(proxied_stack):
    org = proxied_stack.new_org()
    base = f"{proxied_stack.url}/scim/v2/{org.id}/"
    with _client(proxied_stack, org, local_address="127.0.0.2") as client:
        urls = every_generated_url(client, FORGED)
    assert all(url.startswith(base) for url in urls), [u for u in urls if not u.startswith(base)]


@pytest.mark.parametrize("host", ["evil.example/phish?", "user@evil.example", "evil.example:99999", "a b"])
def test_an_invalid_host_is_never_reflected(proxied_stack, host):
    org = proxied_stack.new_org()
    with _client(proxied_stack, org) as client:
        # From the trusted proxy: an invalid forwarded host falls back to the (valid) Host.
        via_proxy = client.post("/Users", json={"userName": f"h-{uuid.uuid4().hex[:8]}"},
                                headers={"X-Forwarded-Host": host, "Host": "internal:8080"})
    # And an invalid Host itself: the address the request arrived on stands in for it. (Reached
    # by the name localhost, so the address differs from any Host the client would send.)
    with httpx.Client(base_url=f"http://localhost:{proxied_stack.port}/scim/v2/{org.id}", timeout=60,
                      headers={"Authorization": f"Bearer {org.token}"}) as client:
        assert client.get("/ServiceProviderConfig").json()["meta"]["location"].startswith("http://localhost:")
        direct = client.get("/ServiceProviderConfig", headers={"Host": host})
    assert via_proxy.status_code == 201, via_proxy.text
    assert via_proxy.headers["Location"].startswith(f"http://internal:8080/scim/v2/{org.id}/Users/")
    assert direct.status_code == 200, direct.text
    assert direct.json()["meta"]["location"] == f"{proxied_stack.url}/scim/v2/{org.id}/ServiceProviderConfig"
