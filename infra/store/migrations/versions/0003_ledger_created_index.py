"""processed_commands.created_at index, for pruning old decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 23:15:00
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_commands", schema=None) as batch_op:
        batch_op.create_index("ix_processed_commands_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("processed_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_processed_commands_created_at")
