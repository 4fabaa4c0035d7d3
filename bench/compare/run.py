"""The side-by-side run: scimgate and scim2-server started together, the same workloads against
each in turn (scimgate first, then the peer, workload by workload, so both see the same machine
load), at each tenant size, then the Team workloads at each Team size; JSON to ``bench/results/``
and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

from bench.compare import report, workloads
from bench.compare.servers import Server, start_peer, start_scimgate
from bench.loadgen import measure
from bench.loadgen.client import Scim

RESULTS = Path(__file__).resolve().parents[1] / "results"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,100000", help="tenant sizes, users (default 1000,100000)")
    p.add_argument("--team-sizes", default="5000,100000", help="Team sizes, members (default 5000,100000)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients for throughput workloads (16)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per throughput workload (10)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each (1)")
    p.add_argument("--reps", type=int, default=20, help="requests per latency workload, at most (20)")
    p.add_argument("--budget", type=float, default=15.0,
                   help="seconds per latency workload at most (15; at least one request is sent)")
    p.add_argument("--read-budget", type=float, default=30.0,
                   help="seconds per full read at most (30); an unfinished read is extrapolated")
    p.add_argument("--database-url", default="", help="scimgate on PostgreSQL (a fresh database on that server)")
    p.add_argument("--redis-url", default="", help="scimgate on this Redis (its own queue and stream names)")
    p.add_argument("--analyze", action="store_true",
                   help="ANALYZE scimgate's users and team_members after each bulk seed (as autovacuum "
                        "would; the machine's PostgreSQL runs with autovacuum off)")
    p.add_argument("--only", choices=("both", "scimgate", "scim2-server"), default="both")
    p.add_argument("--json-out", type=Path, help="where to write the JSON (default bench/results/compare-….json)")
    args = p.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    args.team_sizes = sorted(int(s) for s in args.team_sizes.split(",") if s)
    return args


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


class Harness:
    """The servers, one aiohttp session each (same pool size, same client), and the figures."""

    def __init__(self, args, servers: list[Server], out: Path, started: float, argv: list[str]):
        self.args = args
        self.servers = servers
        self.out = out
        self.started = started
        self.argv = argv
        self.run_id = uuid.uuid4().hex[:8]
        self.figures: dict = {"sizes": {}, "teams": {}, "memory": {}}
        self.sessions: dict = {}
        self.clients: dict = {}

    def scim(self, server: Server) -> Scim:
        """The server's one client (one name counter: every user created in the run is new)."""
        if server.name not in self.clients:
            self.clients[server.name] = Scim(self.sessions[server.name], server.base_url)
            self.clients[server.name].run_id = self.run_id
        return self.clients[server.name]

    def record(self, section: str, key, workload: str, server: Server, figures: dict) -> None:
        self.figures[section].setdefault(str(key), {}).setdefault(workload, {})[server.name] = figures

    async def each(self, section: str, key, workload: str, measure_one) -> None:
        """``measure_one(server, scim)`` for each server in turn, with that server's CPU probe."""
        for server in self.servers:
            measure.CPU_PROBE = server.probe
            log(f"[{key}] {workload}: {server.name}")
            self.record(section, key, workload, server, await measure_one(server, self.scim(server)))
        measure.CPU_PROBE = None

    def save(self, finished: bool) -> dict:
        """The JSON document so far, written to ``out`` (after each size, and at the end)."""
        document = {
            "command": " ".join(["python -m bench.compare", *self.argv]),
            "finished": finished,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "minutes": round((time.time() - self.started) / 60, 1),
            "machine": {"cpus": os.cpu_count(), "loadavg_1_5_15_now": [round(x, 2) for x in os.getloadavg()]},
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()},
            "servers": {s.name: s.durable for s in self.servers},
            **self.figures,
        }
        document["cost_vs_data"] = report.cost_vs_data(document)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
                            + "\n")
        return document

    async def grow(self, server: Server, size: int) -> None:
        """Seed users straight into the server's storage until it holds ``size`` seeded users."""
        missing = size - len(server.users)
        if missing > 0:
            names = [f"bench-{self.run_id}-u-{i}@example.com" for i in range(len(server.users), size)]
            server.users.extend(await asyncio.to_thread(server.seeder.seed_users, names))
            await self.analyze(server)

    async def analyze(self, server: Server) -> None:
        if self.args.analyze and hasattr(server.seeder, "analyze"):
            await asyncio.to_thread(server.seeder.analyze)

    async def run(self) -> None:
        a = self.args
        connector_args = dict(limit=a.clients + 4, limit_per_host=0)
        for server in self.servers:
            self.sessions[server.name] = aiohttp.ClientSession(
                headers=server.headers, timeout=aiohttp.ClientTimeout(total=max(120.0, a.read_budget)),
                connector=aiohttp.TCPConnector(**connector_args))
        try:
            for size in a.sizes:
                await self.at_size(size)
                self.save(False)
            for team_size in a.team_sizes:
                await self.at_team_size(team_size)
                self.save(False)
        finally:
            for session in self.sessions.values():
                await session.close()

    async def at_size(self, size: int) -> None:
        a = self.args
        for server in self.servers:
            log(f"growing {server.name} to {size} seeded users")
            await self.grow(server, size)
        names = [name for _, name in self.servers[0].users[:size]]
        await self.each("sizes", size, "lookups", lambda s, scim: workloads.lookups(
            scim, names, a.clients, a.duration, a.warmup, log))
        for where, start in (("start", 1), ("middle", size // 2), ("end", max(1, size - 99))):
            await self.each("sizes", size, f"page at {where}", lambda s, scim, start=start: workloads.page_at(
                scim, start, a.reps, a.budget))
        await self.each("sizes", size, "full read by index", lambda s, scim: workloads.full_read(
            scim, a.read_budget, cursor=False, known_total=size))
        for server in self.servers:
            if server.name == "scimgate":
                measure.CPU_PROBE = server.probe
                self.record("sizes", size, "full read by cursor", server, await workloads.full_read(
                    self.scim(server), a.read_budget, cursor=True, known_total=size))
            else:
                self.record("sizes", size, "full read by cursor", server,
                            {"unsupported": "no cursor paging in its default configuration (answers 501)"})
        await self.each("sizes", size, "creates", lambda s, scim: workloads.creates(
            scim, a.clients, a.duration, a.warmup, log))
        await self.each("sizes", size, "entra first cycle", lambda s, scim: workloads.entra_first_cycle(
            scim, a.clients, a.duration, a.warmup, log))
        for server in self.servers:
            self.figures["memory"].setdefault(str(size), {})[server.name] = server.probe.memory_mb()

    async def at_team_size(self, team_size: int) -> None:
        """A Team prefilled with ``team_size`` members (straight into the storage), then adds of 100
        users not in it and removes of members by valuePath."""
        a = self.args
        add_pool = 100 * a.reps
        groups: dict = {}
        for server in self.servers:
            # The first users become members; the next ones are added; all are seeded users.
            await self.grow(server, max(len(server.users), team_size + add_pool))
            groups[server.name] = await self.scim(server).create_group(f"bench-{self.run_id}-team-{team_size}")
            members = [uid for uid, _ in server.users[:team_size]]
            log(f"{server.name}: {team_size} members into Team {groups[server.name]}")
            await asyncio.to_thread(server.seeder.add_members, groups[server.name], members)
            await self.analyze(server)
        await self.each("teams", team_size, "add 100 members", lambda s, scim: workloads.member_adds(
            scim, groups[s.name], [uid for uid, _ in s.users[team_size : team_size + add_pool]], a.reps, a.budget))
        await self.each("teams", team_size, "remove one member", lambda s, scim: workloads.member_removes(
            scim, groups[s.name], [uid for uid, _ in s.users[:team_size]], a.reps, a.budget))


def main(argv=None) -> int:
    args = parse_args(argv)
    servers: list[Server] = []
    started = time.time()
    out = args.json_out or RESULTS / f"compare-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(started))}.json"
    harness = Harness(args, servers, out, started, argv if argv is not None else sys.argv[1:])
    finished = False
    try:
        if args.only in ("both", "scimgate"):
            servers.append(start_scimgate(args.database_url, args.redis_url, log))
        if args.only in ("both", "scim2-server"):
            servers.append(start_peer(log))
        asyncio.run(harness.run())
        finished = True
    finally:
        for server in servers:
            server.stop()
        document = harness.save(finished)  # what was measured, also when the run broke off
        print(report.markdown(document))
        log(f"JSON: {out}" + ("" if finished else " (unfinished run)"))
    return 0
