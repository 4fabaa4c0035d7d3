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


async def test_commands_for_one_resource_never_share_a_batch_or_overtake():
    d = dispatcher()
    await _queued(d, command(1, "u1"), command(2, "u2"), command(3, "u1"), command(4, user_name="a@x"),
                  command(5, user_name="A@X"))
    first = [cmd.id for cmd, _ in d._take_batch()]
    assert first == ["c1", "c2", "c4"]  # c3 waits for c1; c5 (same userName, case-folded) for c4
    assert [cmd.id for cmd, _ in d._take_batch()] == []  # still busy
    d._busy.pop("org:User:u1")
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c3"]
    d._busy.pop("org:User:a@x")
    assert [cmd.id for cmd, _ in d._take_batch()] == ["c5"]


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
