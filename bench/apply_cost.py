"""The worker's cost per command, alone: ``BatchApplier.apply`` on batches of creates.

No HTTP, no Redis, no Celery: a fresh store (SQLite in a temp dir, or ``--database-url``), one
organization, then ``--batches`` batches of ``--size`` creates through the worker's own applier,
each batch forgetting the events of the one before (as the worker's relay does). Prints the CPU
time per command (``time.process_time``, steadier than wall time on a shared machine), the wall
time per command and the SQL statements per batch.

    .venv/bin/python -m bench.apply_cost --size 8 --batches 300
    .venv/bin/python -m bench.apply_cost --size 16 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from sqlalchemy import event

from domain import commands as c
from domain.commands import Actor
from infra.store.engine import make_sync_engine
from infra.store.tables import metadata
from tests.support.commands import make_command
from tests.support.seed import create_organization
from tests.support.stack import fresh_postgres_database
from worker.apply import BatchApplier

WARMUP_BATCHES = 20


def _user(n: int) -> dict:
    name = f"user{n}@example.com"
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "externalId": f"ext-{n}",
        "name": {"givenName": "Ada", "familyName": "Lovelace"}, "active": True,
        "emails": [{"value": name, "primary": True, "type": "work"}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8, help="creates per batch (8)")
    parser.add_argument("--batches", type=int, default=300, help="measured batches (300)")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (a fresh database on it)")
    args = parser.parse_args()

    drop = None
    if args.database_url:
        url, drop = fresh_postgres_database(args.database_url)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='scimgate-apply-')}/store.db"
    engine = make_sync_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            org_id = create_organization(conn, "Bench").id
        statements = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_args) -> None:
            statements[0] += 1

        applier = BatchApplier(engine)
        made = iter(range(1, 10**9))

        def batch() -> list:
            return [make_command(c.USER_CREATE, _user(next(made)), org_id=org_id, actor=Actor("tok", "bench", "okta"))
                    for _ in range(args.size)]

        forget: list = []
        for _ in range(WARMUP_BATCHES):
            _, forget = applier.apply(batch(), forget=forget)
        statements[0] = 0
        per_batch: list[float] = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(args.batches):
            commands = batch()
            started = time.process_time()
            decided, forget = applier.apply(commands, forget=forget)
            per_batch.append(time.process_time() - started)
            assert all(d.reply.status == 201 for d in decided), [d.reply.status for d in decided]
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        commands_done = args.batches * args.size
        print(f"{args.size} creates a batch, {args.batches} batches ({engine.dialect.name}): "
              f"CPU {cpu / commands_done * 1000:.3f} ms a command (median batch {statistics.median(per_batch) * 1000:.2f} ms), "
              f"wall {wall / commands_done * 1000:.3f} ms a command, {statements[0] / args.batches:.1f} statements a batch")
    finally:
        engine.dispose()
        if drop is not None:
            drop()


if __name__ == "__main__":
    main()
