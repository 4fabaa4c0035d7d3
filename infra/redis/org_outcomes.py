"""Which organizations are failing: per-minute counts of decided writes and of failed ones, per
organization, in Redis — bounded however many organizations there are.

A worker adds each batch's counts after its commit (``record``: one pipeline, best effort) to two
sorted sets per minute, ``scimgate:org-writes:<queue>:<minute>`` and ``…org-failures…`` (member:
organization id, score: count), each kept ``KEEP_SECONDS``. A failure is a write the worker
rejected (a uniqueness clash, a member that does not exist, a dead letter) or that expired. The
ops snapshot reads the last ``WINDOW_MINUTES`` minutes' top ``TOP`` failing organizations
(``failing``): a fixed number of small reads, so Prometheus gets a bounded set of series and the
dashboard a short list, never one series per organization.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

WINDOW_MINUTES = 5
KEEP_SECONDS = (WINDOW_MINUTES + 2) * 60
TOP = 10
# An organization is failing when, over the window, at least this many of its writes failed ...
MIN_FAILURES = 5
# ... and at least this share of them.
MIN_FAILURE_RATIO = 0.5
FAILED_OUTCOMES = frozenset({"rejected", "expired"})


def _keys(queue: str, minute: int) -> tuple[str, str]:
    return f"scimgate:org-writes:{queue}:{minute}", f"scimgate:org-failures:{queue}:{minute}"


@dataclass(frozen=True)
class FailingOrganization:
    org_id: str
    failures: int  # failed writes over the window
    writes: int  # decided writes over the window


def record(client: redis.Redis, queue: str, decided: Iterable[tuple[str, str]], now: float | None = None) -> None:
    """Add ``(org_id, outcome)`` pairs of one batch (redeliveries, outcome ``duplicate``, not counted)."""
    writes: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for org_id, outcome in decided:
        if outcome == "duplicate":
            continue
        writes[org_id] += 1
        if outcome in FAILED_OUTCOMES:
            failures[org_id] += 1
    if not writes:
        return
    writes_key, failures_key = _keys(queue, int((time.time() if now is None else now) // 60))
    pipe = client.pipeline(transaction=False)
    for org_id, count in writes.items():
        pipe.zincrby(writes_key, count, org_id)
    pipe.expire(writes_key, KEEP_SECONDS)
    for org_id, count in failures.items():
        pipe.zincrby(failures_key, count, org_id)
    if failures:
        pipe.expire(failures_key, KEEP_SECONDS)
    pipe.execute()


async def failing(client: aioredis.Redis, queue: str, now: float | None = None) -> tuple[int, list[FailingOrganization]]:
    """``(how many organizations are failing, up to TOP of them, worst first)`` over the window
    (among each minute's ``TOP * 10`` most failing: bounded reads)."""
    minute = int((time.time() if now is None else now) // 60)
    minutes = range(minute - WINDOW_MINUTES + 1, minute + 1)
    pipe = client.pipeline(transaction=False)
    for m in minutes:
        pipe.zrevrange(_keys(queue, m)[1], 0, TOP * 10 - 1, withscores=True)
    failures: Counter[str] = Counter()
    for rows in await pipe.execute():
        for member, score in rows:
            failures[member.decode() if isinstance(member, bytes) else member] += int(score)
    candidates = [org for org, count in failures.items() if count >= MIN_FAILURES]
    if not candidates:
        return 0, []
    pipe = client.pipeline(transaction=False)
    for org in candidates:
        for m in minutes:
            pipe.zscore(_keys(queue, m)[0], org)
    scores = await pipe.execute()
    found = []
    for index, org in enumerate(candidates):
        writes = int(sum(s or 0 for s in scores[index * len(minutes):(index + 1) * len(minutes)]))
        if writes and failures[org] / writes >= MIN_FAILURE_RATIO:
            found.append(FailingOrganization(org, failures[org], writes))
    found.sort(key=lambda f: (-f.failures, f.org_id))
    return len(found), found[:TOP]
