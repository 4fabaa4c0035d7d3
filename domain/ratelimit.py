"""Request budgets: token buckets, kept per key in a bounded LRU, and the tally of throttled refusals.

Pure: the time comes from an injected clock (seconds, monotonic), nothing here does I/O.

A ``Budget`` refills ``rate`` tokens per second up to ``burst``; a request takes one token, or
is told how long until one is there. A rate of 0 means no limit. ``Buckets`` keeps one bucket per
key (an organization, a source address) and forgets the least recently used past ``capacity``,
so memory stays bounded whatever the number of keys; a forgotten key starts again with a full
bucket, which only ever errs on the lenient side.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

DEFAULT_CAPACITY = 50_000


@dataclass(frozen=True)
class Budget:
    rate: float  # tokens per second; 0 (or less): no limit
    burst: float  # the most tokens a bucket holds

    @property
    def off(self) -> bool:
        return self.rate <= 0

    @property
    def size(self) -> float:
        return max(1.0, self.burst)


@dataclass
class TokenBucket:
    budget: Budget
    tokens: float
    updated: float

    @classmethod
    def full(cls, budget: Budget, now: float) -> "TokenBucket":
        return cls(budget, budget.size, now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.budget.size, self.tokens + (now - self.updated) * self.budget.rate)
            self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """0.0 if ``cost`` tokens were taken; otherwise the seconds until they are there (none taken)."""
        if self.budget.off:
            return 0.0
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (min(cost, self.budget.size) - self.tokens) / self.budget.rate


def retry_after(wait: float) -> int:
    """``Retry-After`` in whole seconds, at least 1."""
    return max(1, math.ceil(wait))


class Buckets:
    """One token bucket per key, at most ``capacity`` of them (least recently used forgotten first)."""

    def __init__(self, budget: Budget, *, clock: Callable[[], float], capacity: int = DEFAULT_CAPACITY):
        self.budget = budget
        self.clock = clock
        self.capacity = max(1, capacity)
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, cost: float = 1.0) -> float:
        """0.0 if the request may go ahead; otherwise the seconds until ``key`` has a token again."""
        if self.budget.off:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket.full(self.budget, now)
            if len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now, cost)


def source_key(address: str | None) -> str:
    """What a source address is limited by: the IPv4 address, or the /64 an IPv6 address is in
    (one host can pick any address of its /64, so a per-address key would not bound it)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# -- throttled refusals: one summary per source and interval --------------------------------------

MAX_LISTED_ORGS = 5
OTHER_SOURCES = "*"  # where sources are counted once ``capacity`` windows are open


@dataclass
class RefusalWindow:
    """The refused requests of one source answered 429 (not audited one by one) since ``opened``."""

    source: str
    opened: float
    count: int = 0
    org_ids: list[str] = field(default_factory=list)  # the first few distinct ones

    def note(self, org_id: str | None) -> None:
        self.count += 1
        if org_id is not None and org_id not in self.org_ids and len(self.org_ids) < MAX_LISTED_ORGS:
            self.org_ids.append(org_id)


class RefusalTally:
    """Counts throttled refusals per source; a source's window closes ``interval`` seconds after
    its first one, and is then reported once (``due``) with its count."""

    def __init__(self, interval: float, *, clock: Callable[[], float], capacity: int = 10_000):
        self.interval = max(0.0, interval)
        self.clock = clock
        self.capacity = max(1, capacity)
        self._open: dict[str, RefusalWindow] = {}

    def __len__(self) -> int:
        return len(self._open)

    def note(self, source: str, org_id: str | None = None) -> None:
        window = self._open.get(source)
        if window is None:
            if len(self._open) >= self.capacity:
                source = OTHER_SOURCES
                window = self._open.get(source)
            if window is None:
                window = self._open[source] = RefusalWindow(source, self.clock())
        window.note(org_id)

    def next_due(self) -> float | None:
        """When the earliest open window closes (None: none is open)."""
        if not self._open:
            return None
        return min(window.opened for window in self._open.values()) + self.interval

    def due(self) -> list[RefusalWindow]:
        """The windows that have closed, taken out of the tally (oldest first)."""
        now = self.clock()
        closed = [w for w in self._open.values() if now >= w.opened + self.interval]
        for window in closed:
            del self._open[window.source]
        return sorted(closed, key=lambda w: w.opened)
