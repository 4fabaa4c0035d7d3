"""The one clock: naive UTC with microseconds, the same for the store's timestamps and the audit.

Services take a clock (``Callable[[], datetime]``) so tests can fix time; in production every
one of them is given this one (``infra.store.clock`` re-exports it for the store).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Callable

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
