"""Read-side queries for the ingress (asyncio). Every filter, count and page runs in the database."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from infra.store.repositories import chunks, member_refs
from infra.store.tables import team_members, teams, users


async def get_user(conn: AsyncConnection, org_id: str, user_id: str):
    return (await conn.execute(select(users).where(users.c.id == user_id, users.c.org_id == org_id))).first()


async def get_team(conn: AsyncConnection, org_id: str, team_id: str):
    return (await conn.execute(select(teams).where(teams.c.id == team_id, teams.c.org_id == org_id))).first()


async def page(conn: AsyncConnection, table, org_id: str, where, order_by: list, offset: int, limit: int):
    """``(total, rows)`` for one page of ``table`` in ``org_id`` matching ``where``."""
    conditions = [table.c.org_id == org_id]
    if where is not None:
        conditions.append(where)
    total = (await conn.execute(select(func.count()).select_from(table).where(*conditions))).scalar_one()
    if limit <= 0 or offset >= total:
        return total, []
    query = select(table).where(*conditions).order_by(*order_by, table.c.seq).offset(offset).limit(limit)
    return total, list(await conn.execute(query))


async def groups_of_users(conn: AsyncConnection, user_ids: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for part in chunks(user_ids):
        rows = await conn.execute(
            select(team_members.c.user_id, teams.c.id, teams.c.display_name)
            .join(teams, teams.c.id == team_members.c.team_id)
            .where(team_members.c.user_id.in_(part))
            .order_by(teams.c.seq)
        )
        for row in rows:
            found[row.user_id].append({"value": row.id, "display": row.display_name, "type": "direct"})
    return found


async def members_of_teams(conn: AsyncConnection, team_ids: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list] = defaultdict(list)
    for part in chunks(team_ids):
        rows = await conn.execute(
            select(team_members.c.team_id, team_members.c.user_id, users.c.display_name, users.c.user_name)
            .join(users, users.c.id == team_members.c.user_id)
            .where(team_members.c.team_id.in_(part))
            .order_by(team_members.c.created_at, team_members.c.user_id)
        )
        for row in rows:
            found[row.team_id].append(row)
    return {team_id: member_refs(rows) for team_id, rows in found.items()}
