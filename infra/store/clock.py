"""The store's notion of now: naive UTC, microsecond precision, the same on every backend.

It is the domain's one clock (``domain.clock``): the store's timestamps and the audit events'
times come from the same place.
"""

from __future__ import annotations

from domain.clock import utcnow

__all__ = ["utcnow"]
