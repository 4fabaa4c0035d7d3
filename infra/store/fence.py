"""The ingress's half of the exactly-once fence (see ``infra.store.ledger``), on the async engine.

Called when a command's reply did not arrive by its deadline plus the margin. Inserting an
``expired`` ledger row succeeds only if no worker committed the command; if one did, the insert
conflicts (on PostgreSQL it first waits for the worker's transaction) and the worker's reply is
returned instead. Either way the answer the client gets matches what the store holds.
"""

from __future__ import annotations

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import events as ev
from domain.commands import Command, Reply
from domain.errors import ScimError
from infra.store.clock import utcnow
from infra.store.ledger import EXPIRED, ledger_row, outbox_row
from infra.store.tables import audit_outbox, processed_commands


def timeout_error() -> ScimError:
    return ScimError("The request was not applied in time and never will be; retry it", status=503)


async def fence(engine: AsyncEngine, command: Command) -> Reply | None:
    """The committed reply for ``command``, or None once it is fenced off as expired."""
    expired = Reply(command.id, 503, timeout_error().to_body())
    event = ev.unapplied_event(
        command, outcome=ev.EXPIRED, status=503, time=utcnow().isoformat() + "Z"
    ).to_dict()
    try:
        async with engine.begin() as conn:
            await conn.execute(processed_commands.insert().values(**ledger_row(command, EXPIRED, expired)))
            await conn.execute(audit_outbox.insert().values(**outbox_row(event, utcnow())))
        return None
    except IntegrityError:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(processed_commands.c.outcome, processed_commands.c.reply).where(
                        processed_commands.c.command_id == command.id
                    )
                )
            ).first()
        if row is None or row.outcome == EXPIRED:
            return None
        return Reply.from_wire(orjson.loads(row.reply))
