"""The dashboard's live feed: ONE reader of the audit stream per ingress process, fanned out.

The reader runs only while someone watches: the first browser (or catch-up) starts it, and it
stops ``linger`` seconds after the last browser left. Starting, it counts the last hour of the
stream (``backfill``) before the first message is sent, so an idle ingress spends nothing on the
stream and a page opened later shows the same counters.

``LiveFeed.run_reader`` waits on the Redis Stream (``XREAD BLOCK``) and notes every new event (into a
ring of recent events and the ``domain.activity`` counters); the broadcaster then sends, at most
once per ``tick`` (250 ms), each connected browser ONE server-sent-events message holding the new events
it may see (``domain.viewers``), once a second the counters of its scope and, for operators, the
pipeline's state (``ops``, read once per second per process, not per browser). Browsers of one
scope share one encoded message.

Each browser has a bounded queue (``queue_size`` messages). A browser that does not keep up is
dropped: its queue is cleared and its stream ended, never awaited, so it slows neither the
ingress nor any other browser (its connection is closed, so its handler is not left writing).
Its ``EventSource`` reconnects on its own with ``Last-Event-ID``
(the stream id of the last message it got), and ``catch_up`` replays what it missed from the
stream (at most ``replay_limit`` events; past that it tells the page to resync). The page
de-duplicates on ``event_id``, so the overlap between replay and live messages is harmless.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import orjson
import redis.asyncio as aioredis

from domain.activity import ActivityWindow
from domain.viewers import Viewer
from infra.logging import get_logger

log = get_logger(__name__)

STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
# What of an event a browser gets (the stream's events hold no secret; this keeps messages small).
SHOWN = ("event_id", "time", "org_id", "idp", "action", "outcome", "status", "resource_type", "resource_id",
         "resource_name", "external_id", "request_id", "command_id", "token_id", "changed", "detail",
         "queue_wait_ms", "apply_ms")


def shown(event: dict) -> dict:
    return {name: event[name] for name in SHOWN if name in event}


def sse(data: dict, *, event: str = "batch", event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def _decode(entries) -> list[tuple[str, dict]]:
    decoded = []
    for entry_id, fields in entries:
        raw = fields.get(b"event") or fields.get("event")
        try:
            event = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError):
            continue
        decoded.append((entry_id.decode() if isinstance(entry_id, bytes) else entry_id, event))
    return decoded


@dataclass(eq=False)
class Subscriber:
    viewer: Viewer
    queue: asyncio.Queue
    dropped: bool = False
    # Closes the browser's connection: a handler stuck writing to a browser that does not read
    # is freed at once (its write fails), not when TCP gives up.
    close: Callable[[], None] | None = None


@dataclass
class LiveFeed:
    client: aioredis.Redis  # a client of its own: XREAD BLOCK holds a connection
    stream: str
    snapshot: Callable[[], Awaitable[dict | None]] | None = None  # the pipeline's state (operators)
    tick: float = 0.25
    queue_size: int = 16
    recent_size: int = 1000
    replay_limit: int = 1000
    backfill_limit: int = 20_000
    snapshot_every: float = 1.0
    linger: float = 60.0  # how long the reader goes on after the last browser left
    ready_timeout: float = 5.0  # how long a first message waits for the reader's backfill
    subscribers: set[Subscriber] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.ops: dict | None = None
        self._ops_read = 0.0
        self._tasks: list[asyncio.Task] = []
        self._reader: asyncio.Task | None = None
        self._news = asyncio.Event()
        self._watched_at = 0.0  # when a browser was last connected (monotonic)
        self.dropped_total = 0
        self._forget()

    def _forget(self) -> None:
        """What the reader knows, from nothing (it backfills the last hour when it starts)."""
        self.activity = ActivityWindow()
        self.recent: deque[tuple[str, dict]] = deque(maxlen=self.recent_size)
        self.pending: list[tuple[str, dict]] = []
        self.last_id = "0-0"
        self._ready = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.get_running_loop().create_task(self.run_broadcaster())]

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._reader] if self._reader is not None else [])]
        self._reader = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        for sub in list(self.subscribers):
            self._drop(sub)

    @property
    def reading(self) -> bool:
        return self._reader is not None and not self._reader.done()

    def _watch(self) -> None:
        """Someone watches: the reader runs (started afresh if it had stopped)."""
        self._watched_at = time.monotonic()
        if not self.reading:
            self._forget()
            self._reader = asyncio.get_running_loop().create_task(self.run_reader())

    def _idle_check(self) -> None:
        """Stop the reader ``linger`` seconds after the last browser left."""
        if self.subscribers:
            self._watched_at = time.monotonic()
        elif self.reading and time.monotonic() - self._watched_at >= self.linger:
            assert self._reader is not None
            self._reader.cancel()
            self._reader = None

    async def _until_ready(self) -> None:
        try:
            await asyncio.wait_for(self._ready.wait(), self.ready_timeout)
        except TimeoutError:  # Redis slow or away: the first message goes with what is known
            pass

    # -- browsers ---------------------------------------------------------------------------------

    def subscribe(self, viewer: Viewer) -> Subscriber:
        sub = Subscriber(viewer, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        self._watch()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self._watched_at = time.monotonic()

    def _drop(self, sub: Subscriber) -> None:
        """End a browser's stream without waiting for it (it reconnects with Last-Event-ID)."""
        sub.dropped = True
        self.dropped_total += 1
        self.subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
        if sub.close is not None:
            sub.close()

    def offer(self, sub: Subscriber, message: bytes) -> None:
        try:
            sub.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("dashboard_browser_dropped", reason="slow", viewer=sub.viewer.kind)
            self._drop(sub)

    async def catch_up(self, viewer: Viewer, last_event_id: str | None) -> bytes:
        """The first message of a (re)connected browser: what it missed since ``last_event_id``
        (from the stream, bounded), or, on a first connection, the recent events it may see."""
        self._watch()
        await self._until_ready()
        if last_event_id and STREAM_ID.fullmatch(last_event_id):
            entries = _decode(await self.client.xrange(self.stream, min=f"({last_event_id}", max="+",
                                                       count=self.replay_limit))
            resync = len(entries) >= self.replay_limit
            events = [shown(e) for _id, e in entries if viewer.sees(e)]
            position = entries[-1][0] if entries else last_event_id
            if resync:  # too much missed: the page reloads the newest events instead
                events = self.recent_for(viewer, 100)
                position = self.last_id
        else:
            events, position, resync = self.recent_for(viewer, 100), self.last_id, False
        body = {"events": events, "activity": self.summary_for(viewer), "resync": resync}
        if viewer.is_operator and self.ops is not None:
            body["ops"] = self.ops
        return sse(body, event_id=position)

    def recent_for(self, viewer: Viewer, limit: int) -> list[dict]:
        seen = [shown(e) for _id, e in reversed(self.recent) if viewer.sees(e)]
        return list(reversed(seen[:limit]))

    def summary_for(self, viewer: Viewer) -> dict:
        return self.activity.summary(None if viewer.is_operator else viewer.org_id, int(time.time()) // 60)

    # -- the one reader ---------------------------------------------------------------------------

    def note(self, entries: list[tuple[str, dict]], *, live: bool = True) -> None:
        for entry_id, event in entries:
            self.activity.add(event)
            self.recent.append((entry_id, event))
            if live:
                self.pending.append((entry_id, event))
                self._news.set()
            self.last_id = entry_id

    async def backfill(self) -> None:
        """The last hour of the stream (at most ``backfill_limit`` events, up to its newest entry
        as of now) into the counters; the reader goes on after that entry, so an event added
        meanwhile is read live, never skipped."""
        newest = cast(list, await self.client.xrevrange(self.stream, count=1))
        if not newest:
            return  # empty: the reader starts from the beginning ("0-0")
        top = newest[0][0].decode() if isinstance(newest[0][0], bytes) else str(newest[0][0])
        start = f"{int(time.time() * 1000) - 3_600_000}-0"
        entries = _decode(await self.client.xrevrange(self.stream, max=top, min=start, count=self.backfill_limit))
        entries.reverse()
        self.note(entries, live=False)
        self.last_id = top

    async def run_reader(self) -> None:
        while True:
            try:
                if not self._ready.is_set():
                    await self.backfill()
                    self._ready.set()
                response = cast(list, await self.client.xread({self.stream: self.last_id}, block=1000, count=1000))
                for _name, entries in response or ():
                    self.note(_decode(entries))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: try again in a second, the page shows it stale
                log.warning("dashboard_stream_read_failed", error=str(exc)[:200])
                await asyncio.sleep(1.0)

    # -- the one broadcaster ----------------------------------------------------------------------

    async def read_ops(self) -> None:
        if self.snapshot is None or not any(sub.viewer.is_operator for sub in self.subscribers):
            return
        now = time.monotonic()
        if now - self._ops_read < self.snapshot_every:
            return
        self._ops_read = now
        try:
            self.ops = await self.snapshot()
        except Exception as exc:
            log.warning("dashboard_snapshot_failed", error=str(exc)[:200])
            self.ops = {"error": "The pipeline's state cannot be read right now"}

    def broadcast(self, *, counters: bool) -> None:
        """One message per browser with what is new for it (nothing when nothing is). Browsers
        of the same scope (every operator; each organization's) share one encoded message, so a
        tick costs O(events + scopes + browsers), not O(events × browsers)."""
        events, self.pending = self.pending, []
        if not self.subscribers:
            return
        everything = [shown(event) for _id, event in events]
        by_org: dict[str, list[dict]] = defaultdict(list)
        for item in everything:
            by_org[item.get("org_id") or ""].append(item)
        messages: dict[str | None, bytes | None] = {}
        for sub in list(self.subscribers):
            viewer = sub.viewer
            scope = None if viewer.is_operator else viewer.org_id
            if scope not in messages:
                mine = everything if scope is None else by_org.get(scope, [])
                if not mine and not counters:
                    messages[scope] = None
                else:
                    body: dict = {"events": mine}
                    if counters:  # the counters once a second; the events every tick
                        body["activity"] = self.summary_for(viewer)
                    if viewer.is_operator and self.ops is not None:
                        body["ops"] = self.ops
                    messages[scope] = sse(body, event_id=self.last_id)
            message = messages[scope]
            if message is not None:
                self.offer(sub, message)

    async def run_broadcaster(self) -> None:
        """Sends at once when news comes after a quiet spell, then at most once per ``tick`` while
        it keeps coming (a burst is batched, a lone event is not held back); the counters and
        the pipeline's state once per ``snapshot_every`` in any case."""
        last_sent = last_counters = 0.0
        while True:
            try:
                await asyncio.wait_for(self._news.wait(), timeout=self.snapshot_every)
            except TimeoutError:
                pass
            self._news.clear()
            wait = self.tick - (time.monotonic() - last_sent)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                self._idle_check()
                await self.read_ops()
                now = time.monotonic()
                counters = now - last_counters >= self.snapshot_every
                if counters:
                    last_counters = now
                self.broadcast(counters=counters)
                last_sent = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad event end the feed
                log.exception("dashboard_broadcast_failed")
