"""provisioning_log: one row per audit event, searchable per organization newest first

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_provisioning_log_org_time": ["org_id", "time", "seq"],
    "ix_provisioning_log_org_resource_id": ["org_id", "resource_id", "time", "seq"],
    "ix_provisioning_log_org_name_key": ["org_id", "name_key", "time", "seq"],
    "ix_provisioning_log_org_external_id": ["org_id", "external_id", "time", "seq"],
    "ix_provisioning_log_org_action": ["org_id", "action", "time", "seq"],
    "ix_provisioning_log_org_outcome": ["org_id", "outcome", "time", "seq"],
    "ix_provisioning_log_org_idp": ["org_id", "idp", "time", "seq"],
    "ix_provisioning_log_request_id": ["request_id"],
    "ix_provisioning_log_command_id": ["command_id"],
    "ix_provisioning_log_time": ["time", "seq"],
}


def upgrade() -> None:
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    document = sa.JSON()
    op.create_table(
        "provisioning_log",
        sa.Column("seq", seq, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("idp", sa.String(length=32), nullable=True),
        sa.Column("token_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("command_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("scim_type", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("resource_type", sa.String(length=32), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("resource_name", sa.String(length=512), nullable=True),
        sa.Column("name_key", sa.String(length=512), nullable=True),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("changed", document, nullable=True),
        sa.Column("changes", document, nullable=True),
        sa.Column("detail", document, nullable=True),
        sa.Column("user_agent", sa.String(length=256), nullable=True),
        sa.Column("queue_wait_ms", sa.Float(), nullable=True),
        sa.Column("apply_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_provisioning_log")),
        sa.UniqueConstraint("event_id", name=op.f("uq_provisioning_log_event_id")),
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "provisioning_log", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="provisioning_log")
    op.drop_table("provisioning_log")
