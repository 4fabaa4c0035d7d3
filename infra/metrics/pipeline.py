"""The worker's series: one definition each, used by ``worker/``.

Labels are bounded: ``kind`` is a command kind (``domain.commands``), ``outcome`` a ledger
outcome or ``duplicate``, ``reason`` one of the few named below. No organization, user or
command id is ever a label (see ``infra.metrics.snapshot`` for the bounded per-organization view).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

BATCH_SIZE = Histogram(
    "scimgate_worker_batch_size", "Commands per batch a worker applied",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
BATCH_SECONDS = Histogram(
    "scimgate_worker_batch_seconds", "Time to apply a batch: its one transaction, retries included, until commit",
    buckets=_SECONDS,
)
QUEUE_WAIT = Histogram(
    "scimgate_worker_queue_wait_seconds",
    "Time from a command's submission at the ingress until a worker began applying it",
    buckets=_SECONDS,
)
COMMANDS = Counter(
    "scimgate_worker_commands_total", "Commands a worker decided, by kind and outcome", ["kind", "outcome"],
)
RETRIES = Counter(
    "scimgate_worker_retries_total",
    "Batch transactions tried again: transient (deadlock, lock timeout), store_outage (waited for the "
    "store), expired_redo (redone without the commands whose deadline passed)",
    ["reason"],
)
DEAD_LETTERED = Counter("scimgate_worker_dead_lettered_total", "Commands a worker dead-lettered (redelivered too often)")
RELAY_SECONDS = Histogram(
    "scimgate_outbox_relay_seconds",
    "Time from a batch's commit until its replies and audit events were on Redis",
    buckets=_SECONDS,
)
SWEPT = Counter(
    "scimgate_outbox_swept_total",
    "Audit events the sweeper relayed because publishing after their commit did not (a crash, a Redis blip)",
)
LEDGER_PRUNED = Counter("scimgate_ledger_pruned_total", "Decided commands pruned from the ledger after their retention")

RETRY_TRANSIENT, RETRY_OUTAGE, RETRY_EXPIRED = "transient", "store_outage", "expired_redo"
# A batch first tried without savepoints, redone with them (a rejection after a write, a conflict…).
RETRY_GUARDED = "savepoint_redo"
