"""Operators: made by the CLI, stored as a hash, never let into SCIM (refusals audited), revocable."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import httpx
from sqlalchemy import text

from tests.e2e.scim_bodies import ERROR, okta_group, okta_user
from tests.e2e.test_tenancy_and_auth import _every_endpoint
from tests.support.stack import REPO


def scimgate(stack, *args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scimgate", *args], env=stack.env, cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=check)


def new_operator(stack, name: str = "ops") -> dict:
    return json.loads(scimgate(stack, "operator", "create", name, "--json").stdout)


def test_operator_create_prints_token_and_id_once_and_stores_a_hash(stack):
    made = new_operator(stack, f"ops-{uuid.uuid4().hex[:6]}")
    assert set(made) == {"token", "id"}
    with stack.engine.connect() as conn:
        assert made["token"] not in str(list(conn.execute(text("SELECT * FROM operators"))))
    listed = json.loads(scimgate(stack, "operator", "list", "--json").stdout)
    mine = [op for op in listed if op["id"] == made["id"]]
    assert mine and mine[0]["revoked"] is None and made["token"] not in json.dumps(listed)
    human = scimgate(stack, "operator", "list").stdout
    assert made["id"] in human and made["token"] not in human


def test_an_operator_token_never_reaches_scim_and_is_audited(stack, org):
    operator = new_operator(stack)
    with stack.scim(org) as client:
        user = client.post("/Users", json=okta_user(f"u{uuid.uuid4().hex[:6]}@example.com")).json()
        group = client.post("/Groups", json=okta_group(f"g{uuid.uuid4().hex[:6]}")).json()
    headers = {"Authorization": f"Bearer {operator['token']}"}
    endpoints = _every_endpoint(user["id"], group["id"])
    for method, path, body in endpoints:
        response = httpx.request(method, f"{stack.url}/scim/v2/{org.id}{path}", json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["schemas"] == [ERROR] and "operator" in response.json()["detail"]
    refused = [e for e in stack.audit_events(org.id, wait_for=len(endpoints) + 2)
               if e["action"] == "scim:auth:refused" and e.get("token_id") == operator["id"]]
    assert len(refused) == len(endpoints) and all(e["status"] == 403 for e in refused)
    assert operator["token"] not in json.dumps(refused)
    with stack.scim(org) as client:  # nothing changed
        assert client.get(f"/Users/{user['id']}").json()["active"] is True


def test_a_revoked_operator_token_is_refused(stack, org):
    operator = new_operator(stack)
    assert scimgate(stack, "operator", "revoke", operator["id"]).returncode == 0
    assert scimgate(stack, "operator", "revoke", operator["id"], check=False).returncode == 1
    response = httpx.get(f"{stack.url}/scim/v2/{org.id}/Users",
                         headers={"Authorization": f"Bearer {operator['token']}"})
    assert response.status_code == 401
    deadline = time.monotonic() + 15
    while True:  # relayed from the outbox by the worker's sweeper
        actions = {e["action"] for e in stack.audit_events() if e.get("resource_id") == operator["id"]}
        if actions >= {"operator:create", "operator:revoke"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert actions >= {"operator:create", "operator:revoke"}
