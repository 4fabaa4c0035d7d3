"""audit_outbox.event_id: each event's own globally unique id, never a reused row id

Rows still waiting in the outbox get a fresh id, written into their JSON too, so the event that
is relayed carries the id its row holds.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00
"""
import json
import uuid

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    outbox = sa.table("audit_outbox", sa.column("seq"), sa.column("event_id"), sa.column("event"))
    for row in conn.execute(sa.select(outbox.c.seq, outbox.c.event)).all():
        event = json.loads(row.event)
        event["event_id"] = str(uuid.uuid4())
        conn.execute(
            outbox.update().where(outbox.c.seq == row.seq).values(event_id=event["event_id"], event=json.dumps(event))
        )
    with op.batch_alter_table("audit_outbox", schema=None) as batch_op:
        batch_op.alter_column("event_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_outbox_event_id"), ["event_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_outbox_event_id"), type_="unique")
        batch_op.drop_column("event_id")
