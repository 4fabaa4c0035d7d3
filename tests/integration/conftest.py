"""Fixtures of the integration tests: a Redis (the one under test, or an embedded one of its own)."""

from __future__ import annotations

import pytest

from infra.redis.embedded import EmbeddedRedis
from tests.support.stack import TEST_REDIS_URL


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
