"""The ingress dispatcher's batching rules: arrival order, one in-flight command per resource."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from domain.commands import Actor, Command
from infra.config import Settings
from infra.redis.dispatcher import CommandDispatcher


def command(n: int, resource_id: str | None = None, user_name: str | None = None) -> Command:
    body = {"userName": user_name} if user_name else None
    kind = "user.patch" if resource_id else "user.create"
    return Command(f"c{n}", kind, "org", Actor("t"), "r", 0, "k", resource_id=resource_id, body=body)


def dispatcher(batch_max: int = 128) -> CommandDispatcher:
    settings = replace(Settings(), redis_url="redis://127.0.0.1:1/0", batch_max=batch_max)
    return CommandDispatcher(settings, fence=None)


async def _queued(d: CommandDispatcher, *commands: Command) -> None:
    loop = asyncio.get_running_loop()
    for cmd in commands:
        d._pending.append((cmd, loop.create_future()))


async def test_a_resource_busy_in_an_earlier_batch_waits_for_it():
    d = dispatcher()
    await _queued(d, command(1, "u1"), command(2, "u2"), command(3, "u1"), command(4, user_name="a@x"),
                  command(5, user_name="A@X"))
    # One batch may hold several commands for one resource, in arrival order (applied in order).
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c1", "c2", "c3", "c4", "c5"]
    await _queued(d, command(6, "u1"), command(7, "u9"), command(8, user_name="a@X"))
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c7"]  # c6 waits for c1 and c3, c8 for c4 and c5
    for key, count in (("org:User:u1", 2), ("org:User:a@x", 2)):
        assert d._busy[key] == count
    d._busy.pop("org:User:u1")
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c6"]
    d._busy.pop("org:User:a@x")
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c8"]


async def test_batches_are_capped_and_keep_arrival_order():
    d = dispatcher(batch_max=2)
    await _queued(d, *(command(n, f"u{n}") for n in range(5)))
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c0", "c1"]
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c2", "c3"]
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c4"]


async def test_abandoned_commands_are_dropped_from_the_queue():
    d = dispatcher()
    await _queued(d, command(1, "u1"), command(2, "u2"))
    d._pending[0][1].cancel()
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c2"]
