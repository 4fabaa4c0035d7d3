"""What a worker process holds for its whole life: settings, the store engine, a Redis client,
the batch applier, the outbox relay (``worker.relay``), the publisher of replies
(``worker.publisher``) and its identity in the roster."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

import redis
from sqlalchemy import Engine

from infra.config import Settings
from infra.store.engine import make_sync_engine
from worker.apply import BatchApplier
from worker.publisher import Publisher
from worker.relay import OutboxRelay


@dataclass
class WorkerRuntime:
    settings: Settings
    engine: Engine = field(init=False)
    redis: redis.Redis = field(init=False)
    applier: BatchApplier = field(init=False)
    relay: OutboxRelay = field(init=False)
    publisher: Publisher = field(init=False)

    def __post_init__(self) -> None:
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.engine = make_sync_engine(self.settings.database_url)
        self.redis = redis.Redis.from_url(self.settings.redis_url)
        self.applier = BatchApplier(self.engine, command_timeout=self.settings.command_timeout)
        self.relay = OutboxRelay(self.settings, self.engine, self.redis)
        self.publisher = Publisher()

    def close(self) -> None:
        self.publisher.stop()  # what was committed is answered before the process goes
        self.relay.stop()
        self.engine.dispose()
        self.redis.close()
