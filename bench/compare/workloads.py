"""The workloads of the side-by-side run, the same requests for both servers.

Throughput workloads (creates, lookups, Entra's first cycle) run ``clients`` coroutines for a
duration (``bench.loadgen.measure.run_phase``); latency workloads (a page at a position, a member
change) run one request at a time, ``reps`` times or until ``budget`` seconds have passed (at least
once); full reads run one client page after page until done or out of ``budget`` (then the total
is extrapolated from the pages read, and marked so). Each returns a flat dict of figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from urllib.parse import quote

import aiohttp

from bench.loadgen.client import Scim
from bench.loadgen.measure import Exhausted, Outcome, percentile, run_phase


def _lat(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {"p50_ms": _round(percentile(ordered, 50)), "p99_ms": _round(percentile(ordered, 99)), "n": len(ordered)}


def _round(value):
    return None if value is None else round(value, 2)


def _rate(result) -> dict:
    return {"per_s": round(result.success_rate, 1), **_lat(result.latencies_ms), "errors": result.errors}


async def sequential(op, reps: int, budget: float) -> tuple[list[float], dict]:
    """``op()`` (returning an Outcome) one at a time; latencies (ms) and errors by status."""
    latencies: list[float] = []
    errors: dict = {}
    deadline = time.perf_counter() + budget
    for _ in range(reps):
        t0 = time.perf_counter()
        try:
            outcome = await op()
        except (asyncio.TimeoutError, aiohttp.ClientError) as error:
            outcome = Outcome(type(error).__name__, False)
        latencies.append((time.perf_counter() - t0) * 1000.0)
        if not outcome.ok:
            errors[outcome.status] = errors.get(outcome.status, 0) + 1
        if time.perf_counter() > deadline:
            break
    return latencies, errors


async def creates(scim: Scim, clients: int, duration: float, warmup: float, log) -> dict:
    async def op(_index: int) -> Outcome:
        return (await scim.create_user(scim.next_user_name("c")))[0]

    return _rate(await run_phase("creates", clients, op, duration=duration, requests=None, warmup=warmup, log=log))


async def lookups(scim: Scim, names: list[str], clients: int, duration: float, warmup: float, log) -> dict:
    rng = random.Random(1)

    async def op(_index: int) -> Outcome:
        return await scim.lookup(rng.choice(names))

    return _rate(await run_phase("lookups", clients, op, duration=duration, requests=None, warmup=warmup, log=log))


async def entra_first_cycle(scim: Scim, clients: int, duration: float, warmup: float, log) -> dict:
    """Per user: ``GET /Users?filter=externalId eq "…"`` (none yet), then ``POST /Users`` with it."""
    async def op(_index: int) -> Outcome:
        name = scim.next_user_name("entra")
        external_id = f"ext-{name}"
        outcome, total = await scim.count_by_external_id(external_id)
        if not outcome.ok:
            return outcome
        if total != 0:
            return Outcome(f"200 totalResults={total}", False)
        return (await scim.create_user(name, external_id))[0]

    result = await run_phase("entra first cycle", clients, op, duration=duration, requests=None, warmup=warmup,
                             log=log)
    return {"users_per_s": round(result.success_rate, 1), **_lat(result.latencies_ms), "errors": result.errors}


async def page_at(scim: Scim, start_index: int, reps: int, budget: float) -> dict:
    """One page of 100 by ``startIndex``, one request at a time."""
    async def op() -> Outcome:
        outcome, page = await scim.list_page(f"startIndex={start_index}&count=100")
        if outcome.ok and not page.get("Resources"):
            return Outcome("200 empty page", False)
        return outcome

    latencies, errors = await sequential(op, reps, budget)
    # The first request of a position apart: a server may remember where a page it served began.
    return {"start_index": start_index, **_lat(latencies), "first_ms": _round(latencies[0]), "errors": errors}


async def full_read(scim: Scim, budget: float, *, cursor: bool, known_total: int) -> dict:
    """Every user, 100 a page, by ``startIndex`` (or by RFC 9865 ``cursor``), one client, until the
    last page or ``budget`` seconds; the tenant's size is the first page's ``totalResults``."""
    read = pages = 0
    total = known_total
    complete = False
    started = time.perf_counter()
    query = "cursor=&count=100" if cursor else "startIndex=1&count=100"
    while True:
        try:
            outcome, page = await scim.list_page(query)
        except (asyncio.TimeoutError, aiohttp.ClientError) as error:
            outcome, page = Outcome(type(error).__name__, False), {}
        if not outcome.ok:
            return {"error": outcome.status, "pages": pages, "users": read}
        if pages == 0 and page.get("totalResults") is not None:
            total = page["totalResults"]
        pages += 1
        got = len(page.get("Resources") or [])
        read += got
        if cursor:
            complete = not page.get("nextCursor")
            query = f"cursor={quote(page.get('nextCursor') or '', safe='')}&count=100"
        else:
            complete = got == 0 or read >= total
            query = f"startIndex={read + 1}&count=100"
        if complete or time.perf_counter() - started > budget:
            break
    elapsed = time.perf_counter() - started
    figures = {"seconds": round(elapsed, 2), "pages": pages, "users": read, "total": total, "complete": complete}
    if not complete and read:
        # Pages by index cost more the deeper they are: extrapolating the first pages' pace is a
        # lower bound for a read by index.
        figures["seconds_extrapolated"] = round(elapsed * total / read, 1)
    return figures


async def member_adds(scim: Scim, group_id: str, pool: list[str], reps: int, budget: float) -> dict:
    """Add 100 members (users not yet in the Team) in one PATCH, one request at a time."""
    batches = iter([pool[i : i + 100] for i in range(0, len(pool) - 99, 100)])

    async def op() -> Outcome:
        batch = next(batches, None)
        if batch is None:
            raise Exhausted
        return await scim.patch_members(group_id, "add", batch)

    try:
        latencies, errors = await sequential(op, reps, budget)
    except Exhausted:
        latencies, errors = [], {"pool exhausted": 1}
    return {**_lat(latencies), "errors": errors}


async def member_removes(scim: Scim, group_id: str, members: list[str], reps: int, budget: float) -> dict:
    """Remove one member by valuePath (``members[value eq "…"]``), one request at a time."""
    victims = iter(members)

    async def op() -> Outcome:
        return await scim.patch_members(group_id, "remove", next(victims))

    latencies, errors = await sequential(op, min(reps, len(members)), budget)
    return {**_lat(latencies), "errors": errors}
