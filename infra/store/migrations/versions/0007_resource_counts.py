"""resource_counts: each organization's number of Users and Teams, kept by the writers

Filled from the rows already there, so listings answer the same totals before and after.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:15:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_counts",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_resource_counts_org_id_organizations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org_id", "resource_type", "shard", name=op.f("pk_resource_counts")),
    )
    for table, kind in (("users", "User"), ("teams", "Group")):
        op.execute(
            f"INSERT INTO resource_counts (org_id, resource_type, shard, n, removed) "
            f"SELECT org_id, '{kind}', 0, count(*), 0 FROM {table} GROUP BY org_id"
        )


def downgrade() -> None:
    op.drop_table("resource_counts")
