"""The outbox relay: audit events from the store's outbox to the Redis Stream, exactly once.

Right after a batch commits, its events are published to the stream from memory, in the same
Redis round trip as the replies (``publish``); their outbox rows are deleted in the next
transaction (the next batch's, or the sweeper's), so relaying costs no transaction of its own. A
sweeper thread publishes whatever a crash left behind (rows older than a grace period) and prunes
the command ledger. Each event carries the ``event_id`` it got when it was created, and publishing
is idempotent per id (``infra.redis.audit_stream``), so a re-publish after a crash never doubles
an event.

The provisioning log (``infra.store.provisioning_log``) is written here too: deleting relayed
outbox rows writes their log entries in the same transaction, idempotently on ``event_id``
(``outbox.forget_events``). Refusals never pass through the outbox (the ingress publishes them
straight to the stream, rate-limited per source): the ingress also appends each to a capped
refusal feed, which the sweeper writes into the log and then deletes from (a crash in between
means the next sweep writes them again, which the log ignores). The sweeper also prunes the log
past its retention (``SCIMGATE_LOG_RETENTION_DAYS``), in small batches by its time index.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import redis
from sqlalchemy import Engine

from domain.commands import Reply
from infra.config import Settings
from infra.logging import get_logger
from infra.metrics import pipeline as metrics
from infra.redis.audit_stream import AuditStream
from infra.redis.replies import add_replies
from infra.store import ledger, outbox, provisioning_log
from infra.store.clock import utcnow

log = get_logger(__name__)

RELAY_INTERVAL_SECONDS = 1.0
# Events the worker relays right after its own commit are left alone by the sweeper this long.
RELAY_GRACE = timedelta(seconds=2)
SWEEP_LIMIT = 1000
PRUNE_EVERY_TICKS = 60  # the ledger and the log are pruned about once a minute
# Refusals written into the log: at most REFUSALS_PER_SWEEP × REFUSAL_SWEEPS_PER_TICK a second per
# worker, so an anonymous flood from many addresses (each within its refusal budget) cannot grow the
# log without bound; past it the feed's cap (``REFUSAL_FEED_MAXLEN``) drops the oldest waiting ones.
REFUSALS_PER_SWEEP = 500
REFUSAL_SWEEPS_PER_TICK = 4
# At most this many batches of log entries are pruned per tick (the rest wait a minute).
LOG_PRUNE_BATCHES = 50


class OutboxRelay:
    def __init__(self, settings: Settings, engine: Engine, client: redis.Redis):
        self.settings = settings
        self.engine = engine
        self.redis = client
        self.audit = AuditStream.from_settings(settings)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._relayed: list[tuple[int, dict]] = []
        self._thread: threading.Thread | None = None

    # -- relayed outbox rows awaiting deletion -------------------------------------------------

    def take_relayed(self) -> list[tuple[int, dict]]:
        with self._lock:
            taken, self._relayed = self._relayed, []
        return taken

    def give_back_relayed(self, events: list[tuple[int, dict]]) -> None:
        with self._lock:
            self._relayed.extend(events)

    # -- after commit --------------------------------------------------------------------------

    def publish(self, replies: list[tuple[str, Reply]], events: list[tuple[int, dict]]) -> None:
        """Replies to the waiting requests and events to the audit stream, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        add_replies(pipe, replies)
        self.audit.publish(self.redis, [event for _seq, event in events], pipe)
        self.give_back_relayed(events)

    # -- the sweeper ---------------------------------------------------------------------------

    def sweep(self) -> int:
        """Delete relayed rows; publish and delete rows older than the grace period."""
        forget = self.take_relayed()
        try:
            with self.engine.connect() as conn, conn.begin():
                outbox.forget_events(conn, forget)
                forget = []
                pending = outbox.pending_events(conn, older_than=utcnow() - RELAY_GRACE, limit=SWEEP_LIMIT)
                if pending:
                    self.audit.publish(self.redis, [event for _seq, event in pending])
                    outbox.forget_events(conn, pending)
                    metrics.SWEPT.inc(len(pending))
                return len(pending)
        finally:
            self.give_back_relayed(forget)

    def log_refusals(self) -> int:
        """Write the refusals waiting on the ingress's feed into the provisioning log."""
        taken = self.audit.take_refusals(self.redis, REFUSALS_PER_SWEEP)
        if taken:
            with self.engine.connect() as conn, conn.begin():
                provisioning_log.write_entries(conn, [event for _id, event in taken if event.get("event_id")])
            self.audit.drop_refusals(self.redis, [entry_id for entry_id, _ in taken])
        return len(taken)

    def prune_log(self) -> int:
        """Delete log entries older than the retention, a small batch per transaction, bounded per call."""
        older_than = utcnow() - timedelta(days=self.settings.log_retention_days)
        pruned = 0
        for _ in range(LOG_PRUNE_BATCHES):
            with self.engine.connect() as conn, conn.begin():
                removed = provisioning_log.prune(conn, older_than=older_than)
            pruned += removed
            if removed < provisioning_log.PRUNE_BATCH or self._stop.is_set():
                break
        return pruned

    def prune_ledger(self) -> int:
        """Delete decided commands older than the retention, a chunk per transaction."""
        older_than = utcnow() - timedelta(hours=self.settings.ledger_retention_hours)
        pruned = 0
        while True:
            with self.engine.connect() as conn, conn.begin():
                removed = ledger.prune_decisions(conn, older_than=older_than)
            pruned += removed
            metrics.LEDGER_PRUNED.inc(removed)
            if removed < 5000 or self._stop.is_set():
                return pruned

    def start(self) -> None:
        def run() -> None:
            ticks = 0
            while not self._stop.wait(RELAY_INTERVAL_SECONDS):
                ticks += 1
                try:
                    while self.sweep() >= SWEEP_LIMIT:
                        pass
                    for _ in range(REFUSAL_SWEEPS_PER_TICK):
                        if self.log_refusals() < REFUSALS_PER_SWEEP:
                            break
                    if ticks % PRUNE_EVERY_TICKS == 0:
                        self.prune_ledger()
                        self.prune_log()
                except Exception as exc:  # keep sweeping; the events stay in the outbox
                    log.warning("relay_sweep_failed", error=str(exc))

        self._thread = threading.Thread(target=run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
