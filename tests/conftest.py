"""Shared fixtures: a fresh, migrated-by-metadata store on the backend under test.

The backend is SQLite in a temporary directory unless ``SCIMGATE_TEST_DATABASE_URL`` names a
PostgreSQL database (``postgresql+psycopg://postgres@127.0.0.1:5432/test``); then each fixture
instance gets a schema of its own in that database, dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from infra.store.engine import make_sync_engine
from infra.store.tables import metadata

TEST_DATABASE_URL = os.environ.get("SCIMGATE_TEST_DATABASE_URL", "")


def _postgres_schema_engine(url: str, schema: str):
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    return engine


@pytest.fixture
def sync_engine(tmp_path):
    """A SQLAlchemy (sync) engine on an empty store with every table created."""
    if TEST_DATABASE_URL.startswith("postgresql"):
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(TEST_DATABASE_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = _postgres_schema_engine(TEST_DATABASE_URL, schema)
        engine.test_schema = schema  # for tests that also need an async engine on the same schema
        metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    else:
        # The production engine: WAL, foreign keys, and transactions SQLite's savepoints rely on.
        engine = make_sync_engine(f"sqlite:///{tmp_path / 'store.db'}")
        metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()
