"""The ingress dispatcher's decisions, with a fake fence, a fake roster and no Redis.

Every submitted command ends in exactly one decision: a worker's reply, the fence at the
deadline, or — when the worker holding its batch is lost — an early decision that answers what
was committed and resubmits what provably was not.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import orjson
import pytest

from domain.commands import Command, Reply
from tests.support.commands import make_command
from infra.config import Settings
from infra.redis.dispatcher import Backpressure, CommandDispatcher, CommandTimeout, WritesUnavailable
from infra.store.fence import UNDECIDED


class FakeFence:
    def __init__(self):
        self.committed: dict[str, Reply] = {}  # what workers committed (reply lost)
        self.fenced: list[str] = []
        self.dead: list[str] = []
        self.undecided_once: set[str] = set()

    async def decide(self, command, *, patient, detail=None):
        if not patient and command.id in self.undecided_once:
            self.undecided_once.discard(command.id)
            return UNDECIDED
        if command.id in self.committed:
            return self.committed[command.id]
        self.fenced.append(command.id)
        return None

    async def dead_letter(self, command, reason):
        self.dead.append(command.id)
        return Reply(command.id, 500, {"detail": "dead"})


class FakeRoster:
    """Live workers stamp now; stale ones left an old stamp; a worker in neither left cleanly."""

    def __init__(self, live=("w1",)):
        self.live = set(live)
        self.stale: set[str] = set()

    async def refresh(self):
        return {**{w: time.time() - 60 for w in self.stale}, **{w: time.time() for w in self.live}}

    def is_live(self, worker):
        return worker in self.live

    async def none_alive(self):
        return not self.live


def make(monkeypatch, **overrides):
    overrides = {"batch_window": 0, **overrides}
    settings = replace(Settings(), redis_url="redis://127.0.0.1:1/0", reply_margin=0.2, **overrides)
    fence = FakeFence()
    d = CommandDispatcher(settings, fence)
    d.roster = FakeRoster()
    sent: list[tuple[str, list[dict]]] = []

    def send(payload, batch_id):
        sent.append((batch_id, [orjson.loads(orjson.dumps(item)) for item in payload]))

    monkeypatch.setattr(d, "_send", send)
    return d, fence, sent


def command(n: int, resource_id: str = "u1", org: str = "org", timeout: float = 5.0) -> Command:
    return make_command("user.patch", {"Operations": []}, id=f"c{n}", org_id=org, request_id=f"r{n}",
                        deadline=time.time() + timeout, reply_to="inbox", resource_id=resource_id)


async def until(predicate, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
def running():
    tasks = []

    def start(d: CommandDispatcher):
        tasks.append(asyncio.create_task(d._run()))
        return d

    yield start
    for task in tasks:
        task.cancel()


async def test_a_reply_answers_its_request(monkeypatch, running):
    d, fence, sent = make(monkeypatch)
    running(d)
    request = asyncio.create_task(d.submit(command(1)))
    await until(lambda: sent)
    d._on_reply(Reply("c1", 200, {"ok": True}))
    assert (await request).status == 200
    assert fence.fenced == []


async def test_a_write_to_an_idle_pipeline_goes_at_once_and_later_ones_gather_in_the_window(
    monkeypatch, running
):
    """The batch window is for gathering while a batch is applied: a write that finds nothing in
    flight does not wait it out (a lone IdP request pays no window), the next ones do, together."""
    d, fence, sent = make(monkeypatch, batch_window=0.5)
    running(d)
    started = time.monotonic()
    first = asyncio.create_task(d.submit(command(1, "a")))
    await until(lambda: sent)
    assert time.monotonic() - started < 0.4  # not held for the window
    d._on_claim(sent[0][0], "w1")
    second = asyncio.create_task(d.submit(command(2, "b")))
    third = asyncio.create_task(d.submit(command(3, "c")))
    await asyncio.sleep(0.2)
    assert len(sent) == 1  # the first is in flight: these wait for the window
    await until(lambda: len(sent) == 2)
    assert [item["id"] for item in sent[1][1]] == ["c2", "c3"]  # one batch
    for n, request in ((1, first), (2, second), (3, third)):
        d._on_reply(Reply(f"c{n}", 200, None))
        assert (await request).status == 200


async def test_no_reply_by_the_deadline_is_fenced_and_answered_503(monkeypatch, running):
    d, fence, sent = make(monkeypatch)
    running(d)
    with pytest.raises(CommandTimeout):
        await d.submit(command(1, timeout=0.1))
    assert fence.fenced == ["c1"]


async def test_a_command_that_times_out_while_still_waiting_is_never_sent_nor_holds_its_resource(
    monkeypatch, running
):
    d, fence, sent = make(monkeypatch, ingress_inflight=1)
    running(d)
    first = asyncio.create_task(d.submit(command(1, "busy", timeout=2.0)))
    await until(lambda: len(sent) == 1)  # the only in-flight slot is taken
    with pytest.raises(CommandTimeout):
        await d.submit(command(2, "u1", timeout=0.1))  # waits for the slot, then gives up
    d._on_reply(Reply("c1", 200, None))
    await first
    later = asyncio.create_task(d.submit(command(3, "u1")))
    await until(lambda: len(sent) == 2)
    assert [item["id"] for item in sent[1][1]] == ["c3"]  # c2 was never published; u1 is free
    d._on_reply(Reply("c3", 200, None))
    assert (await later).status == 200


async def test_a_lost_workers_batch_is_decided_at_once_and_resubmitted_under_new_ids(monkeypatch, running):
    d, fence, sent = make(monkeypatch)
    running(d)
    requests = [asyncio.create_task(d.submit(command(n, f"u{n}", timeout=30))) for n in range(3)]
    await until(lambda: sent)
    batch_id, first = sent[0]
    assert [item["id"] for item in first] == ["c0", "c1", "c2"]
    d._on_claim(batch_id, "w1")
    fence.committed["c1"] = Reply("c1", 200, {"committed": True})  # c1 was committed, its reply lost
    d.roster.live = {"w2"}
    await d._recover(d._batches[batch_id])
    assert (await requests[1]).body == {"committed": True}
    assert fence.fenced == ["c0", "c2"]
    # Each taken-back command alone, one at a time, under a new id.
    for n in (2, 3):
        await until(lambda: len(sent) == n)
        item = sent[-1][1][0]
        assert len(sent[-1][1]) == 1 and item["id"] not in ("c0", "c2")
        d._on_reply(Reply(item["id"], 200, {"again": item["request_id"]}))
    assert (await requests[0]).body == {"again": "r0"}
    assert (await requests[2]).body == {"again": "r2"}
    assert d._batches == {}


async def test_a_command_that_loses_its_worker_twice_is_dead_lettered(monkeypatch, running):
    d, fence, sent = make(monkeypatch)
    monkeypatch.setattr(d, "_record_dead_letter", lambda *a: asyncio.sleep(0))
    running(d)
    request = asyncio.create_task(d.submit(command(1, timeout=30)))
    for round_ in (1, 2):
        await until(lambda: len(sent) == round_)
        batch_id = sent[-1][0]
        d._on_claim(batch_id, f"w{round_}")
        await d._recover(d._batches[batch_id])
    reply = await request
    assert reply.status == 500
    assert len(fence.dead) == 1 and fence.fenced == ["c1"]


async def test_an_undecidable_command_stops_the_recovery_so_order_is_kept(monkeypatch, running):
    d, fence, sent = make(monkeypatch)
    running(d)
    requests = [asyncio.create_task(d.submit(command(n, "g1", timeout=30))) for n in range(2)]
    await until(lambda: sent)
    batch_id = sent[0][0]
    d._on_claim(batch_id, "w1")
    fence.undecided_once.add("c0")  # a live transaction still holds c0's row
    await d._recover(d._batches[batch_id])
    assert fence.fenced == []  # c1 is not resubmitted ahead of c0
    await d._recover(d._batches[batch_id])
    assert fence.fenced == ["c0", "c1"]
    for n, request_id in ((2, "r0"), (3, "r1")):
        await until(lambda: len(sent) == n)
        assert sent[-1][1][0]["request_id"] == request_id
        d._on_reply(Reply(sent[-1][1][0]["id"], 200, None))
    await asyncio.gather(*requests)


async def test_writes_are_refused_at_once_when_no_worker_is_alive(monkeypatch):
    d, fence, sent = make(monkeypatch)
    d.roster.live = set()
    started = time.monotonic()
    with pytest.raises(WritesUnavailable):
        await d.submit(command(1))
    assert time.monotonic() - started < 1 and not sent and not fence.fenced


async def test_an_organization_with_too_many_waiting_writes_is_told_to_slow_down(monkeypatch):
    d, fence, sent = make(monkeypatch, max_pending_per_org=2)  # not running: everything waits
    waiting = [asyncio.create_task(d.submit(command(n, f"u{n}", org="busy"))) for n in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Backpressure):
        await d.submit(command(9, org="busy"))
    other = asyncio.create_task(d.submit(command(10, org="calm")))  # another organization is not limited
    await asyncio.sleep(0)
    assert not other.done()
    for task in [*waiting, other]:
        task.cancel()


async def test_an_unclaimed_batch_is_resubmitted_when_a_worker_goes_stale(monkeypatch, running):
    """A worker may take a message off the queue and die before claiming it: no trace is left, so
    a batch still unclaimed when a worker goes stale is decided and resubmitted."""
    d, fence, sent = make(monkeypatch)
    running(d)
    watchdog = asyncio.create_task(d._watch())
    try:
        request = asyncio.create_task(d.submit(command(1, timeout=30)))
        await until(lambda: sent)
        await asyncio.sleep(0.7)  # the watchdog has seen w1 alive (and the batch published)
        d.roster.live, d.roster.stale = set(), {"w1"}  # w1 goes stale; it never claimed the batch
        await until(lambda: len(sent) == 2, timeout=5)
        again = sent[1][1][0]
        assert fence.fenced == ["c1"] and again["id"] != "c1" and again["request_id"] == "r1"
        d._on_reply(Reply(again["id"], 201, {"ok": True}))
        assert (await request).status == 201
    finally:
        watchdog.cancel()


async def test_a_worker_that_leaves_the_roster_cleanly_raises_no_suspicion(monkeypatch, running):
    """A clean shutdown removes the worker's stamp and hands its unstarted messages back to the
    queue: a batch still unclaimed is left to the next worker, not fenced and resubmitted."""
    d, fence, sent = make(monkeypatch)
    d.roster.live = {"w1", "w2"}
    running(d)
    watchdog = asyncio.create_task(d._watch())
    try:
        request = asyncio.create_task(d.submit(command(1, timeout=30)))
        await until(lambda: sent)
        await asyncio.sleep(0.7)
        d.roster.live = {"w2"}  # w1 leaves cleanly: no stamp left behind
        await asyncio.sleep(1.2)
        assert fence.fenced == [] and len(sent) == 1
        d._on_reply(Reply("c1", 201, None))
        assert (await request).status == 201
    finally:
        watchdog.cancel()


async def test_a_claimed_batch_of_a_live_worker_is_left_alone(monkeypatch, running):
    d, fence, sent = make(monkeypatch)
    d.roster.live = {"w1", "w2"}
    running(d)
    watchdog = asyncio.create_task(d._watch())
    try:
        request = asyncio.create_task(d.submit(command(1, timeout=30)))
        await until(lambda: sent)
        d._on_claim(sent[0][0], "w1")
        await asyncio.sleep(0.7)
        d.roster.live, d.roster.stale = {"w1"}, {"w2"}  # another goes stale: w1's batch is not its business
        await asyncio.sleep(1.2)
        assert fence.fenced == [] and len(sent) == 1
        d._on_reply(Reply("c1", 200, None))
        assert (await request).status == 200
    finally:
        watchdog.cancel()


async def test_a_reply_that_comes_while_a_lost_batch_is_decided_stands_and_nothing_is_resubmitted(
    monkeypatch, running
):
    """The worker taken for lost was only slow: it expired the command itself and replied 503
    while the ingress was fencing it. That answer stands; resubmitting now would apply a write
    its client was told was not applied (found by the fault suite)."""
    d, fence, sent = make(monkeypatch)
    running(d)
    request = asyncio.create_task(d.submit(command(1, timeout=30)))
    await until(lambda: sent)
    batch_id = sent[0][0]
    d._on_claim(batch_id, "w1")
    plain_decide = fence.decide

    async def decide_while_the_reply_arrives(command, *, patient, detail=None):
        d._on_reply(Reply(command.id, 503, {"detail": "expired by its worker"}))
        return await plain_decide(command, patient=patient, detail=detail)

    monkeypatch.setattr(fence, "decide", decide_while_the_reply_arrives)
    await d._recover(d._batches[batch_id])
    assert (await request).status == 503
    await asyncio.sleep(0.1)
    assert len(sent) == 1  # never sent again
