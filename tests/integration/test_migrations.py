"""The Alembic migrations build exactly the tables the code declares, on the backend under test."""

from __future__ import annotations

from alembic import command

from infra.store.migrate import alembic_config, upgrade
from tests.support.stack import TEST_DATABASE_URL, fresh_postgres_database


def test_migrations_match_the_table_definitions(tmp_path):
    if TEST_DATABASE_URL.startswith("postgresql"):
        url, drop = fresh_postgres_database(TEST_DATABASE_URL)
    else:
        url, drop = f"sqlite:///{tmp_path / 'migrated.db'}", None
    try:
        upgrade(url)
        upgrade(url)  # idempotent: a second run finds nothing to do
        command.check(alembic_config(url))  # raises if the tables and the migrations differ
    finally:
        if drop:
            drop()
