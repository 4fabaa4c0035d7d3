"""SQL adapters for the provisioning service's ports (``domain.provisioning``), on a sync Connection.

Membership is rows: adding and removing members are set operations (``INSERT … ON CONFLICT DO
NOTHING`` / ``DELETE … RETURNING``) whose cost grows with the change, never with the Team.
Reads that lock (``lock=True``) take a row lock on PostgreSQL; SQLite's write transactions are
already serialised (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from domain.errors import Uniqueness
from domain.filter import ast
from domain.provisioning import TeamRecord, UserRecord, display_name_taken, user_name_taken
from infra.store import counts
from infra.store.clock import utcnow
from infra.store.columns import document_columns, group_ref, member_query, member_refs
from infra.store.filter_sql import compile_member_filter
from infra.store.tables import team_members, teams, users

# Stay well under SQLite's bound-parameter limit and PostgreSQL's message size.
CHUNK = 500


def chunks(items: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_for(conn: Connection, table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


# Statements built once: their compiled form is cached, and each execution only binds values.
_INSERT_USER = users.insert()
_INSERT_TEAM = teams.insert()
_USER_NAME_IN_USE = (
    select(users.c.id)
    .where(users.c.org_id == bindparam("org_id"), users.c.user_name_key == bindparam("key"),
           users.c.id != bindparam("exclude"))
    .limit(1)
)


def user_columns(record: UserRecord) -> dict:
    return {"id": record.id, "org_id": record.org_id, **document_columns("User", record.document),
            **_record_columns(record)}


def team_columns(record: TeamRecord) -> dict:
    return {"id": record.id, "org_id": record.org_id, **document_columns("Group", record.document),
            "idp_managed": record.idp_managed, **_record_columns(record)}


def _record_columns(record: UserRecord | TeamRecord) -> dict:
    return {"resource": record.document, "version": record.version, "created_at": record.created,
            "updated_at": record.updated}


def user_from_row(row) -> UserRecord:
    return UserRecord(row.id, row.org_id, row.resource, row.version, row.created_at, row.updated_at)


def team_from_row(row) -> TeamRecord:
    return TeamRecord(
        row.id, row.org_id, row.resource, row.version, row.created_at, row.updated_at, bool(row.idp_managed)
    )


class _CountedRows:
    """A repository whose inserts and deletes change its organization's count (``counts``): into
    the unit of work's ``tally`` (written at commit), or, without one, at once."""

    def __init__(self, conn: Connection, tally: counts.Tally | None = None):
        self.conn = conn
        self.tally = tally

    def _count(self, org_id: str, resource_type: str, delta: int) -> None:
        if self.tally is not None:
            self.tally.add(org_id, resource_type, delta)
        else:
            counts.adjust(self.conn, org_id, resource_type, delta)


class SqlUsers(_CountedRows):

    def get(self, org_id: str, user_id: str, *, lock: bool = False) -> UserRecord | None:
        query = select(users).where(users.c.id == user_id, users.c.org_id == org_id)
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return user_from_row(row) if row else None

    def user_name_in_use(self, org_id: str, user_name: str, *, exclude_id: str | None = None) -> bool:
        row = self.conn.execute(
            _USER_NAME_IN_USE, {"org_id": org_id, "key": user_name.casefold(), "exclude": exclude_id or ""}
        ).first()
        return row is not None

    def insert(self, record: UserRecord) -> None:
        try:
            self.conn.execute(_INSERT_USER, user_columns(record))
        except IntegrityError:
            # The unique (org, case-folded userName) index decides; the caller's savepoint rolls back.
            raise Uniqueness(user_name_taken(record.document["userName"])) from None
        self._count(record.org_id, "User", 1)

    def update(self, record: UserRecord) -> None:
        values = user_columns(record)
        del values["id"], values["org_id"], values["created_at"]
        self.conn.execute(update(users).where(users.c.id == record.id).values(**values))

    def delete(self, org_id: str, user_id: str) -> list[str] | None:
        left = self.conn.execute(
            delete(team_members).where(team_members.c.user_id == user_id, team_members.c.org_id == org_id)
            .returning(team_members.c.team_id)
        )
        teams_left = [row.team_id for row in left]
        deleted = self.conn.execute(delete(users).where(users.c.id == user_id, users.c.org_id == org_id)).rowcount
        self._count(org_id, "User", -deleted)
        return teams_left if deleted else None

    def groups_of(self, org_id: str, user_id: str) -> list[dict]:
        rows = self.conn.execute(
            select(teams.c.id, teams.c.display_name)
            .join(team_members, team_members.c.team_id == teams.c.id)
            .where(team_members.c.user_id == user_id, teams.c.org_id == org_id)
            .order_by(teams.c.seq)
        )
        return [group_ref(row.id, row.display_name) for row in rows]


class SqlTeams(_CountedRows):

    def get(self, org_id: str, team_id: str, *, lock: bool = False) -> TeamRecord | None:
        query = select(teams).where(teams.c.id == team_id, teams.c.org_id == org_id)
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return team_from_row(row) if row else None

    def display_name_in_use(self, org_id: str, display_name: str, *, exclude_id: str | None = None) -> bool:
        query = select(teams.c.id).where(
            teams.c.org_id == org_id, teams.c.display_name_key == display_name.casefold()
        )
        if exclude_id:
            query = query.where(teams.c.id != exclude_id)
        return self.conn.execute(query.limit(1)).first() is not None

    def insert(self, record: TeamRecord) -> None:
        try:
            self.conn.execute(_INSERT_TEAM, team_columns(record))
        except IntegrityError:
            raise Uniqueness(display_name_taken(record.document["displayName"])) from None
        self._count(record.org_id, "Group", 1)

    def update(self, record: TeamRecord) -> None:
        values = team_columns(record)
        del values["id"], values["org_id"], values["created_at"], values["idp_managed"]
        try:
            self.conn.execute(update(teams).where(teams.c.id == record.id).values(**values))
        except IntegrityError:
            raise Uniqueness(display_name_taken(record.document["displayName"])) from None

    def delete(self, org_id: str, team_id: str) -> None:
        self.conn.execute(delete(team_members).where(team_members.c.team_id == team_id))
        deleted = self.conn.execute(delete(teams).where(teams.c.id == team_id, teams.c.org_id == org_id)).rowcount
        self._count(org_id, "Group", -deleted)

    def existing_user_ids(self, org_id: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(list(dict.fromkeys(ids))):
            rows = self.conn.execute(select(users.c.id).where(users.c.org_id == org_id, users.c.id.in_(part)))
            found.update(row.id for row in rows)
        return found

    def existing_team_ids(self, org_id: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(list(dict.fromkeys(ids))):
            rows = self.conn.execute(select(teams.c.id).where(teams.c.org_id == org_id, teams.c.id.in_(part)))
            found.update(row.id for row in rows)
        return found

    def add_members(
        self, org_id: str, team_id: str, ids: list[str], displays: dict[str, str] | None = None
    ) -> list[str]:
        displays = displays or {}
        now = utcnow()
        added: list[str] = []
        for part in chunks(list(dict.fromkeys(ids))):
            statement = (
                _insert_for(self.conn, team_members)
                .values(
                    [
                        {"team_id": team_id, "user_id": uid, "org_id": org_id, "display": displays.get(uid),
                         "created_at": now}
                        for uid in part
                    ]
                )
                .on_conflict_do_nothing()
                .returning(team_members.c.user_id)
            )
            added.extend(row.user_id for row in self.conn.execute(statement))
        return added

    def remove_members(self, team_id: str, ids: list[str]) -> list[str]:
        removed: list[str] = []
        for part in chunks(list(dict.fromkeys(ids))):
            statement = (
                delete(team_members)
                .where(team_members.c.team_id == team_id, team_members.c.user_id.in_(part))
                .returning(team_members.c.user_id)
            )
            removed.extend(row.user_id for row in self.conn.execute(statement))
        return removed

    def remove_members_matching(self, org_id: str, team_id: str, flt: ast.Filter) -> list[str]:
        matching = select(team_members.c.user_id).join(users, users.c.id == team_members.c.user_id).where(
            team_members.c.team_id == team_id, compile_member_filter(flt, self.conn.dialect.name)
        )
        statement = (
            delete(team_members)
            .where(team_members.c.team_id == team_id, team_members.c.user_id.in_(matching.scalar_subquery()))
            .returning(team_members.c.user_id)
        )
        return [row.user_id for row in self.conn.execute(statement)]

    def remove_all_members(self, team_id: str) -> list[str]:
        statement = delete(team_members).where(team_members.c.team_id == team_id).returning(team_members.c.user_id)
        return [row.user_id for row in self.conn.execute(statement)]

    def members_of(self, team_id: str) -> list[dict]:
        return member_refs(self.conn.execute(member_query(team_id)))
