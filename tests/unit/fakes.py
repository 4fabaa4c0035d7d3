"""In-memory fakes of the store ports (``domain.provisioning``, ``domain.organizations``,
``domain.management_views``) and of the unit of work (``domain.unit_of_work``).

Every write a fake store makes counts in ``writes``; ``FakeUnitOfWork`` refuses to commit a
write after which no audit event was recorded, as the SQL one does, and rolls the fakes back.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from datetime import datetime

from domain.errors import Uniqueness
from domain.filter.ast import AttrPath, Filter
from domain.filter.evaluate import value_predicate
from domain.schema import registry
from domain.events import AuditEvent
from domain.management_views import Page
from domain.operators import OperatorInfo
from domain.organizations import NewToken, Organization, TokenInfo
from domain.provisioning import TeamRecord, UserRecord, display_name_taken, user_name_taken
from domain.unit_of_work import UnrecordedChange


class Writes:
    """Counts the fakes' writes (the SQL unit of work watches its connection's statements)."""

    def __init__(self):
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


class FakeUsers:
    def __init__(self, teams: "FakeTeams | None" = None, writes: Writes | None = None):
        self.rows: dict[str, UserRecord] = {}
        self.teams = teams
        self.wrote = writes or Writes()

    def get(self, org_id: str, user_id: str, *, lock: bool = False) -> UserRecord | None:
        record = self.rows.get(user_id)
        return replace(record) if record and record.org_id == org_id else None

    def user_name_in_use(self, org_id: str, user_name: str, *, exclude_id: str | None = None) -> bool:
        return any(
            r.org_id == org_id and r.document["userName"].casefold() == user_name.casefold() and r.id != exclude_id
            for r in self.rows.values()
        )

    def insert(self, record: UserRecord) -> None:
        if self.user_name_in_use(record.org_id, record.document["userName"]):
            raise Uniqueness(user_name_taken(record.document["userName"]))
        self.wrote()
        self.rows[record.id] = record

    def update(self, record: UserRecord) -> None:
        self.wrote()
        self.rows[record.id] = record

    def delete(self, org_id: str, user_id: str) -> list[str] | None:
        self.wrote()
        record = self.rows.get(user_id)
        if record is None or record.org_id != org_id:
            return None
        del self.rows[user_id]
        memberships = self.teams.members if self.teams else {}
        left = [team_id for team_id, members in memberships.items() if user_id in members]
        for team_id in left:
            del memberships[team_id][user_id]
        return left

    def groups_of(self, org_id: str, user_id: str) -> list[dict]:
        if not self.teams:
            return []
        return [
            {"value": team_id, "display": self.teams.rows[team_id].document["displayName"], "type": "direct"}
            for team_id, members in self.teams.members.items()
            if user_id in members
        ]


class FakeTeams:
    def __init__(self, writes: Writes | None = None):
        self.rows: dict[str, TeamRecord] = {}
        self.members: dict[str, dict[str, str | None]] = {}  # team id -> user id -> display sent
        self.users: FakeUsers | None = None
        self.wrote = writes or Writes()

    def _users(self) -> FakeUsers:
        assert self.users is not None, "fake_stores() links the fake users and Teams"
        return self.users

    def get(self, org_id: str, team_id: str, *, lock: bool = False) -> TeamRecord | None:
        record = self.rows.get(team_id)
        return replace(record) if record and record.org_id == org_id else None

    def display_name_in_use(self, org_id: str, display_name: str, *, exclude_id: str | None = None) -> bool:
        return any(
            r.org_id == org_id and r.document["displayName"].casefold() == display_name.casefold() and r.id != exclude_id
            for r in self.rows.values()
        )

    def insert(self, record: TeamRecord) -> None:
        if self.display_name_in_use(record.org_id, record.document["displayName"]):
            raise Uniqueness(display_name_taken(record.document["displayName"]))
        self.wrote()
        self.rows[record.id] = record
        self.members[record.id] = {}

    def update(self, record: TeamRecord) -> None:
        name = record.document["displayName"]
        if self.display_name_in_use(record.org_id, name, exclude_id=record.id):
            raise Uniqueness(display_name_taken(name))
        self.wrote()
        self.rows[record.id] = record

    def delete(self, org_id: str, team_id: str) -> None:
        self.wrote()
        self.rows.pop(team_id, None)
        self.members.pop(team_id, None)

    def existing_user_ids(self, org_id: str, ids: list[str]) -> set[str]:
        rows = self._users().rows
        return {i for i in ids if i in rows and rows[i].org_id == org_id}

    def existing_team_ids(self, org_id: str, ids: list[str]) -> set[str]:
        return {i for i in ids if i in self.rows and self.rows[i].org_id == org_id}

    def add_members(
        self, org_id: str, team_id: str, ids: list[str], displays: dict[str, str] | None = None
    ) -> list[str]:
        self.wrote()
        added = [i for i in dict.fromkeys(ids) if i not in self.members[team_id]]
        for i in added:
            self.members[team_id][i] = (displays or {}).get(i)  # the display the IdP sent, if any
        return added

    def remove_members(self, team_id: str, ids: list[str]) -> list[str]:
        self.wrote()
        removed = [i for i in dict.fromkeys(ids) if i in self.members[team_id]]
        for i in removed:
            del self.members[team_id][i]
        return removed

    def remove_members_matching(self, org_id: str, team_id: str, flt: Filter) -> list[str]:
        members = registry.resolve("Group", AttrPath(None, "members"))
        assert members is not None
        matches = value_predicate("Group", members, flt)
        return self.remove_members(team_id, [m["value"] for m in self.members_of(team_id) if matches(m)])

    def remove_all_members(self, team_id: str) -> list[str]:
        self.wrote()
        removed = list(self.members[team_id])
        self.members[team_id] = {}
        return removed

    def members_of(self, team_id: str) -> list[dict]:
        rows = self._users().rows

        def shown(user_id: str, sent: str | None) -> str | None:
            document = rows[user_id].document
            return sent or document.get("displayName") or document.get("userName")

        return [
            {"value": i, "display": shown(i, sent), "type": "User"} for i, sent in self.members[team_id].items()
        ]


def fake_stores(writes: Writes | None = None) -> tuple[FakeUsers, FakeTeams]:
    writes = writes or Writes()
    teams = FakeTeams(writes)
    users = FakeUsers(teams, writes)
    teams.users = users
    return users, teams


class FakeOrganizations:
    def __init__(self, writes: Writes):
        self.rows: dict[str, Organization] = {}  # in creation order
        self.wrote = writes
        self.locked: list[str] = []

    def get(self, org_id: str, *, lock: bool = False) -> Organization | None:
        if lock:
            self.locked.append(org_id)
        return self.rows.get(org_id)

    def all(self) -> list[Organization]:
        return list(self.rows.values())

    def insert(self, org: Organization, created: datetime) -> None:
        self.wrote()
        self.rows[org.id] = org

    def set_scim_enabled(self, org_id: str, enabled: bool) -> None:
        self.wrote()
        self.rows[org_id] = replace(self.rows[org_id], scim_enabled=enabled)


class FakeTokens:
    def __init__(self, writes: Writes):
        self.rows: dict[str, dict] = {}  # id -> {"org_id", "role", "name", "revoked"}
        self.wrote = writes
        self._ids = itertools.count(1)

    def create(self, org_id: str, role: str, name: str | None, created: datetime) -> NewToken:
        self.wrote()
        token_id = f"tok{next(self._ids)}"
        self.rows[token_id] = {"org_id": org_id, "role": role, "name": name, "revoked": False}
        return NewToken(token_id, f"sgt-secret-{token_id}")

    def revoke(self, token_id: str, when: datetime, org_id: str | None = None) -> str | None:
        row = self.rows.get(token_id)
        if row is None or row["revoked"] or (org_id is not None and row["org_id"] != org_id):
            return None
        self.wrote()
        row["revoked"] = True
        return row["org_id"]

    def all_of(self, org_id: str) -> list[TokenInfo]:
        return [TokenInfo(token_id, row["role"], row["name"], datetime(2026, 1, 1), None,
                          datetime(2026, 1, 1) if row["revoked"] else None)
                for token_id, row in self.rows.items() if row["org_id"] == org_id]


class FakeOperators:
    def __init__(self, writes: Writes):
        self.rows: dict[str, OperatorInfo] = {}
        self.wrote = writes
        self._ids = itertools.count(1)

    def create(self, name: str, created: datetime) -> NewToken:
        self.wrote()
        operator_id = f"op{next(self._ids)}"
        self.rows[operator_id] = OperatorInfo(operator_id, name, created, None, None)
        return NewToken(operator_id, f"sgo-secret-{operator_id}")

    def all(self) -> list[OperatorInfo]:
        return list(self.rows.values())

    def revoke(self, operator_id: str, when: datetime) -> bool:
        row = self.rows.get(operator_id)
        if row is None or row.revoked is not None:
            return False
        self.wrote()
        self.rows[operator_id] = replace(row, revoked=when)
        return True


class FakeViews:
    """Just enough of the read model to show what the service changed."""

    def __init__(self, users: FakeUsers, teams: FakeTeams):
        self.users_, self.teams_ = users, teams

    def counts(self, org_id: str) -> dict:
        users = [u for u in self.users_.rows.values() if u.org_id == org_id]
        teams = [t for t in self.teams_.rows.values() if t.org_id == org_id]
        active = sum(1 for u in users if u.document.get("active", True))
        return {"users": len(users), "activeUsers": active, "inactiveUsers": len(users) - active,
                "teams": len(teams), "idpManagedTeams": sum(1 for t in teams if t.idp_managed)}

    def users(self, org_id: str, page: Page) -> dict:
        rows = [u for u in self.users_.rows.values() if u.org_id == org_id]
        shown = rows[page.offset:page.offset + page.size]
        return {"users": [self.user(org_id, u.id) for u in shown], "page": page.number, "pageSize": page.size,
                "totalResults": len(rows)}

    def user(self, org_id: str, user_id: str) -> dict | None:
        record = self.users_.get(org_id, user_id)
        if record is None:
            return None
        teams = [t for t, members in self.teams_.members.items() if user_id in members]
        return {"id": user_id, "userName": record.document["userName"], "teams": teams}

    def teams(self, org_id: str, page: Page) -> dict:
        rows = [t for t in self.teams_.rows.values() if t.org_id == org_id]
        shown = rows[page.offset:page.offset + page.size]
        return {"teams": [self.team(org_id, t.id, page) for t in shown], "page": page.number,
                "pageSize": page.size, "totalResults": len(rows)}

    def team(self, org_id: str, team_id: str, members: Page) -> dict | None:
        record = self.teams_.get(org_id, team_id)
        if record is None:
            return None
        ids = list(self.teams_.members[team_id])
        return {"id": team_id, "name": record.document["displayName"], "idpManaged": record.idp_managed,
                "version": record.version, "memberCount": len(ids),
                "members": ids[members.offset:members.offset + members.size]}


class FakeUnitOfWork:
    """The unit of work on the fakes: a change commits with its events, or is rolled back."""

    def __init__(self) -> None:
        self.writes = Writes()
        self.users, self.teams = fake_stores(self.writes)
        self.organizations = FakeOrganizations(self.writes)
        self.tokens = FakeTokens(self.writes)
        self.operators = FakeOperators(self.writes)
        self.views = FakeViews(self.users, self.teams)
        self.committed: list[AuditEvent] = []  # the audit events of every committed transaction, in order
        self._open = False

    def _state(self):
        return copy.deepcopy((self.users.rows, self.teams.rows, self.teams.members, self.organizations.rows,
                              self.tokens.rows, self.operators.rows))

    def __enter__(self) -> FakeUnitOfWork:
        assert not self._open, "a unit of work is already open"
        self._open, self._snapshot = True, self._state()
        self._pending: list[AuditEvent] = []
        self._recorded_at = self.writes.count
        return self

    def __exit__(self, *exc: object) -> None:
        if self._open:  # left without commit: everything goes back
            (self.users.rows, self.teams.rows, self.teams.members, self.organizations.rows,
             self.tokens.rows, self.operators.rows) = self._snapshot
        self._open = False

    def record(self, event: AuditEvent) -> None:
        self._pending.append(event)
        self._recorded_at = self.writes.count

    def commit(self) -> None:
        if self.writes.count != self._recorded_at:
            raise UnrecordedChange("a change was made without recording its audit event")
        self.committed += self._pending
        self._open = False
