"""The outbox relay against a real store and a real Redis: each event on the stream exactly once,
whatever dies between publishing and deleting, and event ids that never repeat."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest
import redis
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from domain.commands import Actor, Command, CreateUser
from infra.config import Settings
from infra.redis.audit_stream import AuditStream
from infra.store import outbox
from infra.store.clock import utcnow
from infra.store.tables import audit_outbox
from tests.support.seed import create_organization
from worker import relay as relay_module
from worker.apply import BatchApplier
from worker.runtime import WorkerRuntime

_ids = itertools.count()


@pytest.fixture
def settings(redis_url, sync_engine):
    return replace(
        Settings(), redis_url=redis_url, database_url=sync_engine.url.render_as_string(hide_password=False),
        audit_stream=f"scimgate:test:relay:{uuid.uuid4().hex[:10]}",
    )


@pytest.fixture
def client(redis_url, settings):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    keys = list(connection.scan_iter(f"{settings.audit_stream}*", count=1000))
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.fixture
def new_runtime(settings, sync_engine):
    """A worker runtime on the test store (a fresh one stands for a restarted or another worker)."""
    made = []

    def make() -> WorkerRuntime:
        rt = WorkerRuntime(settings)
        rt.engine.dispose()
        rt.engine = rt.relay.engine = sync_engine  # the fixture's engine (on PostgreSQL: the test's own schema)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.redis.close()


@pytest.fixture
def org_id(sync_engine):
    with sync_engine.begin() as conn:
        return create_organization(conn, "Acme").id


def creates(org_id: str, n: int) -> list[Command]:
    return [
        CreateUser(
            id=f"cmd-{next(_ids)}-{time.time_ns()}", org_id=org_id,
            actor=Actor("tok", "ua", "okta"), request_id="req", deadline=time.time() + 30, reply_to="r",
            body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"u{uuid.uuid4().hex}@x"},
        )
        for _ in range(n)
    ]


def stream_ids(client, settings) -> list[str]:
    return [orjson.loads(fields[b"event"])["event_id"] for _id, fields in client.xrange(settings.audit_stream)]


def outbox_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_outbox)).scalar_one()


def age_outbox(engine) -> None:
    """Make every outbox row older than the relay's grace period (as time would)."""
    with engine.begin() as conn:
        conn.execute(update(audit_outbox).values(created_at=utcnow() - relay_module.RELAY_GRACE - timedelta(seconds=5)))


def test_a_relay_that_dies_between_publish_and_delete_leaves_each_event_once(
    sync_engine, org_id, new_runtime, client, settings
):
    decided, events = BatchApplier(sync_engine).apply(creates(org_id, 6))
    assert [d.outcome for d in decided] == ["applied"] * 6
    crashed = new_runtime()
    crashed.relay.publish([], events)  # published after commit ... and the process dies before deleting
    written = [event["event_id"] for _seq, event in events]
    assert stream_ids(client, settings) == written
    age_outbox(sync_engine)
    assert new_runtime().relay.sweep() == 6  # the restarted worker's sweeper finds the rows again
    assert outbox_count(sync_engine) == 0
    assert stream_ids(client, settings) == written  # re-published, de-duplicated: still once each


def test_a_sweep_whose_delete_never_committed_is_not_doubled(
    sync_engine, org_id, new_runtime, client, settings, monkeypatch
):
    _decided, events = BatchApplier(sync_engine).apply(creates(org_id, 4))  # never published
    age_outbox(sync_engine)
    original = outbox.forget_events

    def dies_on_delete(conn, relayed):
        if relayed:
            raise RuntimeError("the sweeper's process died before its delete committed")
        original(conn, relayed)

    monkeypatch.setattr(outbox, "forget_events", dies_on_delete)
    with pytest.raises(RuntimeError):
        new_runtime().relay.sweep()
    assert len(stream_ids(client, settings)) == 4 and outbox_count(sync_engine) == 4
    monkeypatch.setattr(outbox, "forget_events", original)
    assert new_runtime().relay.sweep() == 4
    assert sorted(stream_ids(client, settings)) == sorted(event["event_id"] for _seq, event in events)
    assert outbox_count(sync_engine) == 0


def test_two_sweepers_racing_over_a_backlog_publish_each_event_once(
    sync_engine, org_id, new_runtime, client, settings, monkeypatch
):
    applier = BatchApplier(sync_engine)
    written: list[str] = []
    crashed = new_runtime()
    for round_ in range(6):
        _decided, events = applier.apply(creates(org_id, 25))
        written += [event["event_id"] for _seq, event in events]
        if round_ % 2 == 0:
            crashed.relay.publish([], events)  # some were published before a crash, some never were
    age_outbox(sync_engine)
    monkeypatch.setattr(relay_module, "SWEEP_LIMIT", 10)  # many small sweeps, interleaved
    sweepers = [new_runtime(), new_runtime()]

    def drain(rt: WorkerRuntime) -> int:
        published = 0
        deadline = time.monotonic() + 60
        while outbox_count(sync_engine) and time.monotonic() < deadline:
            try:
                published += rt.relay.sweep()
            except Exception:  # a lock timeout between the two: the rows stay, the next sweep has them
                pass
        return published

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(drain, sweepers))
    assert outbox_count(sync_engine) == 0
    on_stream = stream_ids(client, settings)
    assert len(on_stream) == len(set(on_stream)) == len(written) == 150
    assert set(on_stream) == set(written)


def test_event_ids_are_unique_across_outbox_row_reuse(sync_engine, org_id, new_runtime, client, settings):
    applier = BatchApplier(sync_engine)
    seen_seqs, seen_ids = [], []
    rt = new_runtime()
    for _ in range(5):
        _decided, events = applier.apply(creates(org_id, 1))
        ((seq, event),) = events
        rt.relay.publish([], events)
        with sync_engine.begin() as conn:
            outbox.forget_events(conn, [(seq, event)])  # relayed and deleted: the outbox is empty again
        seen_seqs.append(seq)
        seen_ids.append(event["event_id"])
    if sync_engine.dialect.name == "sqlite":
        assert len(set(seen_seqs)) == 1  # SQLite hands out the same row id again ...
    assert len(set(seen_ids)) == 5  # ... but every event has its own id
    assert stream_ids(client, settings) == seen_ids


def test_the_outbox_refuses_a_second_row_for_one_event_id(sync_engine):
    event = {"action": "scim:user:create", "org_id": "o", "event_id": str(uuid.uuid4())}
    with sync_engine.begin() as conn:
        outbox.append_events(conn, [event])
    with pytest.raises(IntegrityError), sync_engine.begin() as conn:
        outbox.append_events(conn, [event])
    with pytest.raises(ValueError), sync_engine.begin() as conn:
        outbox.append_events(conn, [{"action": "x"}])  # an event without its id is a bug


def test_publishing_is_idempotent_and_survives_a_redis_that_forgot_the_script(client, settings):
    stream = AuditStream.from_settings(settings)
    events = [{"event_id": str(uuid.uuid4()), "n": i} for i in range(3)]
    client.script_flush()  # as after a Redis restart
    stream.publish(client, events)
    client.script_flush()
    stream.publish(client, events + [{"event_id": str(uuid.uuid4()), "n": 3}])
    assert [orjson.loads(f[b"event"])["n"] for _id, f in client.xrange(settings.audit_stream)] == [0, 1, 2, 3]
    assert 0 < client.ttl(stream.seen_key(events[0]["event_id"])) <= settings.audit_dedupe_seconds


def test_asyncio_publishing_is_idempotent_too(redis_url, client, settings):
    import redis.asyncio as aioredis

    stream = AuditStream.from_settings(settings)
    event = {"event_id": str(uuid.uuid4()), "action": "scim:auth:refused"}

    async def publish_twice():
        connection = aioredis.from_url(redis_url)
        try:
            await connection.script_flush()
            await stream.publish_async(connection, event)
            await stream.publish_async(connection, event)
        finally:
            await connection.aclose()

    asyncio.run(publish_twice())
    assert stream_ids(client, settings) == [event["event_id"]]


def test_the_ingress_fence_stores_its_event_id_in_the_outbox_row(sync_engine, org_id):
    from tests.integration.test_batch_applier import fence_now

    (command,) = creates(org_id, 1)
    assert fence_now(sync_engine, command) is None
    ((seq, event),) = [(seq, event) for seq, event in _outbox(sync_engine)]
    with sync_engine.connect() as conn:
        column = conn.execute(select(audit_outbox.c.event_id).where(audit_outbox.c.seq == seq)).scalar_one()
    assert event["outcome"] == "expired" and event["command_id"] == command.id
    assert column == event["event_id"] and uuid.UUID(column).version == 7


def _outbox(engine):
    with engine.connect() as conn:
        return [(row.seq, orjson.loads(row.event)) for row in conn.execute(select(audit_outbox))]
