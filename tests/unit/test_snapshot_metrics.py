"""The snapshot gauges: every known figure a gauge, an unknown one left out and its source down,
the failing organizations a bounded labelled set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from infra.metrics.snapshot import SnapshotCollector
from infra.ops_snapshot import OpsSnapshot
from infra.redis.org_outcomes import FailingOrganization


def _samples(snapshot: OpsSnapshot) -> dict:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(snapshot))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _snapshot(**overrides) -> OpsSnapshot:
    figures = dict(at=1.0, queue_depth=7, oldest_queued_seconds=1.5, queued_batches=1, ingresses=2,
                   outbox_pending=3, outbox_lag_seconds=0.4, live_workers=1, dead_letters=0,
                   failing_organizations=1, top_failing=(FailingOrganization("org1", 9, 10),))
    figures.update(overrides)
    return OpsSnapshot(**figures)


def test_every_known_figure_is_a_gauge():
    samples = _samples(_snapshot())
    assert samples[("scimgate_queue_depth", ())] == 7
    assert samples[("scimgate_oldest_queued_seconds", ())] == 1.5
    assert samples[("scimgate_outbox_pending", ())] == 3
    assert samples[("scimgate_workers_live", ())] == 1
    assert samples[("scimgate_organizations_failing", ())] == 1
    assert samples[("scimgate_organization_failed_writes", (("org_id", "org1"),))] == 9
    assert samples[("scimgate_snapshot_up", (("source", "redis"),))] == 1
    assert samples[("scimgate_snapshot_up", (("source", "store"),))] == 1


def test_an_unreadable_source_is_left_out_and_said_down():
    samples = _samples(_snapshot(queue_depth=None, oldest_queued_seconds=None, queued_batches=None, ingresses=None,
                                 live_workers=None, dead_letters=None, failing_organizations=None, top_failing=()))
    assert ("scimgate_queue_depth", ()) not in samples and ("scimgate_workers_live", ()) not in samples
    assert samples[("scimgate_snapshot_up", (("source", "redis"),))] == 0
    assert samples[("scimgate_snapshot_up", (("source", "store"),))] == 1
    assert samples[("scimgate_outbox_pending", ())] == 3
