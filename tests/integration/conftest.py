"""Fixtures of the integration tests: a Redis (the one under test, or an embedded one of its own),
and an empty database to migrate (a SQLite file, or a fresh PostgreSQL database, dropped after)."""

from __future__ import annotations

import pytest

from infra.redis.embedded import EmbeddedRedis
from tests.support.stack import TEST_DATABASE_URL, TEST_REDIS_URL, fresh_postgres_database


@pytest.fixture
def redis_url(tmp_path):
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    server = EmbeddedRedis(tmp_path / "redis", persistent=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def empty_database_url(tmp_path):
    if TEST_DATABASE_URL.startswith("postgresql"):
        url, drop = fresh_postgres_database(TEST_DATABASE_URL)
    else:
        url, drop = f"sqlite:///{tmp_path / 'migrated.db'}", None
    try:
        yield url
    finally:
        if drop is not None:
            drop()
