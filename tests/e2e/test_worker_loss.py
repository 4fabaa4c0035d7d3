"""A lost worker costs its commands seconds, not the deadline; a poison command is set aside.

Principle 1 still holds exactly (each write applied once or never, a 2xx only when applied), and
on top of it: when the worker holding a batch dies, the ingress decides that batch at once —
resubmitting what it can prove was not applied — so the IdP sees no error while another worker
is alive; a command that kills every worker it reaches is dead-lettered instead of retried; and
with no worker alive at all, writes are refused at once.
"""

from __future__ import annotations

import concurrent.futures
import signal
import json
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import redis
from sqlalchemy import select

from infra.redis import deadletter
from infra.store.tables import users
from tests.e2e.scim_bodies import okta_user
from tests.support.stack import Stack

STALE = "1.5"


def _stack(tmp_path, name: str, *, failpoint: str = "", timeout: float = 15.0) -> Stack:
    env = {"SCIMGATE_WORKER_STALE_SECONDS": STALE}
    if failpoint:
        env["SCIMGATE_FAILPOINTS"] = failpoint
    return Stack(tmp_path / name, command_timeout=timeout, reply_margin=1.0, extra_env=env)


@pytest.fixture
def make_stack(tmp_path):
    stacks: list[Stack] = []

    def make(name: str, **kwargs) -> Stack:
        stack = _stack(tmp_path, name, **kwargs).start()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def _create_all(stack: Stack, org, names: list[str], marker_name: str | None = None, marker: str = ""):
    def create(name: str):
        body = okta_user(name)
        if name == marker_name:
            body["displayName"] = f"{marker} user"
        started = time.monotonic()
        with stack.scim(org) as client:
            response = client.post("/Users", json=body)
        return name, response, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
        return list(pool.map(create, names))


def _events_until(stack: Stack, org_id: str, done, timeout: float = 15.0) -> list[dict]:
    """The organization's audit events once ``done(events)`` (the fence's events are relayed by
    the outbox sweeper, a couple of seconds after the decision)."""
    deadline = time.monotonic() + timeout
    while True:
        events = stack.audit_events(org_id)
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def _stored(stack: Stack, org_id: str) -> list[str]:
    with stack.engine.connect() as conn:
        return [row.user_name for row in conn.execute(select(users.c.user_name).where(users.c.org_id == org_id))]


def test_a_worker_lost_while_holding_a_batch_costs_seconds_and_no_error_when_another_is_alive(make_stack):
    marker = f"CRASH-{uuid.uuid4().hex[:8]}"
    stack = make_stack("loss", failpoint=f"worker.apply={marker}:once")
    stack.start_worker()  # two workers
    org = stack.new_org()
    names = [f"loss.{i}.{uuid.uuid4().hex[:6]}@example.com" for i in range(30)]
    results = _create_all(stack, org, names, marker_name=names[7], marker=marker)

    assert [r.status_code for _, r, _ in results] == [201] * len(names)
    stored = _stored(stack, org.id)
    assert sorted(stored) == sorted(names)  # every one applied, none twice
    # The worker that took the crashing batch is gone; the survivor applied the batch again
    # within seconds of the loss, far from the 15 s deadline.
    assert sum(proc.poll() is not None for proc in stack.workers) == 1
    assert max(elapsed for *_, elapsed in results) < 10
    events = _events_until(stack, org.id, lambda events: any(e["outcome"] == "expired" for e in events))
    lost = [e for e in events if e["outcome"] == "expired"]
    assert lost and all(e["detail"]["resubmittedAs"] for e in lost)
    # The crashed batch's own commands; maybe also batches still queued when it went stale (any
    # of them might have been taken off the queue by the dead worker without a trace).
    assert {e["detail"]["reason"] for e in lost} <= {"worker_lost", "unclaimed_when_a_worker_was_lost"}
    assert any(e["detail"]["reason"] == "worker_lost" for e in lost)
    creates = [e for e in events if e["action"] == "scim:user:create" and e["outcome"] == "success"]
    assert len(creates) == len(names), sorted(e.get("event_id") for e in creates)
    assert "worker_lost_batch_recovered" in stack.logs()


def test_a_command_that_kills_every_worker_is_dead_lettered_and_takes_nobody_with_it(make_stack):
    marker = f"POISON-{uuid.uuid4().hex[:8]}"
    stack = make_stack("poison", failpoint=f"worker.apply={marker}")
    stack.start_worker()
    stack.start_worker()  # three workers
    org = stack.new_org()
    names = [f"innocent.{i}.{uuid.uuid4().hex[:6]}@example.com" for i in range(20)]
    poison = f"poison.{uuid.uuid4().hex[:6]}@example.com"
    results = {name: response for name, response, _ in _create_all(stack, org, [*names, poison], poison, marker)}

    assert {name: results[name].status_code for name in names} == {name: 201 for name in names}
    refused = results[poison]
    assert refused.status_code == 500
    assert "not applied" in refused.json()["detail"]
    assert sorted(_stored(stack, org.id)) == sorted(names)
    assert sum(proc.poll() is not None for proc in stack.workers) <= 2  # it killed two at most
    client = redis.Redis.from_url(stack.redis_url)
    try:
        entries = deadletter.recent(client, stack.env["SCIMGATE_QUEUE"])
    finally:
        client.close()
    assert [(e["org_id"], e["kind"], e["source"]) for e in entries] == [(org.id, "user.create", "ingress")]
    shown = subprocess.run([sys.executable, "-m", "scimgate", "deadletters", "--json"], env=stack.env,
                           capture_output=True, text=True, timeout=60, check=True)
    assert [json.loads(line)["command_id"] for line in shown.stdout.splitlines()] == [entries[0]["command_id"]]
    events = _events_until(stack, org.id, lambda events: any(e["outcome"] == "failure" for e in events))
    dead = [e for e in events if e["outcome"] == "failure"]
    assert len(dead) == 1 and dead[0]["detail"]["deadLettered"] is True and dead[0]["status"] == 500
    assert marker not in str(entries) and marker not in str(dead)  # ids and reasons, never the body


def test_with_no_live_worker_writes_are_refused_at_once_and_readyz_says_so(make_stack):
    stack = make_stack("none")
    org = stack.new_org()
    stack.kill_workers()
    deadline = time.monotonic() + 10
    while True:
        ready = httpx.get(f"{stack.url}/readyz").json()
        if ready["writes"] != "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ready["status"] == "ok" and ready["workers"] == 0
    assert ready["writes"] == "unavailable: no live worker"
    with stack.scim(org) as client:
        started = time.monotonic()
        response = client.post("/Users", json=okta_user("nobody@example.com"))
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert response.json()["status"] == "503"
        assert elapsed < 2  # at once, not after the deadline
        assert client.get("/Users").status_code == 200  # reads are still served
    stack.start_worker()
    with stack.scim(org) as client:
        created = client.post("/Users", json=okta_user("somebody@example.com"))
        assert created.status_code == 201, created.text
    assert _stored(stack, org.id) == ["somebody@example.com"]


def test_a_message_taken_by_a_worker_that_dies_before_claiming_it_is_sent_again(make_stack):
    """A stopped worker blocked on the queue still receives the next message (Redis hands it
    over on its socket); killed then, it leaves no trace in Redis. The write is decided and
    sent again as soon as the worker goes stale, not answered 503 at its deadline."""
    stack = make_stack("unclaimed")
    org = stack.new_org()
    (victim,) = stack.workers
    victim.send_signal(signal.SIGSTOP)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        pending = pool.submit(lambda: _create_all(stack, org, ["taken@example.com"])[0])
        time.sleep(0.5)  # the write is published; the stopped worker's socket holds it
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        stack.workers.remove(victim)
        stack.start_worker()
        _, response, _ = pending.result(timeout=60)
    assert response.status_code == 201, response.text
    assert time.monotonic() - started < 12  # well before the 15 s deadline
    assert _stored(stack, org.id) == ["taken@example.com"]
