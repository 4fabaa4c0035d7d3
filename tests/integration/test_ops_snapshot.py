"""The ops snapshot against a real store and a real Redis (embedded, or the one under test): every
figure read from where the pipeline keeps it, unknown (``None``) rather than an error when a source
is unreachable."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest
import redis.asyncio as aioredis

from infra.config import Settings
from infra.ops_snapshot import read_snapshot
from infra.redis import deadletter, ingress_queue, worker_presence
from infra.store.clock import utcnow
from infra.store.engine import make_async_engine
from infra.store.tables import audit_outbox


@pytest.fixture
def settings(redis_url, sync_engine):
    return replace(Settings(), redis_url=redis_url, queue_name=f"scimgate.test.ops.{uuid.uuid4().hex[:10]}",
                   database_url=sync_engine.url.render_as_string(hide_password=False))


@pytest.fixture
async def client(redis_url, settings):
    connection = aioredis.from_url(redis_url)
    yield connection
    keys = [key async for key in connection.scan_iter(f"*{settings.queue_name}*", count=1000)]
    if keys:
        await connection.delete(*keys)
    await connection.aclose()


@pytest.fixture
async def engine(sync_engine, settings):
    schema = getattr(sync_engine, "test_schema", None)
    kwargs = {"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}
    made = make_async_engine(settings.database_url, **kwargs)
    yield made
    await made.dispose()


async def test_an_idle_pipeline_reads_as_zeros(client, engine, settings):
    snap = await read_snapshot(client, engine, settings)
    assert (snap.queue_depth, snap.oldest_queued_seconds, snap.queued_batches, snap.ingresses) == (0, 0.0, 0, 0)
    assert (snap.outbox_pending, snap.outbox_lag_seconds, snap.live_workers, snap.dead_letters) == (0, 0.0, 0, 0)
    assert (snap.failing_organizations, snap.top_failing) == (0, ())


async def test_every_figure_comes_from_where_the_pipeline_keeps_it(client, engine, settings, sync_engine):
    now = time.time()
    queue = settings.queue_name
    # Two live ingresses with commands waiting, one that died long ago (its report is ignored).
    await ingress_queue.report(client, queue, "scimgate:reply:a", 3, now - 7.0)
    await ingress_queue.report(client, queue, "scimgate:reply:b", 2, now - 1.0)
    await client.hset(ingress_queue.key_for(queue), "scimgate:reply:dead",
                      orjson.dumps({"waiting": 50, "oldest": now - 500, "at": now - 30}))
    await client.lpush(queue, b"batch-1", b"batch-2")  # two batch messages not yet taken
    await client.zadd(worker_presence.key_for(queue), {"w1:1": now, "w2:2": now - 100})  # one fresh
    await client.lpush(deadletter.key_for(queue), b"{}")
    with sync_engine.begin() as conn:
        conn.execute(audit_outbox.insert(), [
            {"event_id": f"e{i}", "event": "{}", "created_at": utcnow() - timedelta(seconds=40 - i)}
            for i in range(3)
        ])

    snap = await read_snapshot(client, engine, settings)

    assert snap.queue_depth == 5 and snap.ingresses == 2
    assert 7.0 <= snap.oldest_queued_seconds < 60
    assert snap.queued_batches == 2
    assert snap.live_workers == 1
    assert snap.dead_letters == 1
    assert snap.outbox_pending == 3
    assert 40.0 <= snap.outbox_lag_seconds < 100
    assert set(snap.to_dict()) >= {"queue_depth", "oldest_queued_seconds", "outbox_pending", "live_workers"}


async def test_a_long_dead_ingress_report_is_pruned(client, settings):
    queue = settings.queue_name
    await client.hset(ingress_queue.key_for(queue), "gone", orjson.dumps({"waiting": 1, "oldest": 1.0, "at": 1.0}))
    await client.hset(ingress_queue.key_for(queue), "garbage", b"not json")
    assert await ingress_queue.fresh_reports(client, queue) == []
    assert await client.hlen(ingress_queue.key_for(queue)) == 0


async def test_unreachable_sources_read_as_unknown_not_an_error(settings, tmp_path):
    nowhere = aioredis.from_url(f"unix://{tmp_path / 'no-redis.sock'}")
    engine = make_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        snap = await read_snapshot(nowhere, engine, settings)
    finally:
        await engine.dispose()
        await nowhere.aclose()
    assert snap.queue_depth is None and snap.live_workers is None and snap.dead_letters is None
    assert snap.outbox_pending is None and snap.outbox_lag_seconds is None
    assert snap.failing_organizations is None and snap.top_failing == ()


async def test_failing_organizations_are_counted_and_the_worst_listed(client, engine, settings, redis_url):
    import redis as sync_redis

    from infra.redis import org_outcomes

    queue, now = settings.queue_name, time.time()
    sync = sync_redis.Redis.from_url(redis_url)
    try:
        # "bad": 8 of 10 writes failed; "noisy": 6 failed of 100 (not failing); "ok": none failed.
        org_outcomes.record(sync, queue, [("bad", "rejected")] * 6 + [("bad", "applied")] * 2, now - 120)
        org_outcomes.record(sync, queue, [("bad", "expired")] * 2 + [("bad", "duplicate")] * 50, now)
        org_outcomes.record(sync, queue, [("noisy", "rejected")] * 6 + [("noisy", "applied")] * 94, now)
        org_outcomes.record(sync, queue, [("ok", "applied")] * 20, now)
        org_outcomes.record(sync, queue, [("old", "rejected")] * 20, now - 600)  # outside the window
    finally:
        sync.close()

    snap = await read_snapshot(client, engine, settings)

    assert snap.failing_organizations == 1
    assert [(f.org_id, f.failures, f.writes) for f in snap.top_failing] == [("bad", 8, 10)]
    assert snap.to_dict()["top_failing"] == [{"org_id": "bad", "failures": 8, "writes": 10}]
