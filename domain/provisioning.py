"""The provisioning service: applies one command to the user/Team store through its ports.

Pure logic. The store is reached only through the ``UserStore`` and ``TeamStore`` protocols
(SQL adapters in ``infra.store.repositories``, in-memory fakes in the unit tests); time and id
generation are injected. Every failure raises a ``ScimError``; the caller (a worker) runs each
command in a savepoint and rolls it back on error, which makes a command all-or-nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Protocol

from domain import commands as c
from domain import events as ev
from domain.errors import InvalidValue, NotFound, PreconditionFailed, Uniqueness
from domain.patch import apply_patch, parse_patch_request
from domain.resource import normalize


@dataclass
class StoredResource:
    """A resource as the store keeps it: its SCIM document (no id, meta or memberships) and version."""

    id: str
    org_id: str
    document: dict
    version: int
    created: datetime
    updated: datetime


@dataclass
class UserRecord(StoredResource):
    pass


@dataclass
class TeamRecord(StoredResource):
    idp_managed: bool = True


def user_name_taken(user_name: str) -> str:
    return f"A user with userName {user_name!r} already exists in this organization"


def display_name_taken(display_name: str) -> str:
    return f"A Team with displayName {display_name!r} already exists in this organization"


class UserStore(Protocol):
    """``insert`` raises ``Uniqueness`` when the userName is taken (the store's unique key decides)."""

    def get(self, org_id: str, user_id: str, *, lock: bool = False) -> UserRecord | None: ...
    def user_name_in_use(self, org_id: str, user_name: str, *, exclude_id: str | None = None) -> bool: ...
    def insert(self, record: UserRecord) -> None: ...
    def update(self, record: UserRecord) -> None: ...
    def delete(self, org_id: str, user_id: str) -> list[str] | None:
        """Delete the user and its memberships: the ids of the Teams it left, or None if no such user."""
        ...

    def groups_of(self, org_id: str, user_id: str) -> list[dict]: ...


class TeamStore(Protocol):
    """``insert`` and ``update`` raise ``Uniqueness`` when the displayName is taken."""

    def get(self, org_id: str, team_id: str, *, lock: bool = False) -> TeamRecord | None: ...
    def display_name_in_use(self, org_id: str, display_name: str, *, exclude_id: str | None = None) -> bool: ...
    def insert(self, record: TeamRecord) -> None: ...
    def update(self, record: TeamRecord) -> None: ...
    def delete(self, org_id: str, team_id: str) -> None: ...
    def existing_user_ids(self, org_id: str, ids: list[str]) -> set[str]: ...
    def existing_team_ids(self, org_id: str, ids: list[str]) -> set[str]: ...
    def add_members(
        self, org_id: str, team_id: str, ids: list[str], displays: dict[str, str] | None = None
    ) -> list[str]: ...
    def remove_members(self, team_id: str, ids: list[str]) -> list[str]: ...
    def remove_members_matching(self, org_id: str, team_id: str, flt) -> list[str]: ...
    def remove_all_members(self, team_id: str) -> list[str]: ...
    def members_of(self, team_id: str) -> list[dict]: ...


@dataclass
class Outcome:
    """What a successfully applied command answers and records."""

    status: int
    view: dict | None
    event: ev.AuditEvent
    before: dict | None = None  # the stored document before the change, when there was one


# Marks the audit event of an applied command that changed nothing stored (Okta re-sends a
# Team's unchanged name before every membership change; IdPs re-push unchanged profiles), so
# dashboards can tell them from real changes.
UNCHANGED = {"unchanged": True}


def etag_for(version: int) -> str:
    return f'W/"{version}"'


def _check_if_match(if_match: str | None, version: int) -> None:
    if not if_match:
        return
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates:
        return
    current = etag_for(version)
    strong = f'"{version}"'
    if current not in candidates and strong not in candidates:
        raise PreconditionFailed(f"If-Match {if_match} does not match the current version {current}")


def _view(record: UserRecord | TeamRecord, computed_name: str, computed: list[dict] | None) -> dict:
    """What a reply carries: the stored resource, rendered by the ingress for the client."""
    view = {
        "id": record.id,
        "document": record.document,
        "created": record.created.isoformat(),
        "updated": record.updated.isoformat(),
        "version": record.version,
    }
    if computed is not None:
        view[computed_name] = computed
    return view


def user_view(record: UserRecord, groups: list[dict] | None = None) -> dict:
    return _view(record, "groups", groups)


def team_view(record: TeamRecord, members: list[dict] | None = None) -> dict:
    return _view(record, "members", members)


def _with_password(changed: list[str], supplied: bool, command: c._Writes | c._Patches) -> list[str]:
    """The changed attribute names, plus ``password`` when one was sent (its value never kept;
    the ingress drops it before queueing and says so in ``password_supplied``)."""
    if supplied or command.password_supplied:
        return changed + ["password"]
    return changed


def _user_update_action(before: dict, after: dict) -> str:
    was, now = before.get("active", True), after.get("active", True)
    if was and not now:
        return ev.USER_DEACTIVATE
    if now and not was:
        return ev.USER_REACTIVATE
    return ev.USER_UPDATE


@dataclass
class Provisioner:
    users: UserStore
    teams: TeamStore
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    _handlers: dict = field(init=False, repr=False)
    _events: ev.AuditEvents = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._events = ev.AuditEvents(self.clock)
        self._handlers = {
            c.CreateUser: self._create_user,
            c.ReplaceUser: self._replace_user,
            c.PatchUser: self._patch_user,
            c.DeleteUser: self._delete_user,
            c.CreateTeam: self._create_team,
            c.ReplaceTeam: self._replace_team,
            c.PatchTeam: self._patch_team,
            c.DeleteTeam: self._delete_team,
        }

    def handle(self, command: c.Command) -> Outcome:
        outcome = self._handlers[type(command)](command)
        ev.describe_resource(outcome.event, outcome.view["document"] if outcome.view else None, before=outcome.before)
        return outcome

    # -- events -------------------------------------------------------------------------------

    def _event(self, command: c.Command, action: str, status: int, resource_id: str | None, **kw) -> ev.AuditEvent:
        return self._events.applied(command, action, status=status, resource_id=resource_id, **kw)

    # -- users --------------------------------------------------------------------------------

    @staticmethod
    def _load(store: UserStore | TeamStore, command: c.Command):
        """The command's resource, locked for the change; 404, or 412 on an If-Match mismatch."""
        record = store.get(command.org_id, command.resource_id or "", lock=True)
        if record is None:
            raise NotFound(f"{command.resource_type} {command.resource_id} not found")
        _check_if_match(command.if_match, record.version)
        return record

    def _load_user(self, command: c.Command) -> UserRecord:
        return self._load(self.users, command)

    def _ensure_user_name_free(self, org_id: str, user_name: str, exclude_id: str | None = None) -> None:
        if self.users.user_name_in_use(org_id, user_name, exclude_id=exclude_id):
            raise Uniqueness(user_name_taken(user_name))

    def _create_user(self, command: c.CreateUser) -> Outcome:
        normalized = normalize("User", command.body)
        document = normalized.document
        now = self.clock()
        record = UserRecord(self.new_id(), command.org_id, document, 1, now, now)
        self.users.insert(record)
        changed = _with_password(sorted(document), normalized.password_supplied, command)
        event = self._event(command, ev.USER_CREATE, 201, record.id, changed=changed)
        return Outcome(201, user_view(record, []), event)

    def _save_user(self, command: c.Command, record: UserRecord, document: dict, changed: list[str]) -> Outcome:
        before = record.document
        if document.get("userName", "").casefold() != before.get("userName", "").casefold():
            self._ensure_user_name_free(command.org_id, document["userName"], exclude_id=record.id)
        if document != before:
            record = replace(record, document=document, version=record.version + 1, updated=self.clock())
            self.users.update(record)
        action = _user_update_action(before, document)
        detail = UNCHANGED if document == before else {}
        event = self._event(command, action, 200, record.id, changed=changed, detail=detail)
        return Outcome(200, user_view(record, self.users.groups_of(command.org_id, record.id)), event, before)

    def _replace_user(self, command: c.ReplaceUser) -> Outcome:
        record = self._load_user(command)
        normalized = normalize("User", command.body, existing=record.document)
        changed = _with_password(list(normalized.changed), normalized.password_supplied, command)
        return self._save_user(command, record, normalized.document, changed)

    def _patch_user(self, command: c.PatchUser) -> Outcome:
        record = self._load_user(command)
        if command.password_only:
            # Okta's password sync: the password is dropped at the ingress, nothing else changes.
            return self._save_user(command, record, record.document, ["password"])
        operations = parse_patch_request(command.operations)
        patched = apply_patch("User", record.document, operations, resource_id=record.id)
        changed = _with_password(list(patched.changed), patched.password_supplied, command)
        return self._save_user(command, record, patched.document, changed)

    def _delete_user(self, command: c.DeleteUser) -> Outcome:
        record = self._load_user(command)
        self.users.delete(command.org_id, record.id)
        return Outcome(204, None, self._event(command, ev.USER_DELETE, 204, record.id), record.document)

    # -- teams --------------------------------------------------------------------------------

    def _load_team(self, command: c.Command) -> TeamRecord:
        return self._load(self.teams, command)

    def _ensure_display_name_free(self, org_id: str, name: str, exclude_id: str | None = None) -> None:
        if self.teams.display_name_in_use(org_id, name, exclude_id=exclude_id):
            raise Uniqueness(display_name_taken(name))

    def _ensure_members_exist(self, org_id: str, ids: list[str]) -> None:
        if not ids:
            return
        known = self.teams.existing_user_ids(org_id, ids)
        missing = [member for member in ids if member not in known]
        if missing and self.teams.existing_team_ids(org_id, missing):
            raise InvalidValue("nested groups are not supported: a Group cannot be a member of a Group")
        if missing:
            raise InvalidValue(
                f"members must be users of this organization; unknown user id(s): {', '.join(missing[:10])}"
            )

    def _members_if_wanted(self, command: c.CreateTeam | c.ReplaceTeam | c.PatchTeam, team_id: str) -> list[dict] | None:
        return self.teams.members_of(team_id) if command.members_in_reply else None

    def _create_team(self, command: c.CreateTeam) -> Outcome:
        normalized = normalize("Group", command.body)
        document = normalized.document
        member_ids = normalized.member_ids or []
        self._ensure_members_exist(command.org_id, member_ids)
        now = self.clock()
        record = TeamRecord(self.new_id(), command.org_id, document, 1, now, now, idp_managed=True)
        self.teams.insert(record)
        added = (
            self.teams.add_members(command.org_id, record.id, member_ids, normalized.member_displays)
            if member_ids
            else []
        )
        event = self._event(
            command, ev.TEAM_CREATE, 201, record.id, changed=sorted(document), detail=ev.member_detail(added, [])
        )
        return Outcome(201, team_view(record, self._members_if_wanted(command, record.id)), event)

    def _replace_team(self, command: c.ReplaceTeam) -> Outcome:
        record = self._load_team(command)
        before = record.document
        normalized = normalize("Group", command.body, existing=record.document)
        document = normalized.document
        if document["displayName"].casefold() != record.document.get("displayName", "").casefold():
            self._ensure_display_name_free(command.org_id, document["displayName"], exclude_id=record.id)
        added: list[str] = []
        removed: list[str] = []
        if normalized.member_ids is not None:
            self._ensure_members_exist(command.org_id, normalized.member_ids)
            added, removed = self._replace_members(
                command.org_id, record.id, normalized.member_ids, normalized.member_displays
            )
        changed = list(normalized.changed)
        if (added or removed) and "members" not in changed:
            changed.append("members")
        if document != record.document or added or removed:
            record = replace(record, document=document, version=record.version + 1, updated=self.clock())
            self.teams.update(record)
        event = self._event(
            command, ev.TEAM_UPDATE, 200, record.id, changed=changed, detail=ev.member_detail(added, removed)
        )
        return Outcome(200, team_view(record, self._members_if_wanted(command, record.id)), event, before)

    def _replace_members(
        self, org_id: str, team_id: str, ids: list[str], displays: dict[str, str] | None = None
    ) -> tuple[list[str], list[str]]:
        wanted = set(ids)
        current = {member["value"] for member in self.teams.members_of(team_id)}
        removed = self.teams.remove_members(team_id, sorted(current - wanted)) if current - wanted else []
        added = self.teams.add_members(org_id, team_id, [i for i in ids if i not in current], displays)
        return added, removed

    def _patch_team(self, command: c.PatchTeam) -> Outcome:
        record = self._load_team(command)
        before = record.document
        operations = parse_patch_request(command.operations)
        patched = apply_patch("Group", record.document, operations, resource_id=record.id)
        document = patched.document
        document_changed = document != record.document
        if document.get("displayName", "").casefold() != record.document.get("displayName", "").casefold():
            self._ensure_display_name_free(command.org_id, document["displayName"], exclude_id=record.id)
        added: list[str] = []
        removed: list[str] = []
        for change in patched.member_changes:
            if change.kind == "add":
                self._ensure_members_exist(command.org_id, list(change.ids))
                added += self.teams.add_members(command.org_id, record.id, list(change.ids), dict(change.displays))
            elif change.kind == "remove" and change.filter is not None:
                removed += self.teams.remove_members_matching(command.org_id, record.id, change.filter)
            elif change.kind == "remove":
                removed += self.teams.remove_members(record.id, list(change.ids))
            elif change.kind == "remove_all":
                removed += self.teams.remove_all_members(record.id)
            elif change.kind == "replace":
                self._ensure_members_exist(command.org_id, list(change.ids))
                more_added, more_removed = self._replace_members(
                    command.org_id, record.id, list(change.ids), dict(change.displays)
                )
                added += more_added
                removed += more_removed
        if document_changed or added or removed:
            record = replace(record, document=document, version=record.version + 1, updated=self.clock())
            self.teams.update(record)
        only_members = not document_changed
        if only_members and added and not removed:
            action = ev.TEAM_MEMBER_ADD
        elif only_members and removed and not added:
            action = ev.TEAM_MEMBER_REMOVE
        else:
            action = ev.TEAM_UPDATE
        changed = list(patched.changed)
        detail = ev.member_detail(added, removed) if (document_changed or added or removed) else UNCHANGED
        event = self._event(command, action, 200, record.id, changed=changed, detail=detail)
        return Outcome(200, team_view(record, self._members_if_wanted(command, record.id)), event, before)

    def _delete_team(self, command: c.DeleteTeam) -> Outcome:
        record = self._load_team(command)
        self.teams.delete(command.org_id, record.id)
        return Outcome(204, None, self._event(command, ev.TEAM_DELETE, 204, record.id), record.document)
