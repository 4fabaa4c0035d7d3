"""The ingress side of the pipeline: coalesce commands into batches, publish, await replies.

Group commit: the dispatcher gathers the commands that arrive within ``batch_window`` (up to
``batch_max``) into one Celery message, published from a worker thread (never on the event
loop). At most ``ingress_inflight`` batches are in flight at once; while they are, new commands
accumulate, so batches grow with the load and the per-batch cost is shared by more commands.

Order: a command whose ordering key (the resource it touches) belongs to a command still in
flight is held back until that one is decided, so commands for one resource are applied in
arrival order within and across batches, whichever worker applies them; commands for different
resources never wait for each other.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from celery import Celery

from domain.commands import Command, Reply
from infra.celery_config import APPLY_BATCH_TASK, celery_settings
from infra.config import Settings
from infra.logging import get_logger
from infra.redis.replies import ReplyListener, cancel_and_wait

log = get_logger(__name__)

# Decides a command whose reply did not come in time: returns the committed reply, or None when
# the command is now fenced off (never applied).
Fence = Callable[[Command], Awaitable[Reply | None]]


class CommandTimeout(Exception):
    """No worker committed the command before its deadline; it never will."""


class CommandDispatcher:
    def __init__(self, settings: Settings, fence: Fence):
        self.settings = settings
        self.fence = fence
        self.listener = ReplyListener(settings.redis_url)
        self.producer = Celery("scimgate-ingress", set_as_current=False)
        self.producer.conf.update(celery_settings(settings))
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish")
        self._pending: deque[tuple[Command, asyncio.Future]] = deque()
        # ordering key → how many commands for it are published and not yet decided
        self._busy: dict[str, int] = {}
        self._published: set[str] = set()  # ids of those commands
        self._inflight = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.published_batches = 0

    @property
    def reply_to(self) -> str:
        return self.listener.key

    async def start(self) -> None:
        await self.listener.start()
        self._task = asyncio.create_task(self._run(), name="dispatcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.listener.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, command: Command) -> Reply:
        """Enqueue ``command`` and return the worker's reply, or raise CommandTimeout."""
        reply_future = self.listener.expect(command.id)
        self._pending.append((command, reply_future))
        self._wakeup.set()
        wait = max(0.0, command.deadline + self.settings.reply_margin - time.time())
        try:
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
        finally:
            # Decided either way: later commands for the same resource may go.
            if command.id in self._published:
                self._published.discard(command.id)
                key = command.ordering_key
                self._busy[key] -= 1
                if not self._busy[key]:
                    del self._busy[key]
            self._wakeup.set()

    # -- the batching loop -------------------------------------------------------------------

    def _take_batch(self) -> list[tuple[Command, asyncio.Future]]:
        """Up to batch_max pending commands, in arrival order, except those for a resource that
        has commands in an earlier batch still in flight (they wait for it). Several commands for
        one resource may share a batch: the worker applies a batch in order."""
        batch: list[tuple[Command, asyncio.Future]] = []
        held: deque[tuple[Command, asyncio.Future]] = deque()
        keys_here: set[str] = set()
        while self._pending and len(batch) < self.settings.batch_max:
            command, future = self._pending.popleft()
            if future.done():
                continue  # its request already gave up
            key = command.ordering_key
            if key in self._busy and key not in keys_here:
                held.append((command, future))
                continue
            keys_here.add(key)
            self._busy[key] = self._busy.get(key, 0) + 1
            self._published.add(command.id)
            batch.append((command, future))
        self._pending.extendleft(reversed(held))
        return batch

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._inflight >= self.settings.ingress_inflight:
                continue  # a batch finishing sets the wakeup again
            if self.settings.batch_window > 0 and len(self._pending) < self.settings.batch_max:
                await asyncio.sleep(self.settings.batch_window)
            batch = self._take_batch()
            if self._pending:
                self._wakeup.set()  # more to send (or held back): look again
            if batch:
                self._inflight += 1
                asyncio.create_task(self._send_batch(batch))

    async def _send_batch(self, batch: list[tuple[Command, asyncio.Future]]) -> None:
        try:
            try:
                await self._publish([command for command, _ in batch])
            except Exception as exc:
                log.error("publish_failed", error=str(exc), commands=len(batch))
                for _command, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            latest = max(command.deadline for command, _ in batch) + self.settings.reply_margin
            await asyncio.wait([future for _, future in batch], timeout=max(0.0, latest - time.time()))
        finally:
            self._inflight -= 1
            self._wakeup.set()

    async def _publish(self, commands: list[Command]) -> None:
        payload = [command.to_wire() for command in commands]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._send, payload)
        self.published_batches += 1

    def _send(self, payload: list[dict]) -> None:
        # argsrepr: Celery would otherwise render the whole batch into the message for monitoring.
        self.producer.send_task(
            APPLY_BATCH_TASK, args=[payload], queue=self.settings.queue_name, argsrepr=f"<{len(payload)} commands>",
            kwargsrepr="",
        )
