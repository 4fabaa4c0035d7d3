"""The ingress side of the pipeline: coalesce commands into batches, publish, await the decision.

Group commit: while a batch is in flight, the commands that arrive within ``batch_window`` (up to
``batch_max``) become one Celery message, published from a thread (never on the event loop); a
command that finds none in flight goes at once. At most ``ingress_inflight`` batches are in
flight, and a new one goes only once a worker has claimed every earlier one (so the queue holds at
most one batch of this ingress); meanwhile new commands accumulate, so batches grow with the load,
and a worker pays its per-batch costs over more commands. Which commands go next, in which order,
is ``infra.redis.scheduling``'s rule (order per resource, fair across organizations, suspects
alone).

Every submitted command ends in exactly one decision, and the answer always matches the store:

- a worker's reply (the worker committed its decision with the command);
- at the deadline (plus ``reply_margin``) without a reply: the fence (``infra.store.fence``)
  either finds the worker's committed reply or makes sure no worker ever applies the command
  (503, never applied);
- **a lost worker**: a worker claims a batch when it starts applying it and stamps a heartbeat
  while it makes progress. When the claimant's heartbeat goes stale, the watchdog decides that
  batch's commands at once: committed ones get their stored reply; the others are fenced off
  and submitted again under a new id (each alone in its batch), so the IdP sees no error when
  another worker is alive. A command that loses its worker twice is dead-lettered: fenced as
  failed (500), recorded for the operators, never applied. A worker can also take a message off
  the queue and die (or lose its connection) before it claims it, which leaves no trace in
  Redis; so when any worker goes stale, or Redis comes back, the batches still unclaimed are
  decided and resubmitted the same way (any copy that survives somewhere is then a no-op).

Writes are refused at once (``WritesUnavailable``) while no worker is alive, and an organization
that already has ``max_pending_per_org`` commands waiting here is told to slow down
(``Backpressure``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

import redis.asyncio as aioredis
from celery import Celery

from domain.commands import Command, Reply
from infra.celery_config import APPLY_BATCH_TASK, celery_settings
from infra.config import Settings
from infra.ids import new_command_id
from infra.logging import get_logger
from infra.redis import deadletter, ingress_queue
from infra.redis.replies import ReplyListener, cancel_and_wait
from infra.redis.scheduling import DONE, DROPPED, PENDING, SENT, Flight, Schedule
from infra.redis.wire import SERIALIZER, encode_command
from infra.redis.worker_presence import STAMP_INTERVAL_SECONDS, WorkerRoster
from infra.store.fence import UNDECIDED

log = get_logger(__name__)

# A command is dead-lettered instead of retried once it lost its worker this many times, the
# last time alone (nothing else of ours on that worker: the blame is clear) ...
MAX_LOSSES = 2
# ... or this many times whatever else was lost with it.
MAX_LOSSES_SHARED = 4


class Fence(Protocol):
    def decide(
        self, command: Command, *, patient: bool, detail: dict | None = None
    ) -> Awaitable[Reply | None | object]: ...
    def dead_letter(self, command: Command, reason: str) -> Awaitable[Reply | object]: ...


class CommandTimeout(Exception):
    """No worker committed the command before its deadline; it never will."""


class WritesUnavailable(Exception):
    """No worker is alive to apply writes; nothing was queued."""


class Backpressure(Exception):
    """The organization has too many writes waiting on this ingress; nothing was queued."""


class _PublishFailed(Exception):
    pass


@dataclass(eq=False)
class _Batch:
    id: str
    flights: list[Flight]
    worker: str | None = None  # who claimed it
    open: set = field(default_factory=set)  # ids of flights still tied to it
    recovering: bool = False
    published_at: float | None = None  # monotonic; None until it is on the queue

    @property
    def suspect(self) -> bool:
        return len(self.flights) == 1 and self.flights[0].resubmitted


class CommandDispatcher:
    def __init__(self, settings: Settings, fence: Fence):
        self.settings = settings
        self.fence = fence
        self.listener = ReplyListener(settings.redis_url, on_reply=self._on_reply, on_claim=self._on_claim)
        self.producer = Celery("scimgate-ingress", set_as_current=False)
        self.producer.conf.update(celery_settings(settings))
        self.schedule = Schedule(settings.batch_max)
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="publish")
        self._flights: dict[str, Flight] = {}  # current command id → flight
        self._batches: dict[str, _Batch] = {}  # in flight, by batch id
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._redis: aioredis.Redis | None = None
        self.roster: WorkerRoster | None = None

    @property
    def reply_to(self) -> str:
        return self.listener.key

    async def start(self) -> None:
        self._redis = aioredis.from_url(self.settings.redis_url)
        self.roster = WorkerRoster(self._redis, self.settings.queue_name, self.settings.worker_stale_seconds)
        await self.roster.refresh()
        await self.listener.start()
        self._tasks = [
            asyncio.create_task(self._run(), name="dispatcher"),
            asyncio.create_task(self._watch(), name="dispatcher-watchdog"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        if self._redis is not None:
            try:
                await ingress_queue.withdraw(self._redis, self.settings.queue_name, self.reply_to)
            except Exception:  # Redis gone: the report goes stale and is pruned by readers
                pass
        await self.listener.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._redis is not None:
            await self._redis.aclose()

    # -- submitting ------------------------------------------------------------------------------

    async def submit(self, command: Command) -> Reply:
        """Enqueue ``command`` and return its decision's reply, or raise CommandTimeout (never
        applied), WritesUnavailable or Backpressure (nothing queued)."""
        if self.roster is not None and await self.roster.none_alive():
            raise WritesUnavailable("no worker is running")
        if self.schedule.waiting(command.org_id) >= self.settings.max_pending_per_org:
            raise Backpressure(command.org_id)
        flight = Flight(command, encode_command(command), asyncio.get_running_loop().create_future(),
                        lock=asyncio.Lock())
        self._flights[command.id] = flight
        self.schedule.push(flight)
        self._wakeup.set()
        try:
            wait = max(0.0, command.deadline + self.settings.reply_margin - time.time())
            try:
                return await asyncio.wait_for(asyncio.shield(flight.result), timeout=wait)
            except asyncio.TimeoutError:
                pass
            except _PublishFailed as exc:  # decide it now rather than wait for the deadline
                log.warning("command_not_published", command_id=flight.command.id, error=str(exc.__cause__))
            return await self._decide_now(flight)
        finally:
            self._finish(flight)

    async def _decide_now(self, flight: Flight) -> Reply:
        async with flight.lock:
            if flight.result.done() and not flight.result.cancelled() and flight.result.exception() is None:
                return flight.result.result()
            if flight.state == PENDING:
                flight.state = DROPPED  # never sent: the schedule forgets it
            reply = await self.fence.decide(flight.command, patient=True)
        if reply is None:
            raise CommandTimeout(flight.command.id)
        assert isinstance(reply, Reply), "a patient decision is never UNDECIDED"
        return reply

    def _finish(self, flight: Flight) -> None:
        if flight.state == PENDING:
            flight.state = DROPPED
        self.schedule.release(flight)
        self._flights.pop(flight.command.id, None)
        self._leave_batch(flight)
        flight.state = DONE
        self._wakeup.set()

    def _leave_batch(self, flight: Flight) -> None:
        batch = flight.batch
        flight.batch = None
        if batch is None:
            return
        batch.open.discard(id(flight))
        if not batch.open:
            self._batches.pop(batch.id, None)  # its in-flight slot is free
            self._wakeup.set()

    # -- the inbox -------------------------------------------------------------------------------

    def _on_reply(self, reply: Reply) -> None:
        flight = self._flights.get(reply.command_id)
        if flight is not None and not flight.result.done():
            flight.result.set_result(reply)

    def _on_claim(self, batch_id: str, worker: str) -> None:
        batch = self._batches.get(batch_id)
        if batch is not None:
            batch.worker = worker
            self._wakeup.set()  # the next batch may go now

    def _one_awaits_a_worker(self) -> bool:
        """Whether a batch of ours is still on the queue, unclaimed: the next one waits (growing)
        until a worker takes it, so the queue holds one batch of ours, not many small ones."""
        return any(batch.worker is None for batch in self._batches.values())

    # -- the batching loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if len(self._batches) >= self.settings.ingress_inflight or self._one_awaits_a_worker():
                continue  # a batch finishing, or being claimed, sets the wakeup again
            if self.settings.batch_window > 0 and self._batches and len(self.schedule) < self.settings.batch_max:
                # Others are being applied: wait a moment for more to join this batch. With none
                # in flight there is nothing to wait for: the command goes at once.
                await asyncio.sleep(self.settings.batch_window)
            suspect_in_flight = any(batch.suspect for batch in self._batches.values())
            flights = self.schedule.take(allow_suspect=not suspect_in_flight)
            if flights and len(self.schedule):
                self._wakeup.set()  # more may go now; what is held back waits for a decision
            if flights:
                batch = _Batch(uuid.uuid4().hex, flights, open={id(f) for f in flights})
                for flight in flights:
                    flight.state = SENT
                    flight.batch = batch
                self._batches[batch.id] = batch
                asyncio.create_task(self._publish(batch))

    async def _publish(self, batch: _Batch) -> None:
        payload = [flight.payload for flight in batch.flights]
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._send, payload, batch.id)
            batch.published_at = time.monotonic()
        except Exception as exc:
            log.error("publish_failed", error=str(exc), commands=len(batch.flights))
            for flight in batch.flights:
                if not flight.result.done():
                    failure = _PublishFailed()
                    failure.__cause__ = exc
                    flight.result.set_exception(failure)

    def _send(self, payload: list, batch_id: str) -> None:
        # argsrepr: Celery would otherwise render the whole batch into the message for monitoring.
        self.producer.send_task(
            APPLY_BATCH_TASK, args=[payload], kwargs={"batch_id": batch_id}, queue=self.settings.queue_name,
            serializer=SERIALIZER, argsrepr=f"<{len(payload)} commands>", kwargsrepr="",
        )

    # -- lost workers ----------------------------------------------------------------------------

    async def _watch(self) -> None:
        roster = self.roster
        assert roster is not None, "started"
        live: set[str] = set()
        redis_lost_at: float | None = None
        while True:
            await asyncio.sleep(STAMP_INTERVAL_SECONDS)
            await self._report_waiting()
            try:
                stamps = await roster.refresh()
                if stamps is None:  # Redis unreachable: judge nobody, but remember it
                    redis_lost_at = redis_lost_at or time.monotonic()
                    continue
                now_live = {worker for worker in stamps if roster.is_live(worker)}
                # A worker that took a message off the queue and died (or lost its connection)
                # before claiming it leaves no trace in Redis: when a worker goes stale, or Redis
                # comes back, a batch still unclaimed may be one of those. A worker that left the
                # roster cleanly (its stamp removed at shutdown) handed its unstarted messages
                # back to the queue, so its leaving raises no suspicion.
                gone_stale = {worker for worker in live - now_live if worker in stamps}
                suspicious_before = redis_lost_at if redis_lost_at is not None else (
                    time.monotonic() if gone_stale else None)
                live, redis_lost_at = now_live, None
                for batch in list(self._batches.values()):
                    if batch.recovering:
                        continue
                    if batch.worker is not None:
                        lost = not roster.is_live(batch.worker)
                    else:
                        lost = (suspicious_before is not None and batch.published_at is not None
                                and batch.published_at < suspicious_before)
                    if lost:
                        batch.recovering = True
                        asyncio.create_task(self._recover(batch))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watchdog must outlive any one failure
                log.warning("dispatcher_watch_error", error=str(exc)[:200])

    async def _report_waiting(self) -> None:
        """Tell the ops snapshot (``infra.ops_snapshot``) how many commands wait here, since when."""
        if self._redis is None:
            return
        deadlines = [flight.command.deadline for flight in self._flights.values()]
        oldest = min(deadlines) - self.settings.command_timeout if deadlines else None
        try:
            async with asyncio.timeout(STAMP_INTERVAL_SECONDS):  # never holds up the watchdog long
                await ingress_queue.report(self._redis, self.settings.queue_name, self.reply_to, len(deadlines), oldest)
        except Exception:  # Redis unreachable: the roster refresh says so; the report goes stale
            pass

    async def _recover(self, batch: _Batch) -> None:
        """Decide the commands of a batch whose worker is gone (or that may have vanished with an
        unknown worker before it was claimed), in order; resubmit the unapplied."""
        answered: list[Flight] = []
        again: list[Flight] = []
        claimed = batch.worker is not None  # only a claimed batch's loss is blamed on its commands
        alone = batch.suspect and claimed and not any(
            other.worker == batch.worker for other in self._batches.values() if other is not batch
        )
        try:
            for flight in batch.flights:
                async with flight.lock:
                    if flight.batch is not batch or flight.result.done():
                        continue
                    losses = flight.losses + (1 if claimed else 0)
                    if claimed and ((alone and losses >= MAX_LOSSES) or losses >= MAX_LOSSES_SHARED):
                        decision = await self.fence.dead_letter(flight.command, f"worker {batch.worker} lost it twice")
                        if decision is UNDECIDED:
                            return
                        if not flight.result.done():  # a reply of its worker may have come meanwhile
                            await self._record_dead_letter(flight, batch.worker)
                            flight.result.set_result(decision)
                        answered.append(flight)
                        continue
                    new_id = new_command_id()
                    decision = await self.fence.decide(flight.command, patient=False, detail={
                        "reason": "worker_lost" if claimed else "unclaimed_when_a_worker_was_lost",
                        "worker": batch.worker, "resubmittedAs": new_id})
                    if decision is UNDECIDED:
                        return  # a live transaction may still hold it; look again on the next tick
                    if flight.result.done():
                        # Its worker's own reply came while we were deciding (e.g. it expired the
                        # command itself): that answer stands, and matches the store; sending the
                        # command again now would apply what its client was told was not.
                        answered.append(flight)
                        continue
                    if decision is not None:
                        flight.result.set_result(decision)  # it was committed; the reply was lost
                        answered.append(flight)
                        continue
                    self._take_back(flight, new_id, lost=claimed)
                    again.append(flight)
        finally:
            if again:
                self.schedule.push_front(again)
                self._wakeup.set()
            if again or answered:
                log.warning("worker_lost_batch_recovered", worker=batch.worker, batch_id=batch.id,
                            resubmitted=len(again), answered=len(answered))
            batch.recovering = False

    def _take_back(self, flight: Flight, new_id: str, *, lost: bool) -> None:
        """Fenced off under its old id (never applied): send it again under a new one (alone, as
        a suspect, when a worker died holding it)."""
        self._flights.pop(flight.command.id, None)
        log.info("command_resubmitted", command_id=flight.command.id, resubmitted_as=new_id,
                 request_id=flight.command.request_id, worker_lost=lost)
        flight.command = replace(flight.command, id=new_id)
        flight.payload = encode_command(flight.command)
        if lost:
            flight.losses += 1
            flight.resubmitted = True
        flight.state = PENDING
        self._leave_batch(flight)
        self._flights[flight.command.id] = flight

    async def _record_dead_letter(self, flight: Flight, worker: str | None) -> None:
        command = flight.command
        log.error("command_dead_lettered", command_id=command.id, org_id=command.org_id, kind=command.kind,
                  losses=flight.losses + 1, worker=worker)
        try:
            assert self._redis is not None, "started"
            await deadletter.record_async(self._redis, self.settings.queue_name, deadletter.entry(
                command, reason="the workers applying it were lost", deliveries=flight.losses + 1, source="ingress",
            ))
        except Exception as exc:  # the ledger row and the audit event already say it
            log.warning("dead_letter_record_failed", error=str(exc)[:200])

