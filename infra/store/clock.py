"""The store's notion of now: naive UTC, microsecond precision, the same on every backend."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
