"""The dashboard's live feed against a real Redis: one reader, batched, filtered per viewer,
slow browsers dropped without slowing anyone, and a reconnect replaying what was missed.
(``redis_url``: tests/integration/conftest.py.)"""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import redis.asyncio as aioredis

from api.dashboard.live import LiveFeed
from domain.events import EVENTS
from domain.viewers import OPERATOR, ORGANIZATION, Viewer
from infra.redis.audit_stream import AuditStream

ORG_A = "a" * 25
ORG_B = "b" * 25
OPERATOR_VIEW = Viewer(OPERATOR, "op1", "ops")
ORG_A_VIEW = Viewer(ORGANIZATION, "tok1", "Org A", ORG_A, "owner")


@pytest.fixture
async def stream(redis_url):
    name = f"scimgate:test:dash:{uuid.uuid4().hex[:10]}"
    client = aioredis.from_url(redis_url)
    yield client, AuditStream(name, 0, 60)
    await client.delete(name)
    await client.aclose()


@pytest.fixture
async def feed(redis_url, stream):
    _client, audit = stream
    reader = aioredis.from_url(redis_url)
    made = LiveFeed(reader, audit.name, tick=0.05, queue_size=4,
                    snapshot=lambda: asyncio.sleep(0, result={"queue_depth": 3}), snapshot_every=0.05)
    await made.start()
    yield made
    await made.stop()
    await reader.aclose()


def event(org_id: str, n: int = 0) -> dict:
    return EVENTS.management(org_id, _Actor(), "org:team:create", status=201, resource_type="Team",
                             resource_id=f"t{n}").to_dict()


class _Actor:
    token_id = "tok1"
    user_agent = "test"
    request_id = "req-1"
    via = "test"


def parse(message: bytes) -> tuple[str | None, dict]:
    lines = message.decode().strip().split("\n")
    event_id = next((line[4:] for line in lines if line.startswith("id: ")), None)
    data = next(line[6:] for line in lines if line.startswith("data: "))
    return event_id, orjson.loads(data)


async def collect(sub, want: int, timeout: float = 10.0) -> list[dict]:
    """Messages of ``sub`` until ``want`` events arrived (in however many messages)."""
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while sum(len(body["events"]) for body in got) < want:
            message = await sub.queue.get()
            assert message is not None
            got.append(parse(message)[1])
    return got


async def collect_counters(sub, timeout: float = 10.0) -> list[dict]:
    """Messages of ``sub`` up to the next one with counters."""
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while not got or "activity" not in got[-1]:
            message = await sub.queue.get()
            assert message is not None
            got.append(parse(message)[1])
    return got


async def watching(feed, viewer):
    """A browser connected as the events endpoint connects it: subscribed, then caught up (after
    which the reader is at the stream's end: what comes next is pushed live)."""
    sub = feed.subscribe(viewer)
    await feed.catch_up(viewer, None)
    return sub


async def publish(stream, events: list[dict]) -> None:
    client, audit = stream
    for item in events:
        await audit.publish_async(client, item)


async def test_events_are_batched_and_each_viewer_sees_only_its_scope(feed, stream):
    operator, org_a = await watching(feed, OPERATOR_VIEW), await watching(feed, ORG_A_VIEW)
    mixed = [event(ORG_A if n % 2 else ORG_B, n) for n in range(40)]
    client, audit = stream
    pipe = client.pipeline(transaction=False)
    audit.queue(pipe, mixed)  # published together: they land within one tick
    try:
        await pipe.execute()
    except Exception:  # a fresh Redis: load the script, then once more
        await publish(stream, mixed)
    seen_by_operator = await collect(operator, 40)
    seen_by_a = await collect(org_a, 20)
    assert len(seen_by_operator) <= 3  # batched: a message per tick, not one per event
    a_events = [e for body in seen_by_a for e in body["events"]]
    assert len(a_events) == 20 and {e["org_id"] for e in a_events} == {ORG_A}
    assert [e["event_id"] for e in a_events] == [e["event_id"] for e in mixed if e["org_id"] == ORG_A]
    # The counters (every snapshot_every): the organization's own, everybody's for the operator.
    seen_by_a += await collect_counters(org_a)
    seen_by_operator += await collect_counters(operator)
    assert sum([m for m in seen_by_a if "activity" in m][-1]["activity"]["writes"]) == 20
    assert sum([m for m in seen_by_operator if "activity" in m][-1]["activity"]["writes"]) == 40
    assert all("ops" not in m for m in seen_by_a) and seen_by_operator[-1]["ops"] == {"queue_depth": 3}


async def test_a_slow_browser_is_dropped_and_the_others_keep_getting_events(feed, stream):
    slow, fast = await watching(feed, OPERATOR_VIEW), await watching(feed, OPERATOR_VIEW)
    received: list[dict] = []
    for n in range(12):  # more messages than the slow one's queue holds (4), one per tick
        await publish(stream, [event(ORG_A, n)])
        received.extend(await collect(fast, 1))
        await asyncio.sleep(0.08)
    assert slow.dropped and slow not in feed.subscribers
    assert slow.queue.get_nowait() is None  # its stream ends; the browser reconnects
    assert not fast.dropped and sum(len(body["events"]) for body in received) >= 12


async def test_a_reconnect_replays_what_was_missed_from_the_stream(feed, stream):
    await publish(stream, [event(ORG_A, 0)])
    await asyncio.sleep(0.3)
    first, body = parse(await feed.catch_up(ORG_A_VIEW, None))
    assert first == feed.last_id and body["events"][-1]["resource_id"] == "t0"
    missed = [event(ORG_B, 1), event(ORG_A, 2), event(ORG_A, 3)]
    await publish(stream, missed)
    position, replay = parse(await feed.catch_up(ORG_A_VIEW, first))
    assert [e["resource_id"] for e in replay["events"]] == ["t2", "t3"]  # B's is not theirs
    assert position != first and not replay["resync"]
    _same, nothing = parse(await feed.catch_up(ORG_A_VIEW, position))
    assert nothing["events"] == []


async def test_a_replay_past_the_limit_asks_the_page_to_resync(feed, stream):
    await publish(stream, [event(ORG_A, 0)])
    await asyncio.sleep(0.3)
    start, _ = parse(await feed.catch_up(OPERATOR_VIEW, None))
    feed.replay_limit = 3
    await publish(stream, [event(ORG_A, n) for n in range(1, 6)])
    await asyncio.sleep(0.3)
    _position, body = parse(await feed.catch_up(OPERATOR_VIEW, start))
    assert body["resync"] and body["events"][-1]["resource_id"] == "t5"


async def test_a_malformed_last_event_id_is_a_fresh_start(feed):
    _position, body = parse(await feed.catch_up(OPERATOR_VIEW, "0-0; DROP"))
    assert body["resync"] is False


async def test_a_starting_reader_counts_the_last_hour_then_reads_on_from_there(redis_url, stream):
    await publish(stream, [event(ORG_A, n) for n in range(3)])
    reader = aioredis.from_url(redis_url)
    late = LiveFeed(reader, stream[1].name, tick=0.05)
    await late.start()
    try:
        sub = late.subscribe(ORG_A_VIEW)
        async with asyncio.timeout(10):
            while late.last_id == "0-0":  # until the backfill is done
                await asyncio.sleep(0.01)
        await publish(stream, [event(ORG_A, 3)])
        got = await collect(sub, 1)
        assert [e["resource_id"] for body in got for e in body["events"]] == ["t3"]  # the old ones not pushed again
        assert [e["resource_id"] for e in late.recent_for(ORG_A_VIEW, 10)] == ["t0", "t1", "t2", "t3"]
        assert sum(late.summary_for(ORG_A_VIEW)["writes"]) == 4
    finally:
        await late.stop()
        await reader.aclose()


async def test_nobody_watching_nothing_is_read_and_a_page_opened_later_counts_the_hour(redis_url, stream):
    """An ingress nobody watches reads nothing of the stream; the first browser starts the reader,
    which counts the last hour before the first message; it stops ``linger`` after the last left."""
    reader = aioredis.from_url(redis_url)
    feed = LiveFeed(reader, stream[1].name, tick=0.05, snapshot_every=0.05, linger=0.2)
    await feed.start()
    try:
        await publish(stream, [event(ORG_A, n) for n in range(3)])
        await asyncio.sleep(0.2)
        assert not feed.reading and feed.last_id == "0-0"
        sub = feed.subscribe(ORG_A_VIEW)
        _position, body = parse(await feed.catch_up(ORG_A_VIEW, None))
        assert [e["resource_id"] for e in body["events"]] == ["t0", "t1", "t2"]
        assert sum(body["activity"]["writes"]) == 3
        feed.unsubscribe(sub)
        async with asyncio.timeout(5):
            while feed.reading:
                await asyncio.sleep(0.02)
        await publish(stream, [event(ORG_A, 3)])  # while nobody watches
        sub = feed.subscribe(ORG_A_VIEW)
        _position, body = parse(await feed.catch_up(ORG_A_VIEW, None))
        assert [e["resource_id"] for e in body["events"]] == ["t0", "t1", "t2", "t3"]
        assert sum(body["activity"]["writes"]) == 4
        await publish(stream, [event(ORG_A, 4)])
        got = await collect(sub, 1)
        assert [e["resource_id"] for body in got for e in body["events"]] == ["t4"]
    finally:
        await feed.stop()
        await reader.aclose()
