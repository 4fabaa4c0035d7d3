"""In-memory fakes of the provisioning service's store ports (domain.provisioning)."""

from __future__ import annotations

from dataclasses import replace

from domain.errors import Uniqueness
from domain.provisioning import TeamRecord, UserRecord, display_name_taken, user_name_taken


class FakeUsers:
    def __init__(self, teams: "FakeTeams | None" = None):
        self.rows: dict[str, UserRecord] = {}
        self.teams = teams

    def get(self, org_id, user_id, *, lock=False):
        record = self.rows.get(user_id)
        return replace(record) if record and record.org_id == org_id else None

    def user_name_in_use(self, org_id, user_name, *, exclude_id=None):
        return any(
            r.org_id == org_id and r.document["userName"].casefold() == user_name.casefold() and r.id != exclude_id
            for r in self.rows.values()
        )

    def insert(self, record):
        if self.user_name_in_use(record.org_id, record.document["userName"]):
            raise Uniqueness(user_name_taken(record.document["userName"]))
        self.rows[record.id] = record

    def update(self, record):
        self.rows[record.id] = record

    def delete(self, org_id, user_id):
        self.rows.pop(user_id, None)
        if self.teams:
            for members in self.teams.members.values():
                members.pop(user_id, None)

    def groups_of(self, org_id, user_id):
        if not self.teams:
            return []
        return [
            {"value": team_id, "display": self.teams.rows[team_id].document["displayName"], "type": "direct"}
            for team_id, members in self.teams.members.items()
            if user_id in members
        ]


class FakeTeams:
    def __init__(self):
        self.rows: dict[str, TeamRecord] = {}
        self.members: dict[str, dict[str, None]] = {}  # team id -> ordered set of user ids
        self.users: FakeUsers | None = None

    def get(self, org_id, team_id, *, lock=False):
        record = self.rows.get(team_id)
        return replace(record) if record and record.org_id == org_id else None

    def display_name_in_use(self, org_id, display_name, *, exclude_id=None):
        return any(
            r.org_id == org_id and r.document["displayName"].casefold() == display_name.casefold() and r.id != exclude_id
            for r in self.rows.values()
        )

    def insert(self, record):
        if self.display_name_in_use(record.org_id, record.document["displayName"]):
            raise Uniqueness(display_name_taken(record.document["displayName"]))
        self.rows[record.id] = record
        self.members[record.id] = {}

    def update(self, record):
        self.rows[record.id] = record

    def delete(self, org_id, team_id):
        self.rows.pop(team_id, None)
        self.members.pop(team_id, None)

    def existing_user_ids(self, org_id, ids):
        return {i for i in ids if i in self.users.rows and self.users.rows[i].org_id == org_id}

    def existing_team_ids(self, org_id, ids):
        return {i for i in ids if i in self.rows and self.rows[i].org_id == org_id}

    def add_members(self, org_id, team_id, ids, displays=None):
        added = [i for i in dict.fromkeys(ids) if i not in self.members[team_id]]
        for i in added:
            self.members[team_id][i] = None
        return added

    def remove_members(self, team_id, ids):
        removed = [i for i in dict.fromkeys(ids) if i in self.members[team_id]]
        for i in removed:
            del self.members[team_id][i]
        return removed

    def remove_members_matching(self, org_id, team_id, flt):
        raise NotImplementedError("filter evaluation belongs to the SQL store")

    def remove_all_members(self, team_id):
        removed = list(self.members[team_id])
        self.members[team_id] = {}
        return removed

    def members_of(self, team_id):
        return [
            {"value": i, "display": self.users.rows[i].document.get("displayName"), "type": "User"}
            for i in self.members[team_id]
        ]


def fake_stores() -> tuple[FakeUsers, FakeTeams]:
    teams = FakeTeams()
    users = FakeUsers(teams)
    teams.users = users
    return users, teams
