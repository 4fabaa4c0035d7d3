"""provisioning_log.batch_id: the worker's batch an entry's command was applied in

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("provisioning_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("provisioning_log", schema=None) as batch_op:
        batch_op.drop_column("batch_id")
