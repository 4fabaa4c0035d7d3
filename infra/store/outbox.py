"""The audit outbox (``audit_outbox``): events written in their change's transaction, then relayed.

Rows are appended through the unit of work (``infra.store.unit_of_work``), in the transaction of
the change they describe; the worker relays them to the Redis Stream after commit and deletes
them (``forget_events``), and its sweeper relays whatever a crash left behind (``pending_events``).
Forgetting an event writes its provisioning-log entry in the same transaction
(``infra.store.provisioning_log``, idempotent on ``event_id``), so the log holds every relayed
event once, whatever dies when.
``seq`` only orders and addresses rows; each event carries its own globally unique ``event_id``.
"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, delete, select

from infra.store import provisioning_log
from infra.store.clock import utcnow
from infra.store.tables import audit_outbox


_APPEND = audit_outbox.insert().returning(audit_outbox.c.seq, audit_outbox.c.event_id)


def outbox_row(event: dict, now) -> dict:
    """The outbox row of an event (``AuditEvent.to_dict()``): its own ``event_id`` in a unique column."""
    event_id = event.get("event_id")
    if not event_id:
        raise ValueError("an audit event gets its event_id when it is created (domain.events.AuditEvent)")
    return {"event_id": event_id, "event": orjson.dumps(event).decode(), "created_at": now}


def append_events(conn: Connection, events: list[dict]) -> list[tuple[int, dict]]:
    """Write events to the outbox; returns them with their row numbers (to delete them by), in order."""
    if not events:
        return []
    now = utcnow()
    # Unordered RETURNING, matched by event_id: one multi-row INSERT (an ordered one is a statement
    # per row on SQLite).
    result = conn.execute(_APPEND, [outbox_row(event, now) for event in events])
    seqs = {row.event_id: row.seq for row in result}
    return [(seqs[event["event_id"]], event) for event in events]


def pending_events(
    conn: Connection, *, seqs: list[int] | None = None, older_than=None, limit: int = 500
) -> list[tuple[int, dict]]:
    """Outbox events to relay: the given ``seqs``, or the oldest ones (written before ``older_than``)."""
    query = (
        select(audit_outbox.c.seq, audit_outbox.c.event_id, audit_outbox.c.event)
        .order_by(audit_outbox.c.seq).limit(limit)
    )
    if seqs is not None:
        query = query.where(audit_outbox.c.seq.in_(seqs))
    if older_than is not None:
        query = query.where(audit_outbox.c.created_at < older_than)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [(row.seq, {**orjson.loads(row.event), "event_id": row.event_id}) for row in conn.execute(query)]


def forget_events(conn: Connection, events: list[tuple[int, dict]]) -> None:
    """Relayed ``(seq, event)``s: their log entries written, their outbox rows deleted (one transaction)."""
    if events:
        provisioning_log.write_entries(conn, [event for _seq, event in events])
        conn.execute(delete(audit_outbox).where(audit_outbox.c.seq.in_([seq for seq, _event in events])))
