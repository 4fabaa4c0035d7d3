"""The snapshot gauges: computed at scrape time from an ``OpsSnapshot``, never kept per process.

Queue depth, the oldest queued command, the outbox, live workers and dead letters are facts of
the whole deployment (Redis and the store), not of the process that happens to be scraped; so
each scrape reads them afresh (``infra.ops_snapshot.read_snapshot``) and this collector turns the
figures into gauges. A figure that could not be read is left out, and ``scimgate_snapshot_up``
says which source was unreachable (alert on it rather than on a missing series).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from infra.ops_snapshot import OpsSnapshot

# field of OpsSnapshot → (metric name, help)
GAUGES: dict[str, tuple[str, str]] = {
    "queue_depth": ("scimgate_queue_depth", "Write commands submitted to an ingress and not yet decided"),
    "oldest_queued_seconds": ("scimgate_oldest_queued_seconds", "Age of the oldest undecided write command"),
    "queued_batches": ("scimgate_queued_batches", "Batch messages on the Celery queue not yet taken by a worker"),
    "ingresses": ("scimgate_ingresses", "Ingress processes reporting their queue (alive)"),
    "outbox_pending": ("scimgate_outbox_pending", "Audit events committed and not yet relayed (capped at 10000)"),
    "outbox_lag_seconds": ("scimgate_outbox_lag_seconds", "Age of the oldest audit event not yet relayed"),
    "live_workers": ("scimgate_workers_live", "Workers whose heartbeat is fresh"),
    "dead_letters": ("scimgate_dead_letters", "Entries on the dead-letter list (capped at 10000)"),
    "failing_organizations": (
        "scimgate_organizations_failing",
        "Organizations most of whose writes failed (rejected or expired) over the last 5 minutes",
    ),
}
_REDIS_FIELDS = ("queue_depth", "live_workers")
_STORE_FIELDS = ("outbox_pending",)


class SnapshotCollector(Collector):
    def __init__(self, snapshot: OpsSnapshot):
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for attribute, (name, documentation) in GAUGES.items():
            value = getattr(self.snapshot, attribute)
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=float(value))
        failing = GaugeMetricFamily(
            "scimgate_organization_failed_writes",
            "Failed writes over the last 5 minutes of the (at most 10) worst failing organizations",
            labels=["org_id"],
        )
        for org in self.snapshot.top_failing:
            failing.add_metric([org.org_id], float(org.failures))
        yield failing
        up = GaugeMetricFamily("scimgate_snapshot_up", "Whether the scrape could read the source (1) or not (0)",
                               labels=["source"])
        up.add_metric(["redis"], 0.0 if any(getattr(self.snapshot, f) is None for f in _REDIS_FIELDS) else 1.0)
        up.add_metric(["store"], 0.0 if any(getattr(self.snapshot, f) is None for f in _STORE_FIELDS) else 1.0)
        yield up
