"""The management read model in SQL (``domain.management.ManagementViews``): what the management
API and the CLI show of an organization as SCIM left it.

Reads never load a tenant into Python: counts are SQL aggregates and lists are one page. The
rules (who may see what, paging bounds, what is not found) live in ``domain.management``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, case, func, select

from domain.management_views import Page
from infra.store.repositories import chunks
from infra.store.tables import team_members, teams, users


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def _primary_email(document: dict) -> str | None:
    emails = document.get("emails") or []
    for email in emails:
        if isinstance(email, dict) and email.get("primary"):
            return email.get("value")
    return emails[0].get("value") if emails and isinstance(emails[0], dict) else None


def _user_view(row, team_list: list[dict]) -> dict:
    return {
        "id": row.id,
        "userName": row.user_name,
        "displayName": row.display_name,
        "email": _primary_email(row.resource or {}),
        "externalId": row.external_id,
        "active": bool(row.active),
        "idpManaged": True,  # every user in this store was created through SCIM
        "teams": team_list,
        "created": _iso(row.created_at),
        "lastModified": _iso(row.updated_at),
    }


def _team_view(row, counts: tuple[int, int]) -> dict:
    return {
        "id": row.id,
        "name": row.display_name,
        "externalId": row.external_id,
        "idpManaged": bool(row.idp_managed),
        "memberCount": counts[0],
        "activeMemberCount": counts[1],
        "created": _iso(row.created_at),
        "lastModified": _iso(row.updated_at),
    }


class SqlManagementViews:
    def __init__(self, conn: Connection):
        self.conn = conn

    def counts(self, org_id: str) -> dict:
        user_counts = self.conn.execute(
            select(func.count(), func.coalesce(func.sum(case((users.c.active, 1), else_=0)), 0)).where(
                users.c.org_id == org_id
            )
        ).one()
        team_counts = self.conn.execute(
            select(func.count(), func.coalesce(func.sum(case((teams.c.idp_managed, 1), else_=0)), 0)).where(
                teams.c.org_id == org_id
            )
        ).one()
        return {
            "users": int(user_counts[0]),
            "activeUsers": int(user_counts[1]),
            "inactiveUsers": int(user_counts[0]) - int(user_counts[1]),
            "teams": int(team_counts[0]),
            "idpManagedTeams": int(team_counts[1]),
        }

    def users(self, org_id: str, page: Page) -> dict:
        total, rows = self._paged(users, org_id, page)
        team_map = self._teams_of_users(org_id, [row.id for row in rows])
        return {
            "users": [_user_view(row, team_map[row.id]) for row in rows],
            "page": page.number,
            "pageSize": page.size,
            "totalResults": int(total),
        }

    def user(self, org_id: str, user_id: str) -> dict | None:
        row = self.conn.execute(select(users).where(users.c.org_id == org_id, users.c.id == user_id)).first()
        if row is None:
            return None
        return _user_view(row, self._teams_of_users(org_id, [row.id])[row.id])

    def teams(self, org_id: str, page: Page) -> dict:
        total, rows = self._paged(teams, org_id, page)
        counts = self._member_counts([row.id for row in rows])
        return {
            "teams": [_team_view(row, counts[row.id]) for row in rows],
            "page": page.number,
            "pageSize": page.size,
            "totalResults": int(total),
        }

    def team(self, org_id: str, team_id: str, members: Page) -> dict | None:
        row = self.conn.execute(select(teams).where(teams.c.org_id == org_id, teams.c.id == team_id)).first()
        if row is None:
            return None
        view = _team_view(row, self._member_counts([row.id])[row.id])
        found = self.conn.execute(
            select(users.c.id, users.c.user_name, users.c.display_name, users.c.active)
            .join(team_members, team_members.c.user_id == users.c.id)
            .where(team_members.c.team_id == team_id)
            .order_by(team_members.c.created_at, team_members.c.user_id)
            .offset(members.offset).limit(members.size)
        )
        view["members"] = [
            {"id": m.id, "userName": m.user_name, "displayName": m.display_name, "active": bool(m.active)}
            for m in found
        ]
        view["membersPage"] = {"page": members.number, "pageSize": members.size, "totalResults": view["memberCount"]}
        return view

    # -- helpers ----------------------------------------------------------------------------------

    def _paged(self, table, org_id: str, page: Page) -> tuple[int, list]:
        """``(total, rows)``: one page of an organization's ``table`` in creation order."""
        total = self.conn.execute(
            select(func.count()).select_from(table).where(table.c.org_id == org_id)
        ).scalar_one()
        rows = self.conn.execute(
            select(table).where(table.c.org_id == org_id).order_by(table.c.seq).offset(page.offset).limit(page.size)
        ).all()
        return total, list(rows)

    def _teams_of_users(self, org_id: str, user_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {uid: [] for uid in user_ids}
        for part in chunks(user_ids):
            rows = self.conn.execute(
                select(team_members.c.user_id, teams.c.id, teams.c.display_name, teams.c.idp_managed)
                .join(teams, teams.c.id == team_members.c.team_id)
                .where(team_members.c.user_id.in_(part), teams.c.org_id == org_id)
                .order_by(teams.c.seq)
            )
            for row in rows:
                found[row.user_id].append(
                    {"id": row.id, "name": row.display_name, "idpManaged": bool(row.idp_managed)}
                )
        return found

    def _member_counts(self, team_ids: list[str]) -> dict[str, tuple[int, int]]:
        counts = {tid: (0, 0) for tid in team_ids}
        for part in chunks(team_ids):
            rows = self.conn.execute(
                select(
                    team_members.c.team_id,
                    func.count().label("members"),
                    func.coalesce(func.sum(case((users.c.active, 1), else_=0)), 0).label("active"),
                )
                .join(users, users.c.id == team_members.c.user_id)
                .where(team_members.c.team_id.in_(part))
                .group_by(team_members.c.team_id)
            )
            for row in rows:
                counts[row.team_id] = (int(row.members), int(row.active))
        return counts
