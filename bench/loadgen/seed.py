"""Seeding users: concurrently over HTTP, or straight into the store (the fast path for large tenants)."""

from __future__ import annotations

import time
import uuid

from bench.loadgen.client import Scim
from bench.loadgen.measure import Exhausted, Outcome, PhaseResult, run_phase


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
        from infra.store import counts
        from infra.store.repositories import user_columns
        from infra.store.tables import users

        seeded: list[tuple[str, str]] = []
        started = time.perf_counter()
        for start in range(0, len(names), batch):
            now = utcnow()
            rows = []
            for name in names[start : start + batch]:
                document = normalize("User", Scim.user_document(name)).document
                user_id = str(uuid.uuid4())
                rows.append(user_columns(UserRecord(user_id, self.org_id, document, 1, now, now)))
                seeded.append((user_id, name))
            with self.engine.begin() as conn:
                conn.execute(users.insert(), rows)
                counts.adjust(conn, self.org_id, "User", len(rows))  # what the writers keep: listing totals
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
            for table in ("users", "team_members", "resource_counts"):
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
