"""SQLAlchemy table definitions: the one place the store's shape is written down.

The same tables serve SQLite and PostgreSQL. Timestamps are naive UTC. ``resource`` columns hold
the SCIM resource's attributes as JSON (JSONB on PostgreSQL), extension attributes nested under
their schema URN exactly as in SCIM JSON, never ``id``, ``meta``, ``groups``, ``members`` or a
password. The columns IdPs filter on are copied out of it and indexed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# An auto-incrementing 64-bit key on PostgreSQL, SQLite's ROWID alias on SQLite.
SeqKey = BigInteger().with_variant(Integer(), "sqlite")
Document = JSON().with_variant(JSONB(), "postgresql")

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("tier", String(32), nullable=False),  # "enterprise" | "team"
    Column("scim_enabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("org_id", String(32), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),  # "owner" | "member"
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("last_used_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
    Index("ix_api_tokens_org_id", "org_id"),
)

# The service's own ops team: a role above organizations (``domain.operators``). Like an
# organization's tokens, an operator's token is shown once and stored only as its hash.
operators = Table(
    "operators",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("last_used_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("seq", SeqKey, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("org_id", String(32), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("user_name", String(512), nullable=False),
    Column("user_name_key", String(512), nullable=False),  # casefolded userName
    Column("external_id", String(512), nullable=True),
    Column("display_name", String(512), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("resource", Document, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("org_id", "user_name_key", name="uq_users_org_user_name_key"),
    Index("ix_users_org_seq", "org_id", "seq"),
    Index("ix_users_org_external_id", "org_id", "external_id"),
    Index("ix_users_org_updated_at", "org_id", "updated_at"),
)

teams = Table(
    "teams",
    metadata,
    Column("seq", SeqKey, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("org_id", String(32), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("display_name", String(512), nullable=False),
    Column("display_name_key", String(512), nullable=False),  # casefolded displayName
    Column("external_id", String(512), nullable=True),
    Column("idp_managed", Boolean, nullable=False, default=False),
    Column("resource", Document, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("org_id", "display_name_key", name="uq_teams_org_display_name_key"),
    Index("ix_teams_org_seq", "org_id", "seq"),
    Index("ix_teams_org_external_id", "org_id", "external_id"),
)

# How many rows of each kind an organization holds, in a few shards (``infra.store.counts``).
resource_counts = Table(
    "resource_counts",
    metadata,
    Column("org_id", String(32), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True),
    Column("resource_type", String(16), primary_key=True),  # "User" | "Group"
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False, default=0),
    Column("removed", BigInteger, nullable=False, default=0),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", String(64), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("org_id", String(32), nullable=False),
    # The member's ``display`` as the IdP sent it (RFC 7643 §4.2); None: the user's own name.
    Column("display", String(512), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Index("ix_team_members_user_id", "user_id"),
)

# One row per command a worker has decided: applied, rejected (a SCIM error) or expired.
# Its primary key is the fence that makes a command's effect exactly-once (ARCHITECTURE.md §1, §2).
processed_commands = Table(
    "processed_commands",
    metadata,
    Column("command_id", String(64), primary_key=True),
    Column("org_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),  # applied | rejected | expired
    Column("reply", Text, nullable=False),  # the JSON reply sent to the waiting request
    Column("created_at", DateTime, nullable=False),
    Index("ix_processed_commands_created_at", "created_at"),  # for pruning
)

# Audit events written in the change's transaction, relayed to the Redis Stream afterwards.
# ``seq`` only orders and addresses rows (SQLite reuses it); ``event_id`` is the event's own
# globally unique id, given when the event was created (the stream is de-duplicated on it).
audit_outbox = Table(
    "audit_outbox",
    metadata,
    Column("seq", SeqKey, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event", Text, nullable=False),  # JSON, carrying the same event_id
    Column("created_at", DateTime, nullable=False),
)

# The provisioning log: one row per audit event, kept ``SCIMGATE_LOG_RETENTION_DAYS`` (30 by
# default), written idempotently on ``event_id`` by the outbox relay in the transaction that
# deletes the event's outbox row (refusals: from the ingress's bounded feed). Searched per
# organization newest first, by keyset on (time, seq): every filter has an index that starts
# with the organization and ends with (time, seq), so a page costs the same at 10 or 10^8 rows.
provisioning_log = Table(
    "provisioning_log",
    metadata,
    Column("seq", SeqKey, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("time", DateTime, nullable=False),
    Column("org_id", String(64), nullable=False),  # "" for operator events
    Column("idp", String(32), nullable=True),
    Column("token_id", String(64), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("command_id", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),  # applied | unchanged | rejected | expired | refused
    Column("status", Integer, nullable=True),
    Column("scim_type", String(64), nullable=True),
    Column("error_detail", Text, nullable=True),
    Column("resource_type", String(32), nullable=True),
    Column("resource_id", String(64), nullable=True),
    Column("resource_name", String(512), nullable=True),  # userName / displayName
    Column("name_key", String(512), nullable=True),  # casefolded resource_name
    Column("external_id", String(512), nullable=True),
    Column("changed", JSON, nullable=True),  # attribute names
    Column("changes", JSON, nullable=True),  # {"new": {...}, "old": {...}} values of the changed attributes
    Column("detail", JSON, nullable=True),
    Column("user_agent", String(256), nullable=True),
    Column("queue_wait_ms", Float, nullable=True),
    Column("apply_ms", Float, nullable=True),
    Index("ix_provisioning_log_org_time", "org_id", "time", "seq"),
    Index("ix_provisioning_log_org_resource_id", "org_id", "resource_id", "time", "seq"),
    Index("ix_provisioning_log_org_name_key", "org_id", "name_key", "time", "seq"),
    Index("ix_provisioning_log_org_external_id", "org_id", "external_id", "time", "seq"),
    Index("ix_provisioning_log_org_action", "org_id", "action", "time", "seq"),
    Index("ix_provisioning_log_org_outcome", "org_id", "outcome", "time", "seq"),
    Index("ix_provisioning_log_org_idp", "org_id", "idp", "time", "seq"),
    Index("ix_provisioning_log_request_id", "request_id"),
    Index("ix_provisioning_log_command_id", "command_id"),
    Index("ix_provisioning_log_time", "time", "seq"),  # across organizations, and pruning
)
