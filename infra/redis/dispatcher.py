"""The ingress side of the pipeline: coalesce commands into batches, publish, await replies.

Commands are spread over a few *lanes* by their ordering key (same resource → same lane). A lane
keeps at most one batch in flight: it gathers what arrived within ``batch_window`` (up to
``batch_max``), publishes it as one Celery message from a worker thread (never on the event loop),
and starts the next batch once every command of the current one is answered or past its deadline.
So commands for one resource keep their order within and across batches, while different
resources proceed in parallel on different lanes and workers.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

from domain.commands import Command, Reply
from infra.celery_config import APPLY_BATCH_TASK, celery_settings
from infra.config import Settings
from infra.logging import get_logger
from infra.redis.replies import ReplyListener

log = get_logger(__name__)

# Decides a command whose reply did not come in time: returns the committed reply, or None when
# the command is now fenced off (never applied).
Fence = Callable[[Command], Awaitable[Reply | None]]


class CommandTimeout(Exception):
    """No worker committed the command before its deadline; it never will."""


class _Lane:
    def __init__(self) -> None:
        self.pending: list[tuple[Command, asyncio.Future]] = []
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None


class CommandDispatcher:
    def __init__(self, settings: Settings, fence: Fence, *, lanes: int = 4):
        self.settings = settings
        self.fence = fence
        self.listener = ReplyListener(settings.redis_url)
        self.producer = Celery("scimgate-ingress", set_as_current=False)
        self.producer.conf.update(celery_settings(settings))
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish")
        self._lanes = [_Lane() for _ in range(lanes)]
        self.published_batches = 0

    @property
    def reply_to(self) -> str:
        return self.listener.key

    async def start(self) -> None:
        await self.listener.start()
        for index, lane in enumerate(self._lanes):
            lane.task = asyncio.create_task(self._run_lane(lane), name=f"lane-{index}")

    async def stop(self) -> None:
        for lane in self._lanes:
            if lane.task:
                lane.task.cancel()
        for lane in self._lanes:
            if lane.task:
                try:
                    await lane.task
                except asyncio.CancelledError:
                    pass
        await self.listener.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, command: Command) -> Reply:
        """Enqueue ``command`` and return the worker's reply, or raise CommandTimeout."""
        reply_future = self.listener.expect(command.id)
        lane = self._lanes[zlib.crc32(command.ordering_key.encode()) % len(self._lanes)]
        lane.pending.append((command, reply_future))
        lane.wakeup.set()
        wait = max(0.0, command.deadline + self.settings.reply_margin - time.time())
        try:
            return await asyncio.wait_for(asyncio.shield(reply_future), timeout=wait)
        except asyncio.TimeoutError:
            pass
        except Exception as exc:  # publishing failed: decide the command now rather than guess
            log.warning("command_not_published", command_id=command.id, error=str(exc))
        finally:
            self.listener.forget(command.id)
        reply = await self.fence(command)
        if reply is None:
            raise CommandTimeout(command.id)
        return reply

    async def _run_lane(self, lane: _Lane) -> None:
        while True:
            await lane.wakeup.wait()
            try:
                await self._next_batch(lane)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let a lane die: its commands would all time out
                log.error("lane_failed", error=str(exc))

    async def _next_batch(self, lane: _Lane) -> None:
        if self.settings.batch_window > 0 and len(lane.pending) < self.settings.batch_max:
            await asyncio.sleep(self.settings.batch_window)
        batch = lane.pending[: self.settings.batch_max]
        del lane.pending[: len(batch)]
        if not lane.pending:
            lane.wakeup.clear()
        if not batch:
            return
        try:
            await self._publish([command for command, _ in batch])
        except Exception as exc:
            log.error("publish_failed", error=str(exc), commands=len(batch))
            for _command, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        # One batch in flight per lane: wait for its replies (or its deadlines).
        latest = max(command.deadline for command, _ in batch) + self.settings.reply_margin
        await asyncio.wait([future for _, future in batch], timeout=max(0.0, latest - time.time()))

    async def _publish(self, commands: list[Command]) -> None:
        payload = [command.to_wire() for command in commands]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._send, payload)
        self.published_batches += 1

    def _send(self, payload: list[dict]) -> None:
        self.producer.send_task(APPLY_BATCH_TASK, args=[payload], queue=self.settings.queue_name)
