"""One operation traced through the JSON logs: from the IdP's X-Request-Id to the ingress's
command id, the worker's batch and its decision, and the audit event."""

from __future__ import annotations

import time
import uuid

import orjson

from tests.e2e.scim_bodies import okta_user


def _log_lines(stack) -> list[dict]:
    lines = []
    for raw in stack.logs().splitlines():
        if raw.startswith("{"):
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                pass
    return lines


def _wait_for(stack, predicate, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in _log_lines(stack) if predicate(line)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_request_id_leads_to_the_command_the_batch_and_the_event(stack, org, scim):
    request_id = f"trace-{uuid.uuid4().hex}"
    created = scim.post("/Users", json=okta_user(f"{request_id}@example.com"), headers={"X-Request-Id": request_id})
    assert created.status_code == 201 and created.headers["X-Request-Id"] == request_id

    [ingress] = _wait_for(stack, lambda line: line.get("event") == "http_request" and line.get("request_id") == request_id)
    command_id = ingress["command_id"]
    [decided] = _wait_for(stack, lambda line: line.get("event") == "command_decided" and line.get("command_id") == command_id)
    assert decided["request_id"] == request_id and decided["outcome"] == "applied" and decided["batch_id"]
    assert _wait_for(stack, lambda line: line.get("event") == "batch_applied" and line.get("batch_id") == decided["batch_id"])
    events = [e for e in stack.audit_events(org.id, wait_for=1) if e.get("request_id") == request_id]
    assert [e.get("command_id") for e in events] == [command_id]


def test_a_bulk_request_logs_every_command_id(stack, org, scim):
    request_id = f"bulk-{uuid.uuid4().hex}"
    operations = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}",
                   "data": okta_user(f"{request_id}-{i}@example.com")} for i in range(3)]
    answered = scim.post("/Bulk", headers={"X-Request-Id": request_id}, json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations})
    assert answered.status_code == 200, answered.text
    [ingress] = _wait_for(stack, lambda line: line.get("event") == "http_request" and line.get("request_id") == request_id)
    assert len(set(ingress["command_ids"])) == 3 and ingress["command_id"] in ingress["command_ids"]
    for command_id in ingress["command_ids"]:
        assert _wait_for(stack, lambda line: line.get("event") == "command_decided" and line.get("command_id") == command_id)
