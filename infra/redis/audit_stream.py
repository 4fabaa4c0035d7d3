"""The audit stream: a Redis Stream of JSON events that dashboards and ``scimgate audit tail`` read.

Publishing is idempotent per ``event_id``: each event goes through one small Lua script that
sets a de-duplication key (``SET <stream>:seen:<event_id> 1 NX EX ttl``) and appends the event
(``XADD``) only if the key was not there, atomically. So a worker that dies between publishing
its events and deleting their outbox rows, a sweep whose delete did not commit, or two sweepers
racing never put an event on the stream twice. The script is loaded once per Redis server (on the
first ``NOSCRIPT``: a restarted Redis forgets scripts) and run with ``EVALSHA`` inside the callers'
pipelines; re-running it is harmless, so the events of a failed run are simply run again.

The key's lifetime (``SCIMGATE_AUDIT_DEDUPE_SECONDS``, 600 s) must cover how late a re-publish
can come. The sweepers publish what a crash left behind once it is older than the relay's grace
(2 s): within seconds while any worker is alive, and when a restarted worker first sweeps if the
only one died (a supervisor restarts it in seconds; an orchestrator's back-off caps at minutes).
Memory: about 140 bytes per key, so at most (events/s × ttl × 140 B), e.g. 8.4 MB at 100 events/s
and 84 MB at the benchmark's sustained 1,000 events/s. Past the ttl a re-publish is appended again:
only the few events a worker had published but not yet deleted when it died (at most its last
batch or two), and only if no worker swept for 10 minutes; readers de-duplicate on ``event_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import orjson
import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

# Refusals (published by the ingress, no outbox) also go to a capped feed the worker's relay
# writes into the provisioning log (``worker.relay``): at most this many wait there.
REFUSAL_FEED_MAXLEN = 50_000

# KEYS[1]: the event's de-duplication key, KEYS[2]: the stream.
# ARGV[1]: the key's lifetime in seconds, ARGV[2]: the stream's approximate MAXLEN (0: none), ARGV[3]: the event.
PUBLISH_ONCE_LUA = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  if tonumber(ARGV[2]) > 0 then
    return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[3])
  end
  return redis.call('XADD', KEYS[2], '*', 'event', ARGV[3])
end
return false
"""
PUBLISH_ONCE_SHA = hashlib.sha1(PUBLISH_ONCE_LUA.encode()).hexdigest()


@dataclass(frozen=True)
class AuditStream:
    """Where events go (``name``), its cap and how long an event id is remembered for de-duplication."""

    name: str
    maxlen: int
    dedupe_seconds: int

    @classmethod
    def from_settings(cls, settings) -> "AuditStream":
        return cls(settings.audit_stream, settings.audit_stream_maxlen, max(1, int(settings.audit_dedupe_seconds)))

    @property
    def refusal_feed(self) -> str:
        """The capped stream of refusal events awaiting the provisioning log."""
        return f"{self.name}:refusals"

    def seen_key(self, event_id: str) -> str:
        return f"{self.name}:seen:{event_id}"

    def _args(self, event: dict) -> tuple:
        return (PUBLISH_ONCE_SHA, 2, self.seen_key(event["event_id"]), self.name, self.dedupe_seconds, self.maxlen,
                orjson.dumps(event))

    def queue(self, pipe, events: list[dict]) -> None:
        """Queue the once-only publication of each event on a pipeline (sync or asyncio)."""
        for event in events:
            pipe.evalsha(*self._args(event))

    def publish(self, client: redis.Redis, events: list[dict], pipe: redis.client.Pipeline | None = None) -> None:
        """Publish ``events`` (on ``pipe`` with whatever is queued there already, executed here)."""
        pipe = pipe if pipe is not None else client.pipeline(transaction=False)
        first = len(pipe)
        self.queue(pipe, events)
        results = pipe.execute(raise_on_error=False)
        failed = [result for result in results if isinstance(result, Exception)]
        unscripted = [event for event, result in zip(events, results[first:]) if isinstance(result, NoScriptError)]
        for error in failed:
            if not isinstance(error, NoScriptError):
                raise error
        if unscripted:  # a fresh Redis: load the script once and run just these again
            client.script_load(PUBLISH_ONCE_LUA)
            retry = client.pipeline(transaction=False)
            self.queue(retry, unscripted)
            retry.execute()

    async def publish_async(self, client: aioredis.Redis, event: dict) -> None:
        """A refusal's event, from the ingress: once on the stream, and on the refusal feed that
        the provisioning log takes it from (capped; the log de-duplicates on ``event_id``)."""
        try:
            await client.evalsha(*self._args(event))
        except NoScriptError:
            await client.script_load(PUBLISH_ONCE_LUA)
            await client.evalsha(*self._args(event))
        await client.xadd(self.refusal_feed, {"event": orjson.dumps(event)}, maxlen=REFUSAL_FEED_MAXLEN,
                          approximate=True)

    def take_refusals(self, client: redis.Redis, count: int) -> list[tuple[str, dict]]:
        """The oldest ``count`` refusals on the feed (they stay there until ``drop_refusals``)."""
        return list(_decode(cast(list, client.xrange(self.refusal_feed, count=count))))

    def drop_refusals(self, client: redis.Redis, entry_ids: list[str]) -> None:
        if entry_ids:
            client.xdel(self.refusal_feed, *entry_ids)


def _decode(entries) -> Iterator[tuple[str, dict]]:
    for entry_id, fields in entries:
        raw = fields.get(b"event") or fields.get("event")
        yield (entry_id.decode() if isinstance(entry_id, bytes) else entry_id), orjson.loads(raw)


def read_events(
    client: redis.Redis, stream: str, *, org_id: str | None = None, follow: bool = False, count: int = 100
) -> Iterator[tuple[str, dict]]:
    """The stream's most recent ``count`` events, oldest first; with ``follow``, then every new one."""
    last_id = "$"
    recent = list(reversed(cast(list, client.xrevrange(stream, count=count))))
    for entry_id, event in _decode(recent):
        last_id = entry_id
        if org_id is None or event.get("org_id") == org_id:
            yield entry_id, event
    if not follow:
        return
    if last_id == "$":
        info = client.xinfo_stream(stream) if client.exists(stream) else None
        last_id = (info["last-generated-id"].decode() if info else "0-0")
    while True:
        response = cast(list, client.xread({stream: last_id}, block=1000, count=100))
        for _name, entries in response or ():
            for entry_id, event in _decode(entries):
                last_id = entry_id
                if org_id is None or event.get("org_id") == org_id:
                    yield entry_id, event
