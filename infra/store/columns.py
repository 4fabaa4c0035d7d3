"""The one table from SCIM attribute to store column, read by the writers
(``repositories.user_columns``/``team_columns``), the filter compiler (``filter_sql``) and the
read views (``queries``, membership rows).

A resource's attributes live in its JSON ``resource`` document (``tables.users``/``teams``);
the ones IdPs filter and sort on are also copied into indexed columns, and ``id`` and ``meta``
live only in columns. Everything not named here is read from the document.

| SCIM attribute | User column | Group column |
|---|---|---|
| ``id`` | ``users.id`` | ``teams.id`` |
| ``userName`` | ``users.user_name`` (+ ``user_name_key``, casefolded) | — |
| ``displayName`` | ``users.display_name`` | ``teams.display_name`` (+ ``display_name_key``) |
| ``externalId`` | ``users.external_id`` | ``teams.external_id`` |
| ``active`` | ``users.active`` (true when absent) | — |
| ``meta.created`` / ``meta.lastModified`` | ``created_at`` / ``updated_at`` | the same |

Memberships are rows of ``team_members``: a member's ``value`` is ``team_members.user_id``, its
``display`` the ``display`` the IdP sent, else the user's ``displayName``, else its ``userName``
(an empty string counts as none), its ``type`` ``"User"``; a User's group's ``value`` is
``teams.id``, its ``display`` ``teams.display_name``, its ``type`` ``"direct"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select

from infra.store.tables import team_members, teams, users

__all__ = [
    "Mapped",
    "column_of",
    "document_columns",
    "member_display",
    "MEMBER_TYPE",
    "GROUP_TYPE",
    "member_query",
    "member_refs",
    "group_ref",
]


@dataclass(frozen=True)
class Mapped:
    """Where one SCIM attribute (a canonical path such as ``("meta", "created")``) is kept:
    column ``column`` and, for a case-insensitive unique name, its casefolded ``key`` column.
    ``default``: the column's value when the document lacks the attribute."""

    column: str
    key: str | None = None
    default: Any = None
    from_document: bool = True  # False: the record's own field (id, timestamps), not the document's


_COMMON = {
    ("id",): Mapped("id", from_document=False),
    ("externalId",): Mapped("external_id"),
    ("meta", "created"): Mapped("created_at", from_document=False),
    ("meta", "lastModified"): Mapped("updated_at", from_document=False),
}

COLUMNS: dict[str, dict[tuple[str, ...], Mapped]] = {
    "User": {
        **_COMMON,
        ("userName",): Mapped("user_name", key="user_name_key"),
        ("displayName",): Mapped("display_name"),
        ("active",): Mapped("active", default=True),
    },
    "Group": {
        **_COMMON,
        ("displayName",): Mapped("display_name", key="display_name_key"),
    },
}

TABLES: dict[str, Table] = {"User": users, "Group": teams}

MEMBER_TYPE = "User"  # every member of a Team is a User (no nested groups)
GROUP_TYPE = "direct"  # every group of a User is a direct membership


def column_of(resource_type: str, canonical: tuple[str, ...], table: Table | None = None
              ) -> tuple[ColumnElement, ColumnElement | None] | None:
    """``(column, key column or None)`` of the core attribute ``canonical`` of ``table`` (the
    resource type's table, or an alias of it); None when it lives only in the document."""
    mapped = COLUMNS[resource_type].get(canonical)
    if mapped is None:
        return None
    c = (table if table is not None else TABLES[resource_type]).c
    return c[mapped.column], (c[mapped.key] if mapped.key else None)


def document_columns(resource_type: str, document: dict) -> dict:
    """The column values a stored ``document`` of ``resource_type`` gives its row."""
    values: dict = {}
    for (name, *rest), mapped in COLUMNS[resource_type].items():
        if not mapped.from_document or rest:
            continue
        value = document.get(name, mapped.default)
        if isinstance(mapped.default, bool):
            value = bool(value)
        values[mapped.column] = value
        if mapped.key:
            values[mapped.key] = value.casefold()
    return values


def member_display(link=team_members, user=users) -> ColumnElement:
    """A member's ``display`` over ``link`` (team_members) joined to ``user`` (users)."""
    return func.coalesce(func.nullif(link.c.display, ""), func.nullif(user.c.display_name, ""), user.c.user_name)


def member_query(team_ids: Iterable[str] | str):
    """The member rows of one Team (an id) or several (ids), in the order they were added:
    ``team_id``, ``user_id``, ``display``."""
    where = (team_members.c.team_id == team_ids if isinstance(team_ids, str)
             else team_members.c.team_id.in_(list(team_ids)))
    return (
        select(team_members.c.team_id, team_members.c.user_id, member_display().label("display"))
        .join(users, users.c.id == team_members.c.user_id)
        .where(where)
        .order_by(team_members.c.created_at, team_members.c.user_id)
    )


def member_refs(rows: Iterable) -> list[dict]:
    """Member rows (``member_query``) as the values of a Group's ``members``."""
    return [{"value": row.user_id, "display": row.display, "type": MEMBER_TYPE} for row in rows]


def group_ref(team_id: str, display_name: str) -> dict:
    """A User's group as a value of its ``groups``."""
    return {"value": team_id, "display": display_name, "type": GROUP_TYPE}
