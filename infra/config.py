"""Configuration from the environment (and the CLI flags that mirror it).

``SCIMGATE_DATA_DIR`` (default ``./.scimgate``), ``SCIMGATE_DATABASE_URL`` (default: SQLite under
the data dir), ``SCIMGATE_REDIS_URL`` (default: the embedded Redis on a unix socket under the
data dir). Everything else has a production-sane default and an environment override.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit


MAX_DEFAULT_INGRESSES = 4


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("SCIMGATE_DATA_DIR", ".scimgate")))
    database_url: str = field(default_factory=lambda: os.environ.get("SCIMGATE_DATABASE_URL", ""))
    redis_url: str = field(default_factory=lambda: os.environ.get("SCIMGATE_REDIS_URL", ""))
    host: str = field(default_factory=lambda: os.environ.get("SCIMGATE_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("SCIMGATE_PORT", 8080))
    # How long a write may wait for a worker before it is answered 503 and never applied.
    # Well under the 60 s after which Okta and Entra give up.
    command_timeout: float = field(default_factory=lambda: _float("SCIMGATE_COMMAND_TIMEOUT", 25.0))
    # How long past the deadline the ingress keeps waiting before fencing the command off.
    reply_margin: float = field(default_factory=lambda: _float("SCIMGATE_REPLY_MARGIN", 2.0))
    # Ingress coalescing: wait this long for more commands before publishing a batch.
    batch_window: float = field(default_factory=lambda: _float("SCIMGATE_BATCH_WINDOW", 0.002))
    batch_max: int = field(default_factory=lambda: _int("SCIMGATE_BATCH_MAX", 128))
    # Batches in flight per ingress process; more commands accumulate meanwhile (group commit).
    ingress_inflight: int = field(default_factory=lambda: _int("SCIMGATE_INGRESS_INFLIGHT", 2))
    worker_concurrency: int = field(default_factory=lambda: _int("SCIMGATE_WORKER_CONCURRENCY", 1))
    max_body_bytes: int = field(default_factory=lambda: _int("SCIMGATE_MAX_BODY_BYTES", 1_048_576))
    max_results: int = field(default_factory=lambda: _int("SCIMGATE_MAX_RESULTS", 200))
    bulk_max_operations: int = field(default_factory=lambda: _int("SCIMGATE_BULK_MAX_OPERATIONS", 1000))
    audit_stream: str = field(default_factory=lambda: os.environ.get("SCIMGATE_AUDIT_STREAM", "scimgate:audit"))
    audit_stream_maxlen: int = field(default_factory=lambda: _int("SCIMGATE_AUDIT_STREAM_MAXLEN", 1_000_000))
    queue_name: str = field(default_factory=lambda: os.environ.get("SCIMGATE_QUEUE", "scimgate.commands"))
    auth_cache_seconds: float = field(default_factory=lambda: _float("SCIMGATE_AUTH_CACHE_SECONDS", 2.0))
    # How long an ops dashboard session lasts from sign-in (8 hours).
    dashboard_session_seconds: int = field(default_factory=lambda: _int("SCIMGATE_DASHBOARD_SESSION_SECONDS", 28_800))
    log_level: str = field(default_factory=lambda: os.environ.get("SCIMGATE_LOG_LEVEL", "INFO"))
    # How long a decided command's id and reply are kept (redelivery and the fence need minutes).
    ledger_retention_hours: float = field(default_factory=lambda: _float("SCIMGATE_LEDGER_RETENTION_HOURS", 24.0))
    # How long the provisioning log keeps an entry (``infra.store.provisioning_log``), in days.
    log_retention_days: float = field(default_factory=lambda: _float("SCIMGATE_LOG_RETENTION_DAYS", 30.0))
    # RFC 9865 cursors: HMAC secret (default: a random one kept in Redis, shared by every ingress
    # of one deployment) and lifetime in seconds.
    cursor_secret: str = field(default_factory=lambda: os.environ.get("SCIMGATE_CURSOR_SECRET", ""))
    cursor_timeout: int = field(default_factory=lambda: _int("SCIMGATE_CURSOR_TIMEOUT", 86_400))
    # A worker whose heartbeat is older than this is taken for lost: the ingress decides the
    # batches it claimed at once (resubmitting what it can prove was not applied).
    worker_stale_seconds: float = field(default_factory=lambda: _float("SCIMGATE_WORKER_STALE_SECONDS", 3.0))
    # Writes one organization may have waiting on one ingress process before it gets 429.
    max_pending_per_org: int = field(default_factory=lambda: _int("SCIMGATE_MAX_PENDING_PER_ORG", 1000))
    # How long the ingress keeps trying to decide a command while the store is unreachable.
    fence_patience: float = field(default_factory=lambda: _float("SCIMGATE_FENCE_PATIENCE", 30.0))
    # Deliveries of one message after which a worker dead-letters its commands instead.
    max_deliveries: int = field(default_factory=lambda: _int("SCIMGATE_MAX_DELIVERIES", 3))
    # The public origin every generated URL uses (meta.location, Location, $ref), e.g.
    # https://scim.example.com; "" = from the request (and trusted proxies' headers).
    public_url: str = field(default_factory=lambda: _public_url(os.environ.get("SCIMGATE_PUBLIC_URL", "")))
    # Proxies whose X-Forwarded-* / Forwarded headers are believed: comma-separated IPs or CIDRs.
    # None by default: a proxy must be named before any client-sent header can shape a URL.
    trusted_proxies: tuple = field(
        default_factory=lambda: _networks(os.environ.get("SCIMGATE_TRUSTED_PROXIES", ""))
    )
    # `scimgate run` restarts its worker when the worker's heartbeat is this many seconds old
    # (after it was once fresh): a wedged worker (a task stuck, the process stopped) is replaced.
    worker_hang_seconds: float = field(default_factory=lambda: _float("SCIMGATE_WORKER_HANG_SECONDS", 15.0))
    # How long an audit event id is remembered to de-duplicate a late re-publish (seconds).
    audit_dedupe_seconds: int = field(default_factory=lambda: _int("SCIMGATE_AUDIT_DEDUPE_SECONDS", 600))
    # Request budgets per ingress process (token buckets; a rate of 0 turns that budget off):
    # per organization for requests with one of its tokens, reads and writes apart (per second,
    # and the burst a bucket holds) ...
    org_read_rate: float = field(default_factory=lambda: _float("SCIMGATE_ORG_READ_RATE", 2000.0))
    org_read_burst: float = field(default_factory=lambda: _float("SCIMGATE_ORG_READ_BURST", 4000.0))
    org_write_rate: float = field(default_factory=lambda: _float("SCIMGATE_ORG_WRITE_RATE", 2000.0))
    org_write_burst: float = field(default_factory=lambda: _float("SCIMGATE_ORG_WRITE_BURST", 4000.0))
    # ... and per source address for requests without a valid token of the URL's organization
    # (refused ones); past it they are answered 429 and summarised in one audit event per source
    # and interval instead of one event each.
    source_refusal_rate: float = field(default_factory=lambda: _float("SCIMGATE_SOURCE_REFUSAL_RATE", 1.0))
    source_refusal_burst: float = field(default_factory=lambda: _float("SCIMGATE_SOURCE_REFUSAL_BURST", 100.0))
    refusal_summary_seconds: float = field(default_factory=lambda: _float("SCIMGATE_REFUSAL_SUMMARY_SECONDS", 60.0))

    # `scimgate run`: ingress processes sharing the port (default: one per core, at most 4).
    ingresses: int = field(default_factory=lambda: _int("SCIMGATE_INGRESSES", 0))
    # A `scimgate worker` serves its own /metrics on this port (0: off; under `scimgate run` the
    # ingresses' /metrics already carry the worker's series).
    worker_metrics_port: int = field(default_factory=lambda: _int("SCIMGATE_WORKER_METRICS_PORT", 0))
    # Celery task events (for Flower): the worker sends task and heartbeat events, the ingress
    # task-sent events. Off by default (they cost a Redis publish per batch).
    celery_events: bool = field(default_factory=lambda: os.environ.get("SCIMGATE_CELERY_EVENTS", "") in ("1", "true", "yes"))

    # Seconds a client may take to send a request body before it is answered 408.
    body_timeout: float = field(default_factory=lambda: _float("SCIMGATE_BODY_TIMEOUT", 30.0))

    @property
    def ingress_count(self) -> int:
        """How many ingress processes `scimgate run` starts."""
        if self.ingresses > 0:
            return self.ingresses
        return max(1, min(MAX_DEFAULT_INGRESSES, os.cpu_count() or 1))

    @property
    def worker_wedged_after(self) -> float:
        """A task running longer than any command may live means its worker is stuck."""
        return self.command_timeout + self.reply_margin + 5.0

    def resolved(self) -> "Settings":
        """Fill in the embedded defaults (SQLite file, Redis socket) under the data dir."""
        data_dir = self.data_dir.resolve()
        database_url = self.database_url or f"sqlite+aiosqlite:///{data_dir / 'scimgate.db'}"
        redis_url = self.redis_url or f"unix://{data_dir / 'redis.sock'}"
        return replace(self, data_dir=data_dir, database_url=database_url, redis_url=redis_url)

    @property
    def uses_embedded_redis(self) -> bool:
        return not os.environ.get("SCIMGATE_REDIS_URL") and self.redis_url.startswith("unix://")


def async_database_url(url: str) -> str:
    """The asyncio driver's URL for a configured database URL (the ingress side)."""
    if url.startswith("sqlite:///") or url.startswith("sqlite+pysqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    if url.startswith("postgresql+psycopg://") or url.startswith("postgresql+psycopg2://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def sync_database_url(url: str) -> str:
    """The synchronous driver's URL for a configured database URL (the worker and CLI side)."""
    if url.startswith("sqlite+aiosqlite:///"):
        return "sqlite:///" + url.split(":///", 1)[1]
    if url.startswith("postgresql+asyncpg://") or url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def celery_broker_url(redis_url: str) -> str:
    """Kombu spells a unix-socket Redis ``redis+socket:///path``."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://"):]
    return redis_url


def _public_url(raw: str) -> str:
    """``SCIMGATE_PUBLIC_URL`` without its trailing slash; ValueError unless an http(s) URL
    with a host and nothing after an optional path prefix."""
    text = raw.strip().rstrip("/")
    if not text:
        return ""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"SCIMGATE_PUBLIC_URL has a bad port: {raw!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc \
            or parts.query or parts.fragment or any(c.isspace() for c in text):
        raise ValueError(f"SCIMGATE_PUBLIC_URL must be an http(s) URL such as https://scim.example.com: {raw!r}")
    return text


def _networks(raw: str) -> tuple:
    """``SCIMGATE_TRUSTED_PROXIES``: comma-separated IP addresses or CIDR networks."""
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in raw.split(",") if item.strip())
    except ValueError as error:
        raise ValueError(f"SCIMGATE_TRUSTED_PROXIES: {error}") from None
