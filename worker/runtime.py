"""What a worker process holds for its whole life: settings, the store engine, a Redis client,
the batch applier, and the outbox relay thread that sweeps up events a crash left behind.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

import redis

from infra.config import Settings
from infra.logging import get_logger
from infra.redis.audit_stream import publish_events
from infra.store import ledger
from infra.store.clock import utcnow
from infra.store.engine import make_sync_engine
from worker.apply import BatchApplier

log = get_logger(__name__)

RELAY_INTERVAL_SECONDS = 1.0
# Events the worker relays right after its own commit are left alone by the sweeper this long.
RELAY_GRACE = timedelta(seconds=2)


@dataclass
class WorkerRuntime:
    settings: Settings
    engine: object = field(init=False)
    redis: redis.Redis = field(init=False)
    applier: BatchApplier = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _relay_thread: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.engine = make_sync_engine(self.settings.database_url)
        self.redis = redis.Redis.from_url(self.settings.redis_url)
        self.applier = BatchApplier(self.engine)

    def relay(self, seqs: list[int] | None = None, *, older_than=None) -> int:
        """Publish outbox events to the stream and forget them; returns how many were relayed."""
        with self.engine.connect() as conn, conn.begin():
            if seqs is not None and not seqs:
                return 0
            pending = ledger.pending_events(conn, seqs=seqs, older_than=older_than, limit=1000)
            if not pending:
                return 0
            publish_events(
                self.redis,
                self.settings.audit_stream,
                [dict(event, event_id=f"evt-{seq}") for seq, event in pending],
                maxlen=self.settings.audit_stream_maxlen,
            )
            ledger.forget_events(conn, [seq for seq, _ in pending])
            return len(pending)

    def start_relay_thread(self) -> None:
        def sweep() -> None:
            while not self._stop.wait(RELAY_INTERVAL_SECONDS):
                try:
                    while self.relay(older_than=utcnow() - RELAY_GRACE) >= 1000:
                        pass
                except Exception as exc:  # keep sweeping; the events stay in the outbox
                    log.warning("relay_sweep_failed", error=str(exc))

        self._relay_thread = threading.Thread(target=sweep, name="outbox-relay", daemon=True)
        self._relay_thread.start()

    def close(self) -> None:
        self._stop.set()
        self.engine.dispose()
        self.redis.close()
