"""Principles 1–3 of ARCHITECTURE.md under failure: redelivery, a killed worker, expired commands,
and parallel membership changes."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from dataclasses import replace

import orjson
import pytest
import redis
from celery import Celery
from sqlalchemy import func, select

from domain.commands import Actor, CreateUser
from infra.celery_config import APPLY_BATCH_TASK, celery_settings
from infra.config import Settings
from infra.store.tables import processed_commands, users
from tests.e2e.scim_bodies import okta_group, okta_user, patch
from tests.support.stack import Stack


@pytest.fixture
def private_stack(tmp_path):
    """A stack of its own, with short deadlines, for tests that stop or kill workers."""
    running = Stack(tmp_path / "stack", command_timeout=3.0, reply_margin=1.0).start()
    yield running
    running.stop()


def _producer(stack: Stack) -> Celery:
    env = stack.env
    settings = replace(
        Settings(), redis_url=stack.redis_url, queue_name=env["SCIMGATE_QUEUE"], command_timeout=stack.command_timeout
    )
    app = Celery("test-producer", set_as_current=False)
    app.conf.update(celery_settings(settings))
    return app


def _user_count(stack: Stack, org_id: str) -> int:
    with stack.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(users).where(users.c.org_id == org_id)).scalar_one()


def test_redelivered_command_is_applied_once_and_answered_alike(stack, org):
    reply_key = f"scimgate:reply:test-{uuid.uuid4().hex}"
    command = CreateUser(
        id=uuid.uuid4().hex,
        org_id=org.id,
        actor=Actor(token_id=org.token_id, user_agent="test", idp="unknown"),
        request_id="req-redelivery",
        deadline=time.time() + 30,
        reply_to=reply_key,
        body={k: v for k, v in okta_user("redelivered@example.com").items() if k != "password"},
    )
    producer = _producer(stack)
    queue = stack.env["SCIMGATE_QUEUE"]
    producer.send_task(APPLY_BATCH_TASK, args=[[command.to_wire()]], queue=queue)
    producer.send_task(APPLY_BATCH_TASK, args=[[command.to_wire()]], queue=queue)  # Celery delivers twice
    client = redis.Redis.from_url(stack.redis_url)
    replies = [orjson.loads(client.blpop([reply_key], timeout=20)[1]) for _ in range(2)]
    client.close()
    assert replies[0] == replies[1]
    assert replies[0]["status"] == 201
    assert _user_count(stack, org.id) == 1
    with stack.engine.connect() as conn:
        decided = conn.execute(
            select(func.count()).select_from(processed_commands).where(processed_commands.c.command_id == command.id)
        ).scalar_one()
    assert decided == 1
    events = [e for e in stack.audit_events(org.id, wait_for=1) if e.get("command_id") == command.id]
    time.sleep(1.0)
    events = [e for e in stack.audit_events(org.id) if e.get("command_id") == command.id]
    assert len(events) == 1 and events[0]["action"] == "scim:user:create"


def test_expired_command_is_never_applied(private_stack):
    stack = private_stack
    org = stack.new_org()
    stack.kill_workers()  # nobody consumes: the command waits on the queue past its deadline
    reply_key = f"scimgate:reply:test-{uuid.uuid4().hex}"
    command = CreateUser(
        id=uuid.uuid4().hex, org_id=org.id, actor=Actor(token_id=org.token_id),
        request_id="req-late", deadline=time.time() + 0.5, reply_to=reply_key,
        body={k: v for k, v in okta_user("late@example.com").items() if k != "password"},
    )
    _producer(stack).send_task(APPLY_BATCH_TASK, args=[[command.to_wire()]], queue=stack.env["SCIMGATE_QUEUE"])
    time.sleep(1.0)
    stack.start_worker()  # it now receives the expired command: drops it and records that it did
    client = redis.Redis.from_url(stack.redis_url)
    reply = orjson.loads(client.blpop([reply_key], timeout=20)[1])
    client.close()
    assert reply["status"] == 503
    with stack.engine.connect() as conn:
        outcomes = [row.outcome for row in conn.execute(select(processed_commands.c.outcome).where(
            processed_commands.c.org_id == org.id))]
    assert outcomes == ["expired"]
    assert _user_count(stack, org.id) == 0
    events = stack.audit_events(org.id, wait_for=1)
    assert [e["outcome"] for e in events if e["action"] == "scim:user:create"] == ["expired"]


def test_worker_killed_mid_batch_applies_each_command_once_or_never(private_stack):
    stack = private_stack
    org = stack.new_org()
    names = [f"kill.{i}.{uuid.uuid4().hex[:6]}@example.com" for i in range(120)]

    def create(name: str) -> tuple[str, int]:
        with stack.scim(org) as client:
            return name, client.post("/Users", json=okta_user(name)).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        futures = [pool.submit(create, name) for name in names]
        time.sleep(0.4)
        stack.kill_workers()  # SIGKILL while batches are in flight
        stack.start_worker()
        results = dict(future.result() for future in futures)

    assert set(results.values()) <= {201, 503}, results
    with stack.engine.connect() as conn:
        stored = [row.user_name for row in conn.execute(select(users.c.user_name).where(users.c.org_id == org.id))]
    assert len(stored) == len(set(stored))
    for name, status in results.items():
        assert (name in stored) == (status == 201), (name, status)
    # After every deadline has passed, nothing more lands: a 503 stays never-applied.
    time.sleep(stack.command_timeout + stack.reply_margin)
    with stack.engine.connect() as conn:
        later = {row.user_name for row in conn.execute(select(users.c.user_name).where(users.c.org_id == org.id))}
    assert later == set(stored)


def test_parallel_member_adds_to_one_team_all_land(stack, org):
    with stack.scim(org) as client:
        members = [client.post("/Users", json=okta_user(f"m{i}.{uuid.uuid4().hex[:6]}@example.com")).json()["id"]
                   for i in range(20)]
        group = client.post("/Groups", json=okta_group(f"parallel-{uuid.uuid4().hex[:6]}")).json()

    def add(member_id: str) -> int:
        with stack.scim(org) as client:
            body = patch({"op": "add", "path": "members", "value": [{"value": member_id}]})
            return client.patch(f"/Groups/{group['id']}", json=body).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(add, members))
    assert all(status in (200, 204) for status in statuses), statuses
    with stack.scim(org) as client:
        landed = {m["value"] for m in client.get(f"/Groups/{group['id']}").json()["members"]}
    assert landed == set(members)


def test_every_applied_command_is_audited_without_secrets(stack, org):
    secret_password = f"pw-{uuid.uuid4().hex}"
    with stack.scim(org, user_agent="Okta SCIM Client 1.0.0") as client:
        body = okta_user(f"audited.{uuid.uuid4().hex[:6]}@example.com")
        body["password"] = secret_password
        user = client.post("/Users", json=body).json()
        client.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": "password", "value": secret_password}))
        client.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "value": {"active": False}}))
        group = client.post("/Groups", json=okta_group(f"audited-{uuid.uuid4().hex[:6]}")).json()
        client.patch(f"/Groups/{group['id']}", json=patch({"op": "add", "path": "members", "value": [{"value": user["id"]}]}))
        client.patch(f"/Groups/{group['id']}", json=patch({"op": "remove", "path": f'members[value eq "{user["id"]}"]'}))
        client.delete(f"/Groups/{group['id']}")
        client.delete(f"/Users/{user['id']}")
    expected = [
        "scim:user:create", "scim:user:update", "scim:user:deactivate", "scim:team:create",
        "scim:team:member:add", "scim:team:member:remove", "scim:team:delete", "scim:user:delete",
    ]
    events = stack.audit_events(org.id, wait_for=len(expected))
    assert [e["action"] for e in events] == expected
    for event in events:
        assert event["outcome"] == "success"
        assert event["org_id"] == org.id and event["token_id"] == org.token_id
        assert event["idp"] == "okta" and event["user_agent"] == "Okta SCIM Client 1.0.0"
        assert event["command_id"] and event["request_id"] and event["time"] and event["resource_id"]
    assert "password" in events[0]["changed"] and "userName" in events[0]["changed"]
    assert events[2]["changed"] == ["active"]
    assert events[4]["detail"]["members_added_ids"] == [user["id"]]
    # No secret anywhere: not in the stream, the logs, or the store.
    assert secret_password not in str(events)
    assert org.token not in str(events)
    logs = stack.logs()
    assert secret_password not in logs and org.token not in logs
    assert "command_id" in logs and "request_id" in logs
    with stack.engine.connect() as conn:
        dump = str(list(conn.execute(select(processed_commands))))
    assert secret_password not in dump
