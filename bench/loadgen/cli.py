"""The load generator's options and run: start (or reach) the service, seed, run the scenarios, report."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import orjson

import bench.loadgen as package
from bench.loadgen import measure
from bench.loadgen.client import SCIM_JSON, Scim
from bench.loadgen.measure import CpuProbe, PhaseResult
from bench.loadgen.report import TARGET_CLIENTS, TARGET_CREATES_PER_S, print_ratios, print_table, ratios
from bench.loadgen.scenarios import scenario_creates, scenario_lookups, scenario_members
from bench.loadgen.seed import StoreSeeder, seed_over_http
from bench.loadgen.stack import StartedService


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=package.__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_argument_group("target")
    target.add_argument("--url", help="SCIM base URL of a running service (http://127.0.0.1:PORT/scim/v2/ORG)")
    target.add_argument("--token", help="owner token for --url")
    target.add_argument("--start", action="store_true",
                        help="start `scimgate run` in a fresh temp data dir (the default without --url)")
    target.add_argument("--database-url", default="",
                        help="with --start: SCIMGATE_DATABASE_URL for the service (a PostgreSQL URL gets a "
                             "fresh database on that server, dropped afterwards); with --url: the store "
                             "for the --scale fast seed path")
    target.add_argument("--no-fresh-db", action="store_true",
                        help="with --start and a PostgreSQL --database-url: use that database as is")
    target.add_argument("--redis-url", default="", help="with --start: SCIMGATE_REDIS_URL for the service "
                        "(a unique SCIMGATE_QUEUE / SCIMGATE_AUDIT_STREAM is set unless already in the env)")
    target.add_argument("--keep-data-dir", action="store_true", help="with --start: keep the temp data dir")
    load = p.add_argument_group("load")
    load.add_argument("--scenario", choices=("creates", "lookups", "members", "all"), default="all")
    load.add_argument("--clients", type=int, default=16, help="concurrent client coroutines (default 16)")
    bound = load.add_mutually_exclusive_group()
    bound.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario (default 10)")
    bound.add_argument("--requests", type=int, default=None, help="measured requests per scenario")
    load.add_argument("--warmup", type=float, default=1.0, help="unmeasured warm-up seconds (default 1)")
    load.add_argument("--seed", type=int, default=1000,
                      help="users created (concurrently, over HTTP) for lookups/members (default 1000); "
                           "members uses each once, so it stops early when they run out")
    load.add_argument("--seed-via", choices=("http", "store"), default="http",
                      help="create the --seed users over HTTP (default) or straight into the store")
    load.add_argument("--member-users", type=int, default=20_000,
                      help="members: distinct users to add, seeded straight into the store when the store "
                           "is reachable (--start, or --url with --database-url); default 20000")
    load.add_argument("--removes", type=float, default=0.0,
                      help="members: probability that a client removes the user it just added (default 0)")
    load.add_argument("--timeout", type=float, default=60.0, help="per-request client timeout, s (default 60)")
    load.add_argument("--random-seed", type=int, default=12345)
    scale = p.add_argument_group("scale")
    scale.add_argument("--scale", action="store_true",
                       help="compare lookups (and member adds) at small vs large tenant size")
    scale.add_argument("--scale-size", type=int, default=100_000,
                       help="users in the large tenant / members in the large Team (default 100000)")
    scale.add_argument("--scale-members", action="store_true",
                       help="with --scale: also compare member adds to an empty Team vs a --scale-size Team")
    scale.add_argument("--analyze", action="store_true",
                       help="with --scale: run ANALYZE on users and team_members after the bulk load, before "
                            "measuring the large tenant (without it the planner keeps the small tenant's stats "
                            "wherever autovacuum/auto-analyze is off or has not run yet)")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the results as JSON on stdout (table on stderr)")
    out.add_argument("--json-out", help="also write the JSON results to this file")
    args = p.parse_args(argv)
    if args.url and args.start:
        p.error("--url and --start are exclusive")
    if args.url:
        host = urlsplit(args.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            p.error("this bench only talks to 127.0.0.1")
        if not args.token:
            p.error("--url needs --token")
    if args.clients < 1:
        p.error("--clients must be at least 1")
    if not 0.0 <= args.removes <= 1.0:
        p.error("--removes is a probability")
    if args.scale and args.url and not args.database_url:
        p.error("--scale with --url needs --database-url (the service's store) for the fast seed path")
    if args.seed_via == "store" and args.url and not args.database_url:
        p.error("--seed-via store with --url needs --database-url")
    return args


async def bench(args, base_url: str, token: str, store_url: str, log) -> tuple[list[PhaseResult], dict]:
    org_id = base_url.rstrip("/").rsplit("/", 1)[-1]
    connector = aiohttp.TCPConnector(limit=args.clients + 4, limit_per_host=0, ttl_dns_cache=300)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON, "Accept": SCIM_JSON}
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    results: list[PhaseResult] = []
    info: dict = {"base_url": base_url}
    seeder = StoreSeeder(store_url, org_id, log) if store_url else None
    async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector,
                                     json_serialize=lambda o: orjson.dumps(o).decode()) as session:
        scim = Scim(session, base_url)
        wants = {args.scenario} if args.scenario != "all" else {"creates", "lookups", "members"}
        if "creates" in wants and not args.scale:
            results.append(await scenario_creates(scim, args, log))
        pool: list[tuple[str, str]] = []
        if "lookups" in wants or args.scale or ("members" in wants and seeder is None):
            names = [scim.next_user_name("seed") for _ in range(args.seed)]
            if args.seed_via == "store" or args.scale:
                pool = await asyncio.to_thread(seeder.seed_users, names)
            else:
                pool, seed_result = await seed_over_http(scim, args.seed, args.clients, log)
                info["seed"] = seed_result.summary()
        if args.scale:
            results.extend(await scale_check(scim, args, log, pool, seeder))
        else:
            if "lookups" in wants:
                results.append(await scenario_lookups(scim, args, log, pool))
            if "members" in wants:
                member_pool = pool
                if seeder is not None:
                    log(f"seeding {args.member_users} distinct users to add (store fast path)")
                    member_pool = await asyncio.to_thread(
                        seeder.seed_users, [scim.next_user_name("m") for _ in range(args.member_users)])
                results.append(await scenario_members(scim, args, log, member_pool))
    if seeder is not None:
        info["tenant_users_at_end"] = seeder.count_users()
        seeder.close()
    return results, info


async def scale_check(scim: Scim, args, log, pool, seeder: StoreSeeder) -> list[PhaseResult]:
    """Small tenant (the --seed users) first, then the same tenant grown to --scale-size users."""
    results = []
    small_users = seeder.count_users()
    result = await scenario_lookups(scim, args, log, pool, name="lookups@small")
    result.extra["tenant_users_sampled_from"] = small_users
    results.append(result)
    member_pool_size = args.member_users
    member_pools: list = []
    if args.scale_members:
        # Distinct users to add, seeded up front; they are part of the large tenant's count.
        member_pools = await asyncio.to_thread(
            seeder.seed_users, [scim.next_user_name("m") for _ in range(2 * member_pool_size)])
        result = await scenario_members(scim, args, log, member_pools[:member_pool_size], name="members@small")
        result.extra["initial_members"] = 0
        results.append(result)
    # The large tenant: at least --scale-size users besides the ones reserved to be added later.
    reserved = member_pool_size if args.scale_members else 0
    grow = max(0, args.scale_size - (seeder.count_users() - reserved))
    log(f"growing the tenant by {grow} users through the store")
    big_pool = await asyncio.to_thread(seeder.seed_users, [scim.next_user_name("big") for _ in range(grow)])
    large_users = seeder.count_users()
    if args.analyze:
        await asyncio.to_thread(seeder.analyze)
    result = await scenario_lookups(scim, args, log, pool + member_pools + big_pool, name="lookups@large")
    result.extra["tenant_users_sampled_from"] = large_users
    results.append(result)
    if args.scale_members:
        group_id = await scim.create_group(f"bench-{scim.run_id}-large-team")
        prefill = [user_id for user_id, _ in (big_pool + pool + member_pools[:member_pool_size])][: args.scale_size]
        await asyncio.to_thread(seeder.add_members, group_id, prefill)
        if args.analyze:
            await asyncio.to_thread(seeder.analyze)
        result = await scenario_members(scim, args, log, member_pools[member_pool_size:], name="members@large",
                                        group_id=group_id, initial_members=len(prefill), seeder=seeder)
        result.extra["initial_members"] = len(prefill)
        results.append(result)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    table_out = sys.stderr if args.json else sys.stdout

    def log(message: str) -> None:
        print(f"# {message}", file=sys.stderr, flush=True)

    service = None
    if args.url:
        base_url, token, store_url = args.url, args.token, args.database_url
    else:
        service = StartedService(args.database_url, args.redis_url, args.keep_data_dir, log,
                                 fresh_db=not args.no_fresh_db)
    try:
        if service is not None:
            service.start()
            base_url, token, store_url = service.base_url, service.token, service.store_url
            measure.CPU_PROBE = CpuProbe(service.pid)
        try:
            import uvloop  # noqa: F401 - same event loop as the service when available

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        results, info = runner(bench(args, base_url, token, store_url, log))
        excerpt = service.log_excerpt() if service is not None else []
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if service is not None:
            service.stop()
    rat = ratios(results, args)
    print_table(results, table_out)
    print(file=table_out)
    print_ratios(rat, table_out)
    print(f"(machine: {os.cpu_count()} cpus, load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())})",
          file=table_out)
    if "seed" in info:
        s = info["seed"]
        print(f"(seed: {s['successes']}/{s['requests']} users over HTTP at {s['success_rps']}/s, "
              f"errors {s['errors'] or 'none'})", file=table_out)
    bad = any(r.errors or any(("LOST" in n or "!=" in n) for n in r.notes) for r in results)
    if excerpt and bad:
        print("\nservice log (warnings/errors, last lines):", file=table_out)
        for line in excerpt:
            print(f"  {line[:400]}", file=table_out)
    document = {
        "machine": {"cpus": os.cpu_count(), "loadavg_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()]},
        "config": {k: v for k, v in vars(args).items() if k != "token"},
        "target": {"creates_per_s": TARGET_CREATES_PER_S, "clients": TARGET_CLIENTS},
        "service": {"base_url": info.get("base_url"), "started_by_bench": service is not None,
                    "database": "sqlite (embedded)" if not args.database_url else _redact(args.database_url),
                    "redis": "embedded" if not args.redis_url else args.redis_url},
        "results": [r.summary() for r in results],
        "ratios": rat,
        **({"seed": info["seed"]} if "seed" in info else {}),
        **({"tenant_users_at_end": info["tenant_users_at_end"]} if "tenant_users_at_end" in info else {}),
        **({"service_log_excerpt": excerpt} if excerpt and bad else {}),
    }
    payload = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    if args.json:
        print(payload)
    if args.json_out:
        Path(args.json_out).write_text(payload + "\n")
    return 0


def _redact(url: str) -> str:
    return re.sub(r"//([^:@/]+):[^@/]+@", r"//\1:***@", url)
