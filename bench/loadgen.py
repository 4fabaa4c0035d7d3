"""Load generator for scimgate: measures throughput and latency, prints numbers and ratios.

Runs against a service that is already up (``--url BASE --token T``) or starts one itself
(``--start``, the default when no ``--url`` is given) in a fresh temporary data dir on a free port,
on the embedded default or on the ``--database-url`` / ``--redis-url`` given.

Scenarios (``--scenario``):

- ``creates``  concurrent ``POST /Users`` with unique userNames; a success is a 201.
- ``lookups``  concurrent ``GET /Users?filter=userName eq "<random seeded user>"``; a success is a
               200 whose ``totalResults`` is 1.
- ``members``  one Group, then concurrent ``PATCH /Groups/{id}`` adding distinct seeded users (and,
               with ``--removes``, removing some of them again); a success is a 204/200. Afterwards the
               Group is read back and its members are compared with what the 2xx answers promised.
- ``all``      creates, lookups, members.

``--scale`` runs the "cost grows with the change, not with the data" check: lookups (and member
adds) on a small tenant, then the same after seeding the tenant up to ``--scale-size`` users
directly into the store, and prints both and the ratio.

Every loop is bounded by a request count or a duration; only 127.0.0.1 is ever contacted.
This is a measuring tool: it prints numbers and ratios, never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"

# ARCHITECTURE.md, "Throughput": as many durable creates/s as the fastest in-memory SCIM server.
TARGET_CREATES_PER_S = 1200.0
TARGET_CLIENTS = 16

URL_LINE = re.compile(r"SCIM base URL:\s*(http://\S+/scim/v2/[a-z0-9]+)")
TOKEN_LINE = re.compile(r"Owner token:\s*(\S+)")


# -- measurement ---------------------------------------------------------------------------------


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(round(pct / 100.0 * len(sorted_values) + 0.4999999)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class PhaseResult:
    name: str
    clients: int
    requests: int = 0
    successes: int = 0
    errors: dict = field(default_factory=dict)  # status (or exception name) -> count
    elapsed_s: float = 0.0
    latencies_ms: list = field(default_factory=list)
    warmup_requests: int = 0
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)
        return {
            "name": self.name,
            "clients": self.clients,
            "requests": self.requests,
            "successes": self.successes,
            "errors": dict(sorted(self.errors.items(), key=lambda kv: str(kv[0]))),
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_rps": round(self.throughput, 1),
            "success_rps": round(self.success_rate, 1),
            "latency_ms": {
                "p50": _r(percentile(lat, 50)),
                "p90": _r(percentile(lat, 90)),
                "p99": _r(percentile(lat, 99)),
                "max": _r(lat[-1] if lat else None),
                "mean": _r(sum(lat) / len(lat) if lat else None),
            },
            "warmup_requests_excluded": self.warmup_requests,
            "notes": self.notes,
            **({"extra": self.extra} if self.extra else {}),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Outcome:
    """What one request produced: its status (int, or an exception name) and whether it counts."""

    __slots__ = ("status", "ok")

    def __init__(self, status, ok: bool):
        self.status = status
        self.ok = ok


async def run_phase(
    name: str,
    clients: int,
    op,
    *,
    duration: float | None,
    requests: int | None,
    warmup: float,
    log,
    should_stop=None,
) -> PhaseResult:
    """Run ``op(client_index)`` from ``clients`` coroutines: ``warmup`` seconds unmeasured, then
    ``requests`` requests or ``duration`` seconds measured. ``op`` returns an ``Outcome``; it may
    raise ``StopIteration``-like ``Exhausted`` to end a client early (a bounded pool ran dry)."""
    result = PhaseResult(name, clients)
    loop_clock = time.perf_counter
    start = loop_clock()
    measure_start = start + warmup
    measure_end = measure_start + duration if requests is None else None
    issued = 0  # measured requests started (for --requests)
    last_done = measure_start
    exhausted = False

    async def client(index: int) -> None:
        nonlocal issued, last_done, exhausted
        while True:
            now = loop_clock()
            measured = now >= measure_start
            if measured:
                if requests is not None:
                    if issued >= requests:
                        return
                    issued += 1
                elif now >= measure_end:
                    return
            if should_stop is not None and should_stop():
                return
            t0 = loop_clock()
            try:
                outcome = await op(index)
            except Exhausted:
                exhausted = True
                if measured and requests is not None:
                    issued -= 1
                return
            except asyncio.TimeoutError:
                outcome = Outcome("timeout", False)
            except aiohttp.ClientError as error:
                outcome = Outcome(type(error).__name__, False)
            t1 = loop_clock()
            if not measured:
                result.warmup_requests += 1
                continue
            result.requests += 1
            result.latencies_ms.append((t1 - t0) * 1000.0)
            if outcome.ok:
                result.successes += 1
            else:
                result.errors[outcome.status] = result.errors.get(outcome.status, 0) + 1
            if t1 > last_done:
                last_done = t1

    log(f"[{name}] {clients} clients, warm-up {warmup:g}s, then "
        + (f"{requests} requests" if requests is not None else f"{duration:g}s"))
    service_start = CPU_PROBE.snapshot() if CPU_PROBE else {}
    cpu_start, wall_start = time.process_time(), loop_clock()
    await asyncio.gather(*(client(i) for i in range(clients)))
    cpu, wall = time.process_time() - cpu_start, loop_clock() - wall_start
    if CPU_PROBE:
        service_end = CPU_PROBE.snapshot()
        result.extra["service_cpu_percent_of_one_core"] = {
            label: round(100.0 * (service_end[label] - service_start.get(label, 0.0)) / wall, 1)
            for label in sorted(service_end) if wall > 0
        }
    result.elapsed_s = max(0.0, last_done - measure_start)
    # The load generator shares the machine's cores with the service: say how much it used.
    result.extra["loadgen_cpu_percent_of_one_core"] = round(100.0 * cpu / wall, 1) if wall > 0 else None
    if exhausted:
        result.notes.append("stopped early: the pool of distinct seeded users ran out (raise --seed)")
    return result


class CpuProbe:
    """CPU seconds used so far by a started service's process tree (ingress, worker, embedded Redis),
    by role; empty without psutil. A shared PostgreSQL or Redis server is not in the tree."""

    def __init__(self, root_pid: int):
        self.root_pid = root_pid
        self._seen: dict = {}  # pid -> (label, last cpu seconds): exited children keep their last value

    @staticmethod
    def _label(cmdline: list[str]) -> str:
        text = " ".join(cmdline)
        if "redis-server" in text:
            return "redis"
        if " worker" in text:
            return "worker"
        if " run " in text or " serve" in text:
            return "ingress"
        return "other"

    def snapshot(self) -> dict:
        try:
            import psutil
        except ImportError:
            return {}
        try:
            root = psutil.Process(self.root_pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            procs = []
        for proc in procs:
            try:
                times = proc.cpu_times()
                label = self._seen.get(proc.pid, (None,))[0] or self._label(proc.cmdline())
                self._seen[proc.pid] = (label, times.user + times.system)
            except psutil.Error:
                continue
        totals: dict = {}
        for label, seconds in self._seen.values():
            totals[label] = totals.get(label, 0.0) + seconds
        return totals


CPU_PROBE: CpuProbe | None = None


class Exhausted(Exception):
    """A client's source of distinct work items ran out."""


# -- the service under test ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_admin_url(url: str) -> str:
    from infra.config import sync_database_url

    return sync_database_url(url)


class StartedService:
    """``scimgate run`` in a fresh temporary data dir on a free port; stopped with SIGTERM."""

    def __init__(self, database_url: str, redis_url: str, keep: bool, log, fresh_db: bool = True):
        self.log = log
        self.keep = keep
        self.data_dir = Path(tempfile.mkdtemp(prefix="scimgate-bench-"))
        self.port = free_port()
        self.database_url = database_url
        self.redis_url = redis_url
        self.fresh_db = fresh_db
        self._drop_db = None
        self.proc: subprocess.Popen | None = None
        self.base_url = ""
        self.token = ""
        self.log_path = self.data_dir / "service.log"

    @property
    def store_url(self) -> str:
        """The store's URL as the service uses it (for the fast seed path)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'scimgate.db'}"

    def _create_pg_database(self) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        base = _pg_admin_url(self.database_url)
        name = f"scimgate_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.database_url = make_url(base).set(database=name).render_as_string(hide_password=False)
        self.log(f"created PostgreSQL database {name}")

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
            self.log(f"dropped PostgreSQL database {name}")

        self._drop_db = drop

    def start(self, ready_timeout: float = 90.0) -> None:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if self.database_url and self.database_url.startswith("postgres") and self.fresh_db:
            self._create_pg_database()
        if self.database_url:
            env["SCIMGATE_DATABASE_URL"] = self.database_url
        else:
            env.pop("SCIMGATE_DATABASE_URL", None)
        if self.redis_url:
            env["SCIMGATE_REDIS_URL"] = self.redis_url
            # A shared Redis: keep this run's queue and audit stream to itself.
            suffix = uuid.uuid4().hex[:10]
            env.setdefault("SCIMGATE_QUEUE", f"scimgate.bench.{suffix}")
            env.setdefault("SCIMGATE_AUDIT_STREAM", f"scimgate:bench:audit:{suffix}")
            self.log(f"queue {env['SCIMGATE_QUEUE']}, audit stream {env['SCIMGATE_AUDIT_STREAM']}")
        else:
            env.pop("SCIMGATE_REDIS_URL", None)
        scimgate = shutil.which("scimgate") or str(Path(sys.executable).with_name("scimgate"))
        command = [scimgate, "run", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.log(f"starting: {' '.join(command)} (log: {self.log_path})")
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scimgate exited with {self.proc.returncode}; see {self.log_path}")
            text = self.log_path.read_text(errors="replace")
            url, token = URL_LINE.search(text), TOKEN_LINE.search(text)
            if url and token:
                self.base_url, self.token = url.group(1), token.group(1)
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"scimgate printed no SCIM URL and token in {ready_timeout:g}s; see {self.log_path}")
        root = f"http://127.0.0.1:{self.port}"
        import urllib.request

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scimgate exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{root}/readyz", timeout=2) as response:
                    if response.status == 200:
                        self.log(f"ready: {self.base_url}")
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"scimgate not ready in {ready_timeout:g}s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.log(f"scimgate did not exit {timeout:g}s after SIGTERM; killing its process group")
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        if self.proc is not None:
            self.log(f"scimgate exited with {self.proc.returncode}")
            self._log_file.close()
        if self._drop_db is not None:
            try:
                self._drop_db()
            except Exception as error:  # noqa: BLE001 - report, keep shutting down
                self.log(f"could not drop the bench database: {error}")
        if self.keep:
            self.log(f"kept data dir {self.data_dir}")
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_excerpt(self, max_lines: int = 40) -> list[str]:
        """The service log's warning/error lines (for the report when something went wrong)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        picked = [
            line for line in lines
            if re.search(r'"level":\s*"(warning|error|critical)"|Traceback|Error|WARNING|ERROR', line)
        ]
        return picked[-max_lines:]


# -- the SCIM client -----------------------------------------------------------------------------


class Scim:
    def __init__(self, session: aiohttp.ClientSession, base_url: str):
        self.session = session
        self.base = base_url.rstrip("/")
        self.run_id = uuid.uuid4().hex[:8]
        self._counter = 0

    def next_user_name(self, tag: str) -> str:
        self._counter += 1
        return f"bench-{self.run_id}-{tag}-{self._counter}@example.com"

    @staticmethod
    def user_body(user_name: str) -> bytes:
        given, family = user_name.split("@", 1)[0].rsplit("-", 1)
        return orjson.dumps({
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "name": {"givenName": given, "familyName": f"N{family}"},
            "emails": [{"value": user_name, "type": "work", "primary": True}],
            "active": True,
        })

    async def create_user(self, user_name: str) -> tuple[Outcome, str | None]:
        async with self.session.post(f"{self.base}/Users", data=self.user_body(user_name)) as response:
            body = await response.read()
            if response.status == 201:
                return Outcome(201, True), orjson.loads(body)["id"]
            return Outcome(response.status, False), None

    async def lookup(self, user_name: str) -> Outcome:
        flt = quote(f'userName eq "{user_name}"', safe="")
        async with self.session.get(f"{self.base}/Users?filter={flt}") as response:
            body = await response.read()
            if response.status != 200:
                return Outcome(response.status, False)
            total = orjson.loads(body).get("totalResults")
            return Outcome(200, True) if total == 1 else Outcome(f"200 totalResults={total}", False)

    async def create_group(self, display_name: str) -> str:
        body = orjson.dumps({"schemas": [GROUP_SCHEMA], "displayName": display_name})
        async with self.session.post(f"{self.base}/Groups", data=body) as response:
            text = await response.read()
            if response.status != 201:
                raise RuntimeError(f"POST /Groups answered {response.status}: {text[:300]!r}")
            return orjson.loads(text)["id"]

    async def patch_members(self, group_id: str, op: str, user_id: str) -> Outcome:
        if op == "add":
            operation = {"op": "add", "path": "members", "value": [{"value": user_id}]}
        else:
            operation = {"op": "remove", "path": f'members[value eq "{user_id}"]'}
        body = orjson.dumps({"schemas": [PATCH_SCHEMA], "Operations": [operation]})
        async with self.session.patch(f"{self.base}/Groups/{group_id}", data=body) as response:
            await response.read()
            return Outcome(response.status, response.status in (200, 204))

    async def group_member_ids(self, group_id: str) -> tuple[int, set[str] | None]:
        async with self.session.get(f"{self.base}/Groups/{group_id}") as response:
            body = await response.read()
            if response.status != 200:
                return response.status, None
            return 200, {member["value"] for member in orjson.loads(body).get("members", [])}


# -- seeding -----------------------------------------------------------------------------------


async def seed_over_http(scim: Scim, count: int, clients: int, log, tag: str = "seed") -> tuple[list, PhaseResult]:
    """Create ``count`` users concurrently over HTTP; returns [(id, userName)] of the 201s."""
    names = [scim.next_user_name(tag) for _ in range(count)]
    position = 0
    seeded: list[tuple[str, str]] = []

    async def op(_index: int) -> Outcome:
        nonlocal position
        if position >= len(names):
            raise Exhausted
        name = names[position]
        position += 1
        outcome, user_id = await scim.create_user(name)
        if user_id:
            seeded.append((user_id, name))
        return outcome

    result = await run_phase(f"seed {count} users (HTTP)", clients, op, duration=None, requests=count,
                             warmup=0.0, log=log)
    result.notes = [n for n in result.notes if "ran out" not in n]
    log(f"  seeded {len(seeded)}/{count} users over HTTP in {result.elapsed_s:.1f}s "
        f"({result.success_rate:.0f}/s)")
    return seeded, result


class StoreSeeder:
    """The fast path for large tenants: rows written straight into the store with the project's
    own table definitions and column layout (``infra.store.repositories.user_columns``)."""

    def __init__(self, store_url: str, org_id: str, log):
        from infra.store.engine import make_sync_engine

        self.engine = make_sync_engine(store_url)
        self.org_id = org_id
        self.log = log

    def close(self) -> None:
        self.engine.dispose()

    def seed_users(self, names: list[str], batch: int = 5000) -> list[tuple[str, str]]:
        from domain.provisioning import UserRecord
        from domain.resource import normalize
        from infra.store.clock import utcnow
        from infra.store.repositories import user_columns
        from infra.store.tables import users

        seeded: list[tuple[str, str]] = []
        started = time.perf_counter()
        for start in range(0, len(names), batch):
            now = utcnow()
            rows = []
            for name in names[start : start + batch]:
                document = normalize("User", orjson.loads(Scim.user_body(name))).document
                user_id = str(uuid.uuid4())
                rows.append(user_columns(UserRecord(user_id, self.org_id, document, 1, now, now)))
                seeded.append((user_id, name))
            with self.engine.begin() as conn:
                conn.execute(users.insert(), rows)
        elapsed = time.perf_counter() - started
        self.log(f"  seeded {len(names)} users into the store in {elapsed:.1f}s ({len(names) / max(elapsed, 1e-9):.0f}/s)")
        return seeded

    def add_members(self, team_id: str, user_ids: list[str], batch: int = 5000) -> None:
        from infra.store.clock import utcnow
        from infra.store.tables import team_members

        started = time.perf_counter()
        for start in range(0, len(user_ids), batch):
            now = utcnow()
            rows = [{"team_id": team_id, "user_id": uid, "org_id": self.org_id, "created_at": now}
                    for uid in user_ids[start : start + batch]]
            with self.engine.begin() as conn:
                conn.execute(team_members.insert(), rows)
        self.log(f"  added {len(user_ids)} members to Team {team_id} in the store in "
                 f"{time.perf_counter() - started:.1f}s")

    def analyze(self) -> None:
        """Refresh the planner's statistics, as a DBA would after a bulk load (``--analyze``)."""
        from sqlalchemy import text

        started = time.perf_counter()
        with self.engine.begin() as conn:
            for table in ("users", "team_members"):
                conn.execute(text(f"ANALYZE {table}"))
        self.log(f"  ANALYZE users, team_members in {time.perf_counter() - started:.1f}s")

    def count_members(self, team_id: str) -> int:
        from sqlalchemy import func, select

        from infra.store.tables import team_members

        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(team_members)
                                .where(team_members.c.team_id == team_id)).scalar_one()

    def count_users(self) -> int:
        from sqlalchemy import func, select

        from infra.store.tables import users

        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(users)
                                .where(users.c.org_id == self.org_id)).scalar_one()


# -- scenarios ---------------------------------------------------------------------------------


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


# -- reporting ---------------------------------------------------------------------------------


def _fmt(value, width: int, digits: int = 1) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:.{digits}f}".rjust(width)
    return str(value).rjust(width)


def print_table(results: list[PhaseResult], out) -> None:
    header = (f"{'phase':<34}{'clients':>8}{'requests':>10}{'ok':>9}{'errors':>8}{'req/s':>9}{'ok/s':>9}"
              f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'gen cpu%':>9}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for result in results:
        s = result.summary()
        lat = s["latency_ms"]
        print(f"{s['name'][:33]:<34}{s['clients']:>8}{s['requests']:>10}{s['successes']:>9}"
              f"{sum(s['errors'].values()):>8}{_fmt(s['throughput_rps'], 9)}{_fmt(s['success_rps'], 9)}"
              f"{_fmt(lat['p50'], 9)}{_fmt(lat['p90'], 9)}{_fmt(lat['p99'], 9)}{_fmt(lat['max'], 9)}"
              f"{_fmt(s.get('extra', {}).get('loadgen_cpu_percent_of_one_core'), 9, 0)}", file=out)
    for result in results:
        s = result.summary()
        if s["errors"]:
            detail = ", ".join(f"{status}: {count}" for status, count in s["errors"].items())
            print(f"  {s['name']}: errors by status: {detail}", file=out)
        for note in s["notes"]:
            print(f"  {s['name']}: {note}", file=out)
        cpu = s.get("extra", {}).get("service_cpu_percent_of_one_core")
        if cpu:
            print(f"  {s['name']}: service CPU (% of one core, 2 cores = 200%): "
                  + ", ".join(f"{label} {pct:.0f}%" for label, pct in cpu.items())
                  + f"; load generator {s['extra'].get('loadgen_cpu_percent_of_one_core', 0):.0f}%", file=out)
        if "extra" in s and s["name"].startswith("members"):
            e = s["extra"]
            print(f"  {s['name']}: adds 2xx {e['adds_acknowledged']}, removes 2xx {e['removes_acknowledged']}, "
                  f"expected members {e['expected_members']}, final members (GET /Groups) "
                  f"{e.get('final_member_count')}, acknowledged but missing {e.get('acknowledged_but_missing')}",
                  file=out)


def ratios(results: list[PhaseResult], args) -> dict:
    out: dict = {}
    by_name = {r.name: r for r in results}
    creates = by_name.get("creates")
    if creates is not None:
        out["creates_vs_target"] = {
            "successes_per_s": round(creates.success_rate, 1),
            "target_per_s": TARGET_CREATES_PER_S,
            "target_clients": TARGET_CLIENTS,
            "clients": creates.clients,
            "ratio": round(creates.success_rate / TARGET_CREATES_PER_S, 3),
        }
    members = by_name.get("members")
    if members is not None:
        out["member_changes_per_s"] = round(members.success_rate, 1)
    for small_name, large_name, key in (("lookups@small", "lookups@large", "scale_lookups"),
                                        ("members@small", "members@large", "scale_members")):
        small, large = by_name.get(small_name), by_name.get(large_name)
        if small is None or large is None:
            continue
        s_lat, l_lat = sorted(small.latencies_ms), sorted(large.latencies_ms)
        entry = {
            "small_size": small.extra.get("tenant_users_sampled_from", small.extra.get("initial_members")),
            "large_size": large.extra.get("tenant_users_sampled_from", large.extra.get("initial_members")),
        }
        for pct in (50, 90, 99):
            a, b = percentile(s_lat, pct), percentile(l_lat, pct)
            entry[f"p{pct}_ms"] = [_r(a), _r(b)]
            entry[f"p{pct}_ratio_large_over_small"] = round(b / a, 3) if a and b else None
        entry["ok_per_s"] = [round(small.success_rate, 1), round(large.success_rate, 1)]
        entry["throughput_ratio_large_over_small"] = (
            round(large.success_rate / small.success_rate, 3) if small.success_rate else None)
        out[key] = entry
    return out


def print_ratios(rat: dict, out) -> None:
    if "creates_vs_target" in rat:
        c = rat["creates_vs_target"]
        print(f"creates: {c['successes_per_s']:.0f}/s = {c['ratio']:.2f} × target "
              f"({c['target_per_s']:.0f} durable creates/s with {c['target_clients']} clients; "
              f"measured with {c['clients']})", file=out)
    if "member_changes_per_s" in rat:
        print(f"members: {rat['member_changes_per_s']:.0f} member changes/s", file=out)
    for key, label, unit in (("scale_lookups", "lookup", "users in the tenant"),
                             ("scale_members", "member add", "members in the Team")):
        if key not in rat:
            continue
        e = rat[key]
        print(f"scale ({label}): {e['small_size']} vs {e['large_size']} {unit}: "
              f"p50 {e['p50_ms'][0]} → {e['p50_ms'][1]} ms (× {e['p50_ratio_large_over_small']}), "
              f"p99 {e['p99_ms'][0]} → {e['p99_ms'][1]} ms (× {e['p99_ratio_large_over_small']}), "
              f"{e['ok_per_s'][0]}/s → {e['ok_per_s'][1]}/s (× {e['throughput_ratio_large_over_small']}); "
              f"1.00 = cost independent of the data", file=out)


# -- main --------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
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
            global CPU_PROBE
            CPU_PROBE = CpuProbe(service.proc.pid)
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


if __name__ == "__main__":
    sys.exit(main())
