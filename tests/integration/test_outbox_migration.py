"""Migration 0004: outbox rows written before it get an event id of their own, in the column and
in the event they carry."""

from __future__ import annotations

import uuid

import orjson
from alembic import command
from sqlalchemy import text

from infra.store.engine import make_sync_engine
from infra.store.migrate import alembic_config, upgrade


def test_rows_waiting_in_the_outbox_get_unique_event_ids(empty_database_url):
    url = empty_database_url
    engine = None
    try:
        command.upgrade(alembic_config(url), "0003")
        engine = make_sync_engine(url)
        with engine.begin() as conn:
            for i in range(3):
                conn.execute(
                    text("INSERT INTO audit_outbox (event, created_at) VALUES (:event, CURRENT_TIMESTAMP)"),
                    {"event": orjson.dumps({"action": "scim:user:create", "n": i}).decode()},
                )
        upgrade(url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT event_id, event FROM audit_outbox ORDER BY seq")).all()
        assert [orjson.loads(row.event)["n"] for row in rows] == [0, 1, 2]
        assert all(orjson.loads(row.event)["event_id"] == row.event_id for row in rows)
        assert len({uuid.UUID(row.event_id) for row in rows}) == 3
    finally:
        if engine is not None:
            engine.dispose()
