"""What the ops dashboard reads from the store beyond the provisioning log's search.

``credential_active``: whether the token a dashboard session was opened with is still valid (not
revoked, still there), by id, one primary-key lookup: sessions never hold the token itself.
``organizations_page``: one page of organizations by id (keyset), for the health list.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.viewers import Viewer
from infra.store.tables import api_tokens, operators, organizations


async def credential_active(conn: AsyncConnection, viewer: Viewer) -> bool:
    if viewer.is_operator:
        query = select(operators.c.revoked_at).where(operators.c.id == viewer.subject_id)
    else:
        query = select(api_tokens.c.revoked_at).where(
            api_tokens.c.id == viewer.subject_id, api_tokens.c.org_id == viewer.org_id
        )
    row = (await conn.execute(query)).first()
    return row is not None and row.revoked_at is None


async def organizations_page(conn: AsyncConnection, *, after: str | None, limit: int,
                             only: str | None = None) -> list[tuple[str, str]]:
    """``(id, name)`` of at most ``limit`` organizations with ids after ``after`` (or just ``only``)."""
    query = select(organizations.c.id, organizations.c.name).order_by(organizations.c.id).limit(limit)
    if only is not None:
        query = query.where(organizations.c.id == only)
    elif after:
        query = query.where(organizations.c.id > after)
    return [(row.id, row.name) for row in await conn.execute(query)]
