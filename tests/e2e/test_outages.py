"""With its store or Redis unreachable the ingress answers 503 with Retry-After, never 500.

An ingress of the shared stack's deployment is started against a store (or a Redis) that does
not answer; every kind of request gets the SCIM (or management JSON) error a client can act on.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.scim_bodies import ERROR, okta_user
from tests.support.stack import REPO, free_port

DEAD_STORE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def ingress_with(stack, tmp_path):
    started: list[subprocess.Popen] = []

    def start(**env) -> str:
        port = free_port()
        log = open(tmp_path / f"ingress-{port}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "scimgate", "serve", "--port", str(port)],
                                env={**stack.env, **env}, cwd=REPO, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError((tmp_path / f"ingress-{port}.log").read_text()[-2000:])

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


def _is_scim_503(response: httpx.Response) -> bool:
    body = response.json()
    return (response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
            and body["schemas"] == [ERROR] and body["status"] == "503")


def test_store_unreachable_every_request_is_503_with_retry_after(ingress_with, org):
    url = ingress_with(SCIMGATE_DATABASE_URL=DEAD_STORE)
    auth = {"Authorization": f"Bearer {org.token}"}
    base = f"{url}/scim/v2/{org.id}"
    with httpx.Client(headers=auth, timeout=30) as client:
        assert _is_scim_503(client.get(f"{base}/Users"))
        assert _is_scim_503(client.get(f"{base}/Users/some-id"))
        assert _is_scim_503(client.post(f"{base}/Users", json=okta_user("down@example.com")))
        assert _is_scim_503(client.post(f"{base}/Groups/.search", json={"filter": 'displayName eq "x"'}))
        management = client.get(f"{url}/api/v1/organizations/{org.id}/users")
        assert management.status_code == 503 and management.headers["Retry-After"]
        assert management.json()["error"]["code"] == "unavailable"
        ready = client.get(f"{url}/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["store"].startswith("unavailable")
        assert client.get(f"{url}/healthz").status_code == 200  # the process itself is up


def test_redis_unreachable_reads_work_and_writes_are_503_never_applied(ingress_with, stack, org):
    url = ingress_with(SCIMGATE_REDIS_URL=DEAD_REDIS)
    base = f"{url}/scim/v2/{org.id}"
    with httpx.Client(headers={"Authorization": f"Bearer {org.token}"}, timeout=30) as client:
        assert client.get(f"{base}/Users").status_code == 200  # served from the store
        started = time.monotonic()
        write = client.post(f"{base}/Users", json=okta_user("queue-down@example.com"))
        assert _is_scim_503(write)
        assert time.monotonic() - started < 10  # decided at once, not at the deadline
        assert client.get(f"{url}/readyz").json()["checks"]["redis"].startswith("unavailable")
    with stack.scim(org) as healthy:  # the rest of the deployment never saw that write
        found = healthy.get("/Users", params={"filter": 'userName eq "queue-down@example.com"'}).json()
    assert found["totalResults"] == 0
