"""Read-side queries for the ingress (asyncio). Every filter, count and page runs in the database."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, and_, bindparam, case, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from infra.store.columns import group_ref, member_query, member_refs
from infra.store.filter_sql.templates import MAX_TEMPLATES, Template
from infra.store.repositories import chunks
from infra.store.tables import team_members, teams, users


# The statements every read runs are built once, with bound parameters: building a statement and
# its cache key anew per request was a third of a lookup's CPU (issue 8's profile).
_USER_BY_ID = select(users).where(users.c.id == bindparam("id"), users.c.org_id == bindparam("org"))
_TEAM_BY_ID = select(teams).where(teams.c.id == bindparam("id"), teams.c.org_id == bindparam("org"))
_GROUPS_OF_USERS = (
    select(team_members.c.user_id, teams.c.id, teams.c.display_name)
    .join(teams, teams.c.id == team_members.c.team_id)
    .where(team_members.c.user_id.in_(bindparam("ids", expanding=True)))
    .order_by(teams.c.seq)
)


async def get_user(conn: AsyncConnection, org_id: str, user_id: str):
    return (await conn.execute(_USER_BY_ID, {"id": user_id, "org": org_id})).first()


async def get_team(conn: AsyncConnection, org_id: str, team_id: str):
    return (await conn.execute(_TEAM_BY_ID, {"id": team_id, "org": org_id})).first()


# An ordering is a list of ``(expression, ascending)`` pairs that totally orders a table's rows.
Ordering = list[tuple[ColumnElement, bool]]


def ordering(table, sort_key: ColumnElement | None = None, descending: bool = False) -> Ordering:
    """The stable order of a listing: by ``sort_key`` (resources lacking it last, in either
    direction, on both backends), then by ``seq`` (creation order), which makes it total."""
    if sort_key is None:
        return [(table.c.seq, True)]
    missing = case((sort_key.is_(None), 1), else_=0)
    return [(missing, True), (sort_key, not descending), (table.c.seq, True)]


def _order_by(order: Ordering, backward: bool = False) -> list:
    return [expr.asc() if ascending != backward else expr.desc() for expr, ascending in order]


def _conditions(table, org_id: str, where) -> list:
    conditions = [table.c.org_id == org_id]
    if where is not None:
        conditions.append(where)
    return conditions


async def count(conn: AsyncConnection, table, org_id: str, where) -> int:
    query = select(func.count()).select_from(table).where(*_conditions(table, org_id, where))
    return (await conn.execute(query)).scalar_one()


async def page(conn: AsyncConnection, table, org_id: str, where, order: Ordering, offset: int, limit: int,
               total: int | None = None):
    """``(total, rows)`` for one page of ``table`` in ``org_id`` matching ``where`` (index paging).

    The page's rows are found by their keys first (``seq``, from the ``(org_id, seq)`` index where
    the order allows), so a deep offset steps over index entries, not over documents; only the
    page's own documents are read. The total is a separate count, skipped when the page shows it
    already (it starts at the first result and is not full: every lookup by ``userName``). A
    window count would do both in one statement, but it materialises every matching document of
    the tenant to count them: 220 ms for a page at 100k users on SQLite, against 3 ms for the count.
    A ``total`` known already (``infra.store.counts``, when nothing is filtered) is not counted.
    """
    if limit <= 0:
        return (total if total is not None else await count(conn, table, org_id, where)), []
    keys = (
        select(table.c.seq)
        .where(*_conditions(table, org_id, where))
        .order_by(*_order_by(order))
        .offset(offset)
        .limit(limit)
        .correlate(None)
    )
    query = select(table).where(table.c.seq.in_(keys)).order_by(*_order_by(order))
    rows = list(await conn.execute(query))
    if total is None:
        total = _shown_total(rows, offset, limit)
    return (total if total is not None else await count(conn, table, org_id, where)), rows


def _shown_total(rows: list, offset: int, limit: int) -> int | None:
    """The total a page shows by itself: it starts at the first result and is not full."""
    return len(rows) if offset == 0 and len(rows) < limit else None


_LOOKUPS: dict[tuple[str, Template], tuple] = {}  # (table, template) -> (page, count)


def _lookup_statements(table, template: Template):
    found = _LOOKUPS.get((table.name, template))
    if found is None:
        conditions = [table.c.org_id == bindparam("org"), template.where]
        page = (select(table).where(*conditions).order_by(table.c.seq)
                .offset(bindparam("offset")).limit(bindparam("limit")))
        found = (page, select(func.count()).select_from(table).where(*conditions))
        if len(_LOOKUPS) < 2 * MAX_TEMPLATES:  # as bounded as the templates themselves
            _LOOKUPS[(table.name, template)] = found
    return found


async def lookup_page(conn: AsyncConnection, table, org_id: str, template: Template, value: str, offset: int,
                      limit: int):
    """``(total, rows)`` for a page of the lookup ``template`` of ``value`` (``attr eq value``), in
    creation order: statements built once per template, only the values bound per request."""
    page, counting = _lookup_statements(table, template)
    params = {"org": org_id, **template.params(value)}
    if limit <= 0:
        return (await conn.execute(counting, params)).scalar_one(), []
    rows = list(await conn.execute(page, {**params, "offset": offset, "limit": limit}))
    total = _shown_total(rows, offset, limit)
    return (total if total is not None else (await conn.execute(counting, params)).scalar_one()), rows


def _beyond(order: Ordering, position: list, backward: bool) -> ColumnElement[bool]:
    """Rows strictly after ``position`` in ``order`` (strictly before it when ``backward``).

    ``position`` holds one value per ordering expression; ``None`` stands for SQL NULL (a
    resource lacking the sort attribute, which the ``missing`` flag before it already orders).
    """
    clauses = []
    for index, ((expr, ascending), value) in enumerate(zip(order, position)):
        if value is None:
            continue
        bound = literal(value, expr.type)  # a bound parameter, so booleans compare too
        strict = expr > bound if ascending != backward else expr < bound
        equal = [
            e.is_(None) if v is None else e == literal(v, e.type) for (e, _), v in zip(order[:index], position[:index])
        ]
        clauses.append(and_(*equal, strict))
    return or_(*clauses) if clauses else false()


async def keyset(
    conn: AsyncConnection,
    table,
    org_id: str,
    where,
    order: Ordering,
    position: list | None,
    limit: int,
    *,
    backward: bool = False,
) -> list:
    """Up to ``limit`` rows after ``position`` (from the start when None), or before it when
    ``backward`` (then still returned in ``order``). Each row carries its ordering values as
    ``_k0``, ``_k1`` … for the next position. Costs one index range scan, whatever the offset."""
    if limit <= 0:
        return []
    conditions = _conditions(table, org_id, where)
    if position is not None:
        conditions.append(_beyond(order, position, backward))
    keys = [expr.label(f"_k{index}") for index, (expr, _) in enumerate(order)]
    query = select(table, *keys).where(*conditions).order_by(*_order_by(order, backward)).limit(limit)
    rows = list(await conn.execute(query))
    return rows[::-1] if backward else rows


def position_of(row, order: Ordering) -> list:
    return [getattr(row, f"_k{index}") for index in range(len(order))]


async def groups_of_users(conn: AsyncConnection, user_ids: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for part in chunks(user_ids):
        for row in await conn.execute(_GROUPS_OF_USERS, {"ids": part}):
            found[row.user_id].append(group_ref(row.id, row.display_name))
    return found


async def members_of_teams(conn: AsyncConnection, team_ids: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list] = defaultdict(list)
    for part in chunks(team_ids):
        for row in await conn.execute(member_query(part)):
            found[row.team_id].append(row)
    return {team_id: member_refs(rows) for team_id, rows in found.items()}
