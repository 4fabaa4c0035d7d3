"""team_members.display: the member display name as the IdP sent it

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 22:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_column("display")
