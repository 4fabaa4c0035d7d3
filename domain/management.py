"""The organization management service: what an organization's admins may see and change.

The management API (``api/management.py``) and the CLI (``scimgate org|token|scim|users|teams``)
both call this service; first start (``scimgate run``) does too. It reaches the store only
through a unit of work (``domain.unit_of_work``): the provisioning service's ports (``UserStore``,
``TeamStore``), the ``OrganizationStore`` and ``TokenStore`` (``domain.organizations``), and the
``ManagementViews`` read model (``domain.management_views``). Every call is one transaction; a
change commits together with its audit event (the unit of work refuses a change that recorded
none).

The product's rules ("Teams and SCIM provisioning"):

- SCIM provisioning can be turned on only on the Enterprise tier.
- While SCIM is on, the identity provider is the source of truth: creating Teams and adding users
  to Teams are refused, and IdP-managed Teams (made through SCIM) cannot be renamed, deleted or
  lose members.
- Teams made before SCIM was turned on (here, not by the IdP) can still lose members, be renamed
  and be deleted.
- A user can always be deleted (the IdP may have removed them without telling us).
- While SCIM is off everything is allowed.

Every write first takes the organization's row (``OrganizationStore.get(lock=True)``), so a write
and a concurrent SCIM toggle are serialised and "SCIM is on" holds until commit.

Errors carry meaning, never an HTTP status (``domain.management_errors``): ``InvalidRequest``,
``NotFound``, and the refusals of the rules above (``Refused``: ``ScimManaged``, ``NameTaken``,
``EnterpriseTierRequired``). The API maps them to statuses and audits the refusals
(``record_refusal``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from domain import events as ev
from domain.clock import Clock
from domain.errors import ScimError, Uniqueness
from domain.management_errors import (
    Attempt,
    EnterpriseTierRequired,
    InvalidRequest,
    NotFound,
    Refused,
    UnknownUsers,
    name_taken,
    not_found,
    scim_managed,
)
from domain.management_views import FIRST_PAGE, Page, page_of
from domain.organizations import CLI, ENTERPRISE, FIRST_START, ROLES, TIERS, ManagementActor, NewToken, Organization
from domain.provisioning import TeamRecord
from domain.resource import normalize

if TYPE_CHECKING:
    from domain.unit_of_work import UnitOfWork

MAX_NAME_LENGTH = 512
MAX_ORG_NAME_LENGTH = 255
MAX_USER_IDS = 1000


@dataclass(frozen=True)
class FirstStart:
    """What first start found (``existing``) or made (``created``, with an owner token if asked)."""

    existing: list[Organization]
    created: Organization | None = None
    token: NewToken | None = None


# -- checks -------------------------------------------------------------------------------------


def _valid_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"name must be at most {MAX_NAME_LENGTH} characters")
    return name.strip()


def _valid_org_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_ORG_NAME_LENGTH:
        raise InvalidRequest(f"an organization's name must be a non-empty string of at most {MAX_ORG_NAME_LENGTH} "
                             "characters")
    return name


def _valid_user_ids(user_ids) -> list[str]:
    if not isinstance(user_ids, list) or not all(isinstance(u, str) and u for u in user_ids):
        raise InvalidRequest("userIds must be a list of user ids")
    if len(user_ids) > MAX_USER_IDS:
        raise InvalidRequest(f"at most {MAX_USER_IDS} userIds per request")
    return list(dict.fromkeys(user_ids))


def _team_document(name: str) -> dict:
    try:
        return normalize("Group", {"displayName": name}).document
    except ScimError as error:
        raise InvalidRequest(error.detail) from None


def _summary(org: Organization, counts: dict) -> dict:
    return {"id": org.id, "name": org.name, "tier": org.tier, "scimEnabled": org.scim_enabled, "counts": counts}


@contextmanager
def _attempting(org_id: str, action: str, resource_type: str | None = None, resource_id: str | None = None):
    """Names the write on a refusal that leaves the block, so that the refusal can be audited."""
    try:
        yield
    except Refused as refusal:
        if refusal.attempt is None:
            refusal.attempt = Attempt(org_id, action, resource_type, resource_id)
        raise


# -- the service --------------------------------------------------------------------------------


class Management:
    def __init__(self, uow: UnitOfWork, *, clock: Clock, new_id: Callable[[], str], new_org_id: Callable[[], str]):
        self.uow = uow
        self.clock = clock
        self.new_id = new_id
        self.new_org_id = new_org_id
        self.events = ev.AuditEvents(clock)

    # -- reads ----------------------------------------------------------------------------------

    def organizations(self) -> list[Organization]:
        with self.uow as uow:
            return uow.organizations.all()

    def organization(self, org_id: str) -> dict:
        with self.uow as uow:
            return _summary(self._org(uow, org_id), uow.views.counts(org_id))

    def users(self, org_id: str, page=None, page_size=None) -> dict:
        with self.uow as uow:
            self._org(uow, org_id)
            return uow.views.users(org_id, page_of(page, page_size))

    def user(self, org_id: str, user_id: str) -> dict:
        with self.uow as uow:
            self._org(uow, org_id)
            found = uow.views.user(org_id, user_id)
            if found is None:
                raise not_found("User", user_id)
            return found

    def teams(self, org_id: str, page=None, page_size=None) -> dict:
        with self.uow as uow:
            self._org(uow, org_id)
            return uow.views.teams(org_id, page_of(page, page_size))

    def team(self, org_id: str, team_id: str, page=None, page_size=None) -> dict:
        """A Team with one page of its members (``page``/``pageSize`` page through the members)."""
        with self.uow as uow:
            self._org(uow, org_id)
            return self._team_view(uow, org_id, team_id, page_of(page, page_size))

    # -- organizations, tokens, the SCIM toggle -------------------------------------------------

    def create_organization(self, name, tier: str = ENTERPRISE, actor: ManagementActor = CLI) -> Organization:
        with self.uow as uow:
            org = self._create_organization(uow, name, tier, actor)
            uow.commit()
            return org

    def create_token(self, org_id: str, role: str, name: str | None = None, actor: ManagementActor = CLI) -> NewToken:
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        with self.uow as uow:
            token = self._create_token(uow, self._org(uow, org_id), role, name, actor)
            uow.commit()
            return token

    def tokens(self, org_id: str) -> list[dict]:
        """The organization's tokens: ids, roles and times, never a token or its hash."""
        with self.uow as uow:
            self._org(uow, org_id)
            return [token.to_dict() for token in uow.tokens.all_of(org_id)]

    def revoke_token(self, token_id: str, actor: ManagementActor = CLI, *, org_id: str | None = None) -> bool:
        """Revoke a live token by id (only one of ``org_id`` when given); audited."""
        with self.uow as uow:
            token_org = uow.tokens.revoke(token_id, self.clock(), org_id)
            if token_org is None:
                return False
            self._audit(uow, token_org, actor, ev.ORG_TOKEN_REVOKE, status=200, resource_type="Token",
                        resource_id=token_id)
            uow.commit()
            return True

    def first_start(self, *, owner_token: bool) -> FirstStart:
        """On an empty store: an enterprise organization with SCIM on (and an owner token if asked),
        in one transaction, each audited like any other change. Otherwise: the organizations there."""
        with self.uow as uow:
            existing = uow.organizations.all()
            if existing:
                return FirstStart(existing)
            org = self._create_organization(uow, "Default organization", ENTERPRISE, FIRST_START)
            org = self._set_scim(uow, org, True, FIRST_START)
            token = None
            if owner_token:
                token = self._create_token(uow, org, "owner", "first-start owner token", FIRST_START)
            uow.commit()
            return FirstStart([], org, token)

    def set_scim(self, org_id: str, enabled, actor: ManagementActor = CLI) -> dict:
        """Turn SCIM provisioning on or off (on: Enterprise tier only); the organization's summary."""
        if not isinstance(enabled, bool):
            raise InvalidRequest('send {"enabled": true} or {"enabled": false}')
        action = ev.ORG_SCIM_ENABLE if enabled else ev.ORG_SCIM_DISABLE
        with _attempting(org_id, action, "Organization", org_id), self.uow as uow:
            org = self._org(uow, org_id, lock=True)
            now = self._set_scim(uow, org, enabled, actor)
            summary = _summary(now, uow.views.counts(org_id))
            if now != org:  # unchanged: nothing to commit, no event
                uow.commit()
            return summary

    # -- users ----------------------------------------------------------------------------------

    def delete_user(self, org_id: str, user_id: str, actor: ManagementActor = CLI) -> dict:
        """Remove a user from the organization and every Team. Allowed whether or not SCIM is on."""
        with _attempting(org_id, ev.ORG_USER_DELETE, "User", user_id), self.uow as uow:
            self._org(uow, org_id, lock=True)
            record = uow.users.get(org_id, user_id)
            if record is None:
                raise not_found("User", user_id)
            # Like SCIM's DELETE /Users: membership rows and the user row go; Team rows are not
            # touched (no version bump), and the user row is not locked before its memberships
            # go, so this never waits for a lock in the reverse of the order a worker's
            # membership PATCH takes them in (no deadlock on PostgreSQL).
            left = uow.users.delete(org_id, user_id)
            if left is None:
                raise not_found("User", user_id)  # deleted meanwhile (by the IdP's DELETE)
            self._audit(uow, org_id, actor, ev.ORG_USER_DELETE, status=204, resource_type="User", resource_id=user_id,
                        resource_name=record.document.get("userName"),
                        detail={"teams_removed": len(left), "teams_removed_ids": left[: ev.MAX_LISTED_MEMBERS]})
            uow.commit()
            return {"id": user_id, "userName": record.document.get("userName"), "removedFromTeams": left}

    # -- teams ----------------------------------------------------------------------------------

    def create_team(self, org_id: str, name, user_ids=None, actor: ManagementActor = CLI) -> dict:
        with _attempting(org_id, ev.ORG_TEAM_CREATE, "Team"), self.uow as uow:
            org = self._org(uow, org_id, lock=True)
            if org.scim_enabled:
                raise scim_managed("create a Team")
            name = _valid_name(name)
            member_ids = _valid_user_ids(user_ids) if user_ids is not None else []
            document = _team_document(name)
            if uow.teams.display_name_in_use(org_id, name):
                raise name_taken(name)
            self._users_exist(uow, org_id, member_ids)
            now = self.clock()
            record = TeamRecord(self.new_id(), org_id, document, 1, now, now, idp_managed=False)
            try:
                uow.teams.insert(record)
            except Uniqueness:
                raise name_taken(name) from None
            added = uow.teams.add_members(org_id, record.id, member_ids) if member_ids else []
            self._audit(uow, org_id, actor, ev.ORG_TEAM_CREATE, status=201, resource_type="Team",
                        resource_id=record.id, changed=["displayName"], detail=ev.member_detail(added, []),
                        resource_name=name)
            view = self._team_view(uow, org_id, record.id)
            uow.commit()
            return view

    def add_members(self, org_id: str, team_id: str, user_ids, actor: ManagementActor = CLI) -> dict:
        with _attempting(org_id, ev.ORG_TEAM_MEMBER_ADD, "Team", team_id), self.uow as uow:
            org = self._org(uow, org_id, lock=True)
            record = self._team(uow, org_id, team_id)
            if org.scim_enabled:
                raise scim_managed("add users to a Team", idp_team=record.idp_managed)
            member_ids = _valid_user_ids(user_ids)
            if not member_ids:
                raise InvalidRequest("userIds must name at least one user")
            self._users_exist(uow, org_id, member_ids)
            added = uow.teams.add_members(org_id, team_id, member_ids)
            if added:
                self._bump(uow, record)
            self._audit(uow, org_id, actor, ev.ORG_TEAM_MEMBER_ADD, status=200, resource_type="Team",
                        resource_id=team_id, changed=["members"] if added else [],
                        detail=ev.member_detail(added, []))
            result = {"added": added, "team": self._team_view(uow, org_id, team_id)}
            uow.commit()
            return result

    def remove_member(self, org_id: str, team_id: str, user_id: str, actor: ManagementActor = CLI) -> dict:
        with _attempting(org_id, ev.ORG_TEAM_MEMBER_REMOVE, "Team", team_id), self.uow as uow:
            org = self._org(uow, org_id, lock=True)
            record = self._team(uow, org_id, team_id)
            if org.scim_enabled and record.idp_managed:
                raise scim_managed("remove a member from an IdP-managed Team", idp_team=True)
            removed = uow.teams.remove_members(team_id, [user_id])
            if not removed:
                raise NotFound(f"User {user_id} is not a member of Team {team_id}")
            self._bump(uow, record)
            self._audit(uow, org_id, actor, ev.ORG_TEAM_MEMBER_REMOVE, status=204, resource_type="Team",
                        resource_id=team_id, changed=["members"], detail=ev.member_detail([], removed))
            uow.commit()
            return {"removed": removed}

    def rename_team(self, org_id: str, team_id: str, name, actor: ManagementActor = CLI) -> dict:
        with _attempting(org_id, ev.ORG_TEAM_RENAME, "Team", team_id), self.uow as uow:
            org = self._org(uow, org_id, lock=True)
            record = self._team(uow, org_id, team_id)
            if org.scim_enabled and record.idp_managed:
                raise scim_managed("rename an IdP-managed Team", idp_team=True)
            name = _valid_name(name)
            current = record.document.get("displayName", "")
            if name != current:
                if name.casefold() != current.casefold() and uow.teams.display_name_in_use(
                    org_id, name, exclude_id=team_id
                ):
                    raise name_taken(name)
                renamed = replace(record, document=dict(record.document, displayName=name),
                                  version=record.version + 1, updated=self.clock())
                try:
                    uow.teams.update(renamed)
                except Uniqueness:
                    raise name_taken(name) from None
            self._audit(uow, org_id, actor, ev.ORG_TEAM_RENAME, status=200, resource_type="Team",
                        resource_id=team_id, changed=["displayName"] if name != current else [],
                        detail={"from": current, "to": name}, resource_name=name)
            view = self._team_view(uow, org_id, team_id)
            uow.commit()
            return view

    def delete_team(self, org_id: str, team_id: str, actor: ManagementActor = CLI) -> dict:
        with _attempting(org_id, ev.ORG_TEAM_DELETE, "Team", team_id), self.uow as uow:
            org = self._org(uow, org_id, lock=True)
            record = self._team(uow, org_id, team_id)
            if org.scim_enabled and record.idp_managed:
                raise scim_managed("delete an IdP-managed Team", idp_team=True)
            removed = uow.teams.remove_all_members(team_id)
            uow.teams.delete(org_id, team_id)
            name = record.document.get("displayName")
            self._audit(uow, org_id, actor, ev.ORG_TEAM_DELETE, status=204, resource_type="Team",
                        resource_id=team_id, resource_name=name,
                        detail={"name": name, "idp_managed": record.idp_managed, "members_removed": len(removed)})
            uow.commit()
            return {"id": team_id, "name": name, "membersRemoved": len(removed)}

    # -- refusals -------------------------------------------------------------------------------

    def record_refusal(self, refusal: Refused, actor: ManagementActor, *, status: int) -> None:
        """Audit a refused write (``status``: what the caller answered) in a transaction of its own."""
        attempt = refusal.attempt
        if attempt is None:
            return
        with self.uow as uow:
            if uow.organizations.get(attempt.org_id) is None:
                return
            self._audit(uow, attempt.org_id, actor, attempt.action, status=status, outcome=ev.REFUSED,
                        resource_type=attempt.resource_type, resource_id=attempt.resource_id,
                        detail={"code": refusal.code, "reason": refusal.message})
            uow.commit()

    # -- helpers --------------------------------------------------------------------------------

    def _audit(self, uow: UnitOfWork, org_id: str, actor: ManagementActor, action: str, **event) -> None:
        uow.record(self.events.management(org_id, actor, action, **event))

    @staticmethod
    def _org(uow: UnitOfWork, org_id: str, *, lock: bool = False) -> Organization:
        org = uow.organizations.get(org_id, lock=lock)
        if org is None:
            raise NotFound(f"Organization {org_id} not found")
        return org

    @staticmethod
    def _team(uow: UnitOfWork, org_id: str, team_id: str) -> TeamRecord:
        record = uow.teams.get(org_id, team_id, lock=True)
        if record is None:
            raise not_found("Team", team_id)
        return record

    @staticmethod
    def _team_view(uow: UnitOfWork, org_id: str, team_id: str, members: Page = FIRST_PAGE) -> dict:
        view = uow.views.team(org_id, team_id, members)
        if view is None:
            raise not_found("Team", team_id)
        return view

    @staticmethod
    def _users_exist(uow: UnitOfWork, org_id: str, user_ids: list[str]) -> None:
        known = uow.teams.existing_user_ids(org_id, user_ids) if user_ids else set()
        missing = [uid for uid in user_ids if uid not in known]
        if missing:
            raise UnknownUsers(f"not users of this organization: {', '.join(missing[:10])}")

    def _bump(self, uow: UnitOfWork, record: TeamRecord) -> None:
        """Members changed: a new version (SCIM ETag) and lastModified for the Team."""
        uow.teams.update(replace(record, version=record.version + 1, updated=self.clock()))

    def _create_organization(self, uow: UnitOfWork, name, tier: str, actor: ManagementActor) -> Organization:
        if tier not in TIERS:
            raise InvalidRequest(f"tier must be one of {', '.join(TIERS)}")
        org = Organization(self.new_org_id(), _valid_org_name(name), tier, False)
        uow.organizations.insert(org, self.clock())
        self._audit(uow, org.id, actor, ev.ORG_CREATE, status=201, resource_type="Organization", resource_id=org.id,
                    detail={"name": ev.clean_text(name, MAX_ORG_NAME_LENGTH), "tier": tier})
        return org

    def _set_scim(self, uow: UnitOfWork, org: Organization, enabled: bool, actor: ManagementActor) -> Organization:
        if enabled and org.tier != ENTERPRISE:
            raise EnterpriseTierRequired(
                "SCIM provisioning is available only on the Enterprise tier; this organization is on the "
                f"{org.tier} tier"
            )
        if org.scim_enabled == enabled:
            return org
        uow.organizations.set_scim_enabled(org.id, enabled)
        self._audit(uow, org.id, actor, ev.ORG_SCIM_ENABLE if enabled else ev.ORG_SCIM_DISABLE, status=200,
                    resource_type="Organization", resource_id=org.id, changed=["scimEnabled"])
        return replace(org, scim_enabled=enabled)

    def _create_token(self, uow: UnitOfWork, org: Organization, role: str, name: str | None,
                      actor: ManagementActor) -> NewToken:
        token = uow.tokens.create(org.id, role, name, self.clock())
        self._audit(uow, org.id, actor, ev.ORG_TOKEN_CREATE, status=201, resource_type="Token", resource_id=token.id,
                    detail={"role": role})
        return token
