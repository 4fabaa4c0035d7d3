"""The command ledger (``processed_commands``): one row per decided command, on a sync Connection.

The ledger row is the fence of ARCHITECTURE.md §1–2: whoever inserts a command id first decides
it. A worker inserts it in the same transaction as the change; an ingress whose request timed out
inserts an ``expired`` row, so a worker that commits later fails on the key and applies nothing.
Rows are written through the unit of work (``infra.store.unit_of_work``: a decision goes in only
with its audit event); this module holds their SQL. The audit outbox is ``infra.store.outbox``.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, delete, select

from domain.commands import Command, Reply
from infra.store.clock import utcnow
from infra.store.tables import processed_commands

_INSERT_DECISION = processed_commands.insert()

APPLIED = "applied"
REJECTED = "rejected"
EXPIRED = "expired"


def decided_reply(conn: Connection, command_id: str) -> tuple[str, Reply] | None:
    row = conn.execute(
        select(processed_commands.c.outcome, processed_commands.c.reply).where(
            processed_commands.c.command_id == command_id
        )
    ).first()
    if row is None:
        return None
    return row.outcome, Reply.from_wire(orjson.loads(row.reply))


def decided_replies(conn: Connection, command_ids: list[str]) -> dict[str, tuple[str, Reply]]:
    """The recorded decisions among ``command_ids`` (one query for a whole batch)."""
    if not command_ids:
        return {}
    rows = conn.execute(
        select(processed_commands.c.command_id, processed_commands.c.outcome, processed_commands.c.reply).where(
            processed_commands.c.command_id.in_(command_ids)
        )
    )
    return {row.command_id: (row.outcome, Reply.from_wire(orjson.loads(row.reply))) for row in rows}


def ledger_row(command: Command, outcome: str, reply: Reply) -> dict:
    return {
        "command_id": command.id,
        "org_id": command.org_id,
        "kind": command.kind,
        "outcome": outcome,
        "reply": orjson.dumps(reply.to_wire()).decode(),
        "created_at": utcnow(),
    }


def prune_decisions(conn: Connection, *, older_than, limit: int = 5000) -> int:
    """Forget decisions older than ``older_than`` (at most ``limit`` of them); returns how many.

    A decision is needed only while its command can still arrive: redelivery (the broker's
    visibility timeout) and the ingress's fence (deadline + margin) both end within minutes.
    """
    oldest = (
        select(processed_commands.c.command_id)
        .where(processed_commands.c.created_at < older_than)
        .order_by(processed_commands.c.created_at)
        .limit(limit)
    )
    ids = [row.command_id for row in conn.execute(oldest)]
    if ids:
        conn.execute(delete(processed_commands).where(processed_commands.c.command_id.in_(ids)))
    return len(ids)


def record_decision(conn: Connection, command: Command, outcome: str, reply: Reply) -> None:
    conn.execute(_INSERT_DECISION, ledger_row(command, outcome, reply))


def record_decisions(conn: Connection, rows: list[dict]) -> None:
    """``ledger_row``s, in one statement (``IntegrityError`` if any command is decided already)."""
    conn.execute(_INSERT_DECISION, rows)
