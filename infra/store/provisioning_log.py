"""The provisioning log in SQL (table ``provisioning_log``): written, searched and pruned here.

**Written** by the outbox relay (``infra.store.outbox.forget_events``): in the transaction that
deletes an event's outbox row, its log entry is inserted with ``ON CONFLICT (event_id) DO
NOTHING`` (both backends), so a relay that dies before its delete commits, a redelivered batch or
two racing sweepers never lose or double an entry. Refusals, which the ingress publishes straight
to the stream, come from its bounded refusal feed (``worker.relay``, ``infra.redis.audit_stream``),
idempotently in the same way.

**Searched** with ``search(conn, query)`` (sync; ``search_async(engine, query)`` on the ingress's
async engine): newest first, keyset-paged on (time, seq), every filter served by an index that
starts with the organization (``infra.store.tables``): never OFFSET, never a count.

**Pruned** by ``prune`` in small batches by the time index (the worker's prune loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, or_, select, tuple_, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import events as ev
from domain.log_explain import suggested_fix, summary
from domain.provisioning_log import LogCursor, LogQuery, outcome_of
from infra.store.clock import utcnow
from infra.store.tables import provisioning_log as log_table

TEAM_TYPES = ("Group", "Team")
PRUNE_BATCH = 1000


def _cut(value, limit: int) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def _time(text) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).rstrip("Z"))
    except ValueError:
        return utcnow()
    return moment.replace(tzinfo=None)


def entry_fields(event: dict) -> dict:
    """The log row of one audit event (``AuditEvent.to_dict()``), every text bounded to its column."""
    detail = dict(event.get("detail") or {})
    outcome = outcome_of(event)
    error_detail = scim_type = None
    if outcome not in ("applied", "unchanged"):
        error_detail = detail.pop("detail", None) or detail.get("reason")
        scim_type = detail.pop("scimType", None)
    name = _cut(event.get("resource_name"), 512)
    values, old = event.get("values") or {}, event.get("old_values") or {}
    return {
        "event_id": str(event["event_id"]),
        "time": _time(event.get("time")),
        "org_id": _cut(event.get("org_id"), 64) or "",
        "idp": _cut(event.get("idp"), 32),
        "token_id": _cut(event.get("token_id"), 64),
        "request_id": _cut(event.get("request_id"), 128),
        "command_id": _cut(event.get("command_id"), 64),
        "action": _cut(event.get("action"), 64) or "",
        "outcome": outcome,
        "status": event.get("status") if isinstance(event.get("status"), int) else None,
        "scim_type": _cut(scim_type, 64),
        "error_detail": _cut(error_detail, 4096),
        "resource_type": _cut(event.get("resource_type"), 32),
        "resource_id": _cut(event.get("resource_id"), 64),
        "resource_name": name,
        "name_key": name.casefold()[:512] if name else None,
        "external_id": _cut(event.get("external_id"), 512),
        "changed": event.get("changed") or None,
        "changes": {"new": values, "old": old} if values or old else None,
        "detail": detail or None,
        "user_agent": _cut(event.get("user_agent"), 256),
        "queue_wait_ms": event.get("queue_wait_ms"),
        "apply_ms": event.get("apply_ms"),
        "batch_id": _cut(event.get("batch_id"), 64),
    }


# Built once per dialect (PostgreSQL's, SQLite's): an event logged already is left as it is.
_INSERT_NEW = {
    is_postgres: dialect.insert(log_table).on_conflict_do_nothing(index_elements=["event_id"])
    for is_postgres, dialect in ((True, postgresql), (False, sqlite))
}


def write_entries(conn: Connection, events: list[dict]) -> None:
    """Insert the log entries of ``events``; an event already logged is left as it is."""
    if not events:
        return
    rows = list({row["event_id"]: row for row in map(entry_fields, events)}.values())
    conn.execute(_INSERT_NEW[conn.dialect.name == "postgresql"], rows)


def entry_view(row) -> dict:
    """What the API, the CLI and the dashboard show of one entry (with its summary and fix)."""
    changes = row.changes or {}
    entry = {
        "id": row.event_id,
        "time": ev.format_time(row.time),
        "orgId": row.org_id,
        "action": row.action,
        "outcome": row.outcome,
        "status": row.status,
        "error": {"scimType": row.scim_type, "detail": row.error_detail} if row.error_detail or row.scim_type else None,
        "resource": {"type": row.resource_type, "id": row.resource_id, "name": row.resource_name,
                     "externalId": row.external_id},
        "changed": row.changed or [],
        "newValues": changes.get("new") or {},
        "oldValues": changes.get("old") or {},
        "idp": row.idp,
        "tokenId": row.token_id,
        "requestId": row.request_id,
        "commandId": row.command_id,
        "batchId": row.batch_id,
        "userAgent": row.user_agent,
        "queueWaitMs": row.queue_wait_ms,
        "applyMs": row.apply_ms,
        "detail": row.detail or {},
    }
    entry["summary"] = summary(entry)
    entry["suggestedFix"] = suggested_fix(entry)
    return entry


@dataclass(frozen=True)
class LogPage:
    entries: list[dict]
    next_cursor: str | None

    def to_dict(self) -> dict:
        return {"entries": self.entries, "next_cursor": self.next_cursor}


IDENTITY_COLUMNS = ("resource_id", "name_key", "external_id")


def _conditions(query: LogQuery, *, by_org_index: bool = True) -> list:
    """Every filter of ``query`` but ``user``/``team`` and the ids (those choose the index:
    ``_statement``). ``by_org_index`` False: the organization is compared in a way no index serves
    (``org_id || ''``), so the planner keeps to the index the caller chose."""
    t = log_table.c
    found = []
    if query.org_id is not None:
        found.append((t.org_id if by_org_index else t.org_id.concat("")) == query.org_id)
    for column, value in ((t.action, query.action), (t.outcome, query.outcome), (t.idp, query.idp)):
        if value:
            found.append(column == value)
    if query.since is not None:
        found.append(t.time >= query.since)
    if query.until is not None:
        found.append(t.time < query.until)
    if query.cursor is not None:
        found.append(tuple_(t.time, t.seq) < tuple_(query.cursor.time, query.cursor.seq))
    return found


def _identity(query: LogQuery) -> tuple[str, tuple[str, ...]] | None:
    if query.user:
        return query.user, ("User",)
    if query.team:
        return query.team, TEAM_TYPES
    return None


def _identity_matches(value: str, types: tuple[str, ...], name: str | None = None):
    t = log_table.c
    keys = {"resource_id": value, "name_key": value.casefold(), "external_id": value}
    if name is not None:
        return t.resource_type.in_(types) & (log_table.c[name] == keys[name])
    return t.resource_type.in_(types) & or_(*(log_table.c[column] == key for column, key in keys.items()))


def _newest(statement, limit: int):
    return statement.order_by(log_table.c.time.desc(), log_table.c.seq.desc()).limit(limit)


def _statement(query: LogQuery):
    """The page's query, shaped so that each kind of search has one index that serves it on both
    backends (SQLite's planner has no statistics to choose by):

    - a request or command id: the entries with that id by its own index, then the other filters;
    - a user or Team: the union of its three identities (id, name, externalId), each one page
      long from its index (organization, identity, time, seq);
    - anything else: the organization's index for the filter (organization, column, time, seq).
    """
    t = log_table.c
    limit = query.limit + 1
    identity = _identity(query)
    if query.request_id or query.command_id:
        column, value = (t.request_id, query.request_id) if query.request_id else (t.command_id, query.command_id)
        statement = select(log_table).where(t.seq.in_(select(t.seq).where(column == value)),
                                            *_conditions(query, by_org_index=False))
        for other, wanted in ((t.request_id, query.request_id), (t.command_id, query.command_id)):
            if wanted and other is not column:
                statement = statement.where(other == wanted)
        if identity:
            statement = statement.where(_identity_matches(*identity))
        return _newest(statement, limit)
    conditions = _conditions(query)
    if identity:
        branches = [
            select(_newest(select(t.seq).where(*conditions, _identity_matches(*identity, name)), limit).subquery().c.seq)
            for name in IDENTITY_COLUMNS
        ]
        return _newest(select(log_table).where(t.seq.in_(union(*branches))), limit)
    return _newest(select(log_table).where(*conditions), limit)


def search(conn: Connection, query: LogQuery) -> LogPage:
    """One page of the log, newest first, matching every filter of ``query`` (a ``LogQuery``
    from ``domain.provisioning_log.parse_query``); ``next_cursor`` is None on the last page."""
    rows = conn.execute(_statement(query)).all()
    shown = rows[: query.limit]
    more = len(rows) > query.limit
    cursor = LogCursor(shown[-1].time, shown[-1].seq).encode() if more and shown else None
    return LogPage([entry_view(row) for row in shown], cursor)


async def search_async(engine: AsyncEngine, query: LogQuery) -> LogPage:
    """``search`` on one of the ingress's async connections."""
    async with engine.connect() as conn:
        return await conn.run_sync(search, query)


def prune(conn: Connection, *, older_than: datetime, limit: int | None = None) -> int:
    """Delete up to ``limit`` (``PRUNE_BATCH``) of the oldest entries from before ``older_than``
    (by the time index)."""
    oldest = (
        select(log_table.c.seq).where(log_table.c.time < older_than)
        .order_by(log_table.c.time, log_table.c.seq).limit(limit or PRUNE_BATCH)
    )
    result = conn.execute(delete(log_table).where(log_table.c.seq.in_(oldest.scalar_subquery())))
    return int(result.rowcount or 0)
