"""The load generator's scenarios: creates, lookups, member changes (checked against a read-back)."""

from __future__ import annotations

import asyncio
import random
import uuid

import aiohttp

from bench.loadgen.client import Scim
from bench.loadgen.measure import Exhausted, Outcome, PhaseResult, run_phase


async def scenario_creates(scim: Scim, args, log) -> PhaseResult:
    async def op(_index: int) -> Outcome:
        outcome, _ = await scim.create_user(scim.next_user_name("c"))
        return outcome

    return await run_phase("creates", args.clients, op, duration=args.duration, requests=args.requests,
                           warmup=args.warmup, log=log)


async def scenario_lookups(scim: Scim, args, log, pool: list[tuple[str, str]], name: str = "lookups") -> PhaseResult:
    rng = random.Random(args.random_seed)
    names = [user_name for _, user_name in pool]

    async def op(_index: int) -> Outcome:
        return await scim.lookup(rng.choice(names))

    result = await run_phase(name, args.clients, op, duration=args.duration, requests=args.requests,
                             warmup=args.warmup, log=log)
    result.extra["tenant_users_sampled_from"] = len(names)
    return result


async def scenario_members(scim: Scim, args, log, pool: list[tuple[str, str]], name: str = "members",
                           group_id: str | None = None, initial_members: int = 0, seeder=None) -> PhaseResult:
    """PATCH add-member of distinct users (each user used once); with ``--removes P`` a client
    removes the user it just added with probability P. Then compares the Group's members with the
    set the 2xx answers imply."""
    if group_id is None:
        group_id = await scim.create_group(f"bench-{scim.run_id}-{name}-{uuid.uuid4().hex[:6]}")
    rng = random.Random(args.random_seed)
    ids = [user_id for user_id, _ in pool]
    position = 0
    acknowledged_in: set[str] = set()  # users whose add (and not a later remove) was answered 2xx
    uncertain: set[str] = set()  # a non-2xx or a timeout: the change may or may not have landed
    adds_ok = removes_ok = 0
    pending_remove: dict[int, str] = {}

    async def op(index: int) -> Outcome:
        nonlocal position, adds_ok, removes_ok
        user_id = pending_remove.pop(index, None)
        if user_id is not None:
            try:
                outcome = await scim.patch_members(group_id, "remove", user_id)
            except (asyncio.TimeoutError, aiohttp.ClientError):
                acknowledged_in.discard(user_id)
                uncertain.add(user_id)
                raise
            if outcome.ok:
                removes_ok += 1
                acknowledged_in.discard(user_id)
            else:
                acknowledged_in.discard(user_id)
                uncertain.add(user_id)
            return outcome
        if position >= len(ids):
            raise Exhausted
        user_id = ids[position]
        position += 1
        try:
            outcome = await scim.patch_members(group_id, "add", user_id)
        except (asyncio.TimeoutError, aiohttp.ClientError):
            uncertain.add(user_id)
            raise
        if outcome.ok:
            adds_ok += 1
            acknowledged_in.add(user_id)
            if args.removes > 0 and rng.random() < args.removes:
                pending_remove[index] = user_id
        else:
            uncertain.add(user_id)
        return outcome

    result = await run_phase(name, args.clients, op, duration=args.duration, requests=args.requests,
                             warmup=args.warmup, log=log)
    # Removes still owed when the phase ended are simply not sent; their users stay members.
    status, members = await scim.group_member_ids(group_id)
    expected = len(acknowledged_in) + initial_members
    extra = {
        "group_id": group_id,
        "adds_acknowledged": adds_ok,
        "removes_acknowledged": removes_ok,
        "expected_members": expected,
        "uncertain_changes": len(uncertain),
    }
    if members is None:
        extra["final_member_count"] = None
        result.notes.append(f"GET /Groups/{group_id} answered {status}")
        if seeder is not None:
            extra["final_member_count_store"] = seeder.count_members(group_id)
    else:
        missing = acknowledged_in - members
        unexpected = (members - acknowledged_in - uncertain) if not initial_members else set()
        extra["final_member_count"] = len(members)
        extra["acknowledged_but_missing"] = len(missing)
        if not initial_members:
            extra["present_but_never_acknowledged"] = len(unexpected)
        if missing:
            result.notes.append(f"LOST: {len(missing)} member changes answered 2xx are not in the Group "
                                f"(e.g. {sorted(missing)[:3]})")
        if len(members) != expected and not missing:
            result.notes.append(f"member count {len(members)} != expected {expected} "
                                f"({len(uncertain)} changes had a non-2xx/timeout answer)")
    result.extra.update(extra)
    return result
