"""Queries and commands of the organization management API and CLI (the SCIM-managed organization).

Every function takes a SQLAlchemy ``Connection`` (the CLI's sync engine) and has an ``*_async``
twin for the ingress that runs it on an ``AsyncConnection`` through ``run_sync``, so the rules
live in one place. Commands run in the caller's transaction: they take the organization row
first (``SELECT … FOR UPDATE`` on PostgreSQL; a no-op write that takes SQLite's write lock), so a
write and a concurrent ``scim enable`` are serialised and the "SCIM is on" check holds until
commit. Each command appends its audit event to ``audit_outbox`` in that same transaction.

Rules (the product's "Teams and SCIM provisioning"): while SCIM is on, the identity provider is the
source of truth, so creating Teams and adding users to Teams is refused, and IdP-managed Teams
(``idp_managed``: made through SCIM) cannot be renamed, deleted or have members removed; Teams made
before SCIM was turned on (through this API) can still have members removed, be renamed and be
deleted. Deleting a user is always allowed (the IdP may have removed them without telling us).
While SCIM is off everything is allowed.

Reads never load a tenant into Python: counts are SQL aggregates and lists are one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import events as ev
from domain.errors import ScimError
from domain.provisioning import TeamRecord
from domain.resource import normalize
from infra.ids import new_resource_id
from infra.store.clock import utcnow
from infra.store.ledger import append_events
from infra.store.organizations import Organization, OrganizationError
from infra.store.repositories import SqlTeams, chunks, team_columns
from infra.store.tables import organizations, team_members, teams, users

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_PAGE = 2**40  # keeps (page - 1) * pageSize inside a 64-bit OFFSET
MAX_NAME_LENGTH = 512
MAX_USER_IDS = 1000

USER_DELETE = "org:user:delete"
TEAM_CREATE = "org:team:create"
TEAM_RENAME = "org:team:rename"
TEAM_DELETE = "org:team:delete"
TEAM_MEMBER_ADD = "org:team:member:add"
TEAM_MEMBER_REMOVE = "org:team:member:remove"
SCIM_ENABLE = "org:scim:enable"
SCIM_DISABLE = "org:scim:disable"
AUTH_REFUSED = "org:auth:refused"

SOURCE_OF_TRUTH = (
    "SCIM provisioning is on for this organization, so the identity provider is the source of truth for "
    "Teams and their members"
)


class ManagementError(OrganizationError):
    """A management request that is refused: an HTTP status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_body(self) -> dict:
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}


def not_found(what: str, ident: str) -> ManagementError:
    return ManagementError(404, "not_found", f"{what} {ident} not found in this organization")


def invalid(message: str) -> ManagementError:
    return ManagementError(400, "invalid_request", message)


def scim_managed(action: str, *, idp_team: bool = False) -> ManagementError:
    if idp_team:
        hint = (
            "This Team was pushed by the identity provider: change it there (Okta: Push Groups; Entra: the group "
            "and its assignment to the app), or turn SCIM off first."
        )
    else:
        hint = "Make the change in the identity provider, or turn SCIM off first."
    return ManagementError(409, "scim_managed", f"Cannot {action}: {SOURCE_OF_TRUTH}. {hint}")


@dataclass(frozen=True)
class ManagementActor:
    """Who made a management change, for the audit event (never a token value)."""

    via: str  # "api" | "cli"
    token_id: str | None = None
    user_agent: str = ""
    request_id: str | None = None


CLI = ManagementActor(via="cli")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def _page(page, page_size) -> tuple[int, int]:
    try:
        page = 1 if page in (None, "") else int(page)
        page_size = DEFAULT_PAGE_SIZE if page_size in (None, "") else int(page_size)
    except (TypeError, ValueError):
        raise invalid("page and pageSize must be integers") from None
    if not 1 <= page <= MAX_PAGE:
        raise invalid(f"page must be between 1 and {MAX_PAGE}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise invalid(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
    return page, page_size


def _event(org_id: str, actor: ManagementActor, action: str, *, status: int, resource_type: str | None = None,
           resource_id: str | None = None, outcome: str = ev.SUCCESS, changed: list[str] | None = None,
           detail: dict | None = None) -> dict:
    return ev.AuditEvent(
        action=action,
        org_id=org_id,
        outcome=outcome,
        time=_iso(utcnow()),
        resource_type=resource_type,
        resource_id=resource_id,
        token_id=actor.token_id,
        user_agent=actor.user_agent,
        idp="",
        request_id=actor.request_id,
        status=status,
        changed=changed or [],
        detail={"via": actor.via, **(detail or {})},
    ).to_dict()


# -- reads --------------------------------------------------------------------------------------


def _organization(conn: Connection, org_id: str) -> Organization | None:
    row = conn.execute(select(organizations).where(organizations.c.id == org_id)).first()
    return Organization(row.id, row.name, row.tier, bool(row.scim_enabled)) if row else None


def organization_summary(conn: Connection, org_id: str) -> dict:
    org = _organization(conn, org_id)
    if org is None:
        raise not_found("Organization", org_id)
    user_counts = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((users.c.active, 1), else_=0)), 0)).where(
            users.c.org_id == org_id
        )
    ).one()
    team_counts = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((teams.c.idp_managed, 1), else_=0)), 0)).where(
            teams.c.org_id == org_id
        )
    ).one()
    return {
        "id": org.id,
        "name": org.name,
        "tier": org.tier,
        "scimEnabled": org.scim_enabled,
        "counts": {
            "users": int(user_counts[0]),
            "activeUsers": int(user_counts[1]),
            "inactiveUsers": int(user_counts[0]) - int(user_counts[1]),
            "teams": int(team_counts[0]),
            "idpManagedTeams": int(team_counts[1]),
        },
    }


def _require_org(conn: Connection, org_id: str) -> Organization:
    org = _organization(conn, org_id)
    if org is None:
        raise not_found("Organization", org_id)
    return org


def _primary_email(document: dict) -> str | None:
    emails = document.get("emails") or []
    for email in emails:
        if isinstance(email, dict) and email.get("primary"):
            return email.get("value")
    return emails[0].get("value") if emails and isinstance(emails[0], dict) else None


def _teams_of_users(conn: Connection, org_id: str, user_ids: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {uid: [] for uid in user_ids}
    for part in chunks(user_ids):
        rows = conn.execute(
            select(team_members.c.user_id, teams.c.id, teams.c.display_name, teams.c.idp_managed)
            .join(teams, teams.c.id == team_members.c.team_id)
            .where(team_members.c.user_id.in_(part), teams.c.org_id == org_id)
            .order_by(teams.c.seq)
        )
        for row in rows:
            found[row.user_id].append({"id": row.id, "name": row.display_name, "idpManaged": bool(row.idp_managed)})
    return found


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


def _paged(conn: Connection, table, org_id: str, page, page_size) -> tuple[int, int, int, list]:
    """``(page, page_size, total, rows)``: one page of an organization's ``table`` in creation order."""
    _require_org(conn, org_id)
    page, page_size = _page(page, page_size)
    total = conn.execute(select(func.count()).select_from(table).where(table.c.org_id == org_id)).scalar_one()
    rows = conn.execute(
        select(table).where(table.c.org_id == org_id).order_by(table.c.seq)
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    return page, page_size, total, rows


def list_users(conn: Connection, org_id: str, page=None, page_size=None) -> dict:
    page, page_size, total, rows = _paged(conn, users, org_id, page, page_size)
    team_map = _teams_of_users(conn, org_id, [row.id for row in rows])
    return {
        "users": [_user_view(row, team_map[row.id]) for row in rows],
        "page": page,
        "pageSize": page_size,
        "totalResults": int(total),
    }


def get_user(conn: Connection, org_id: str, user_id: str) -> dict:
    _require_org(conn, org_id)
    row = conn.execute(select(users).where(users.c.org_id == org_id, users.c.id == user_id)).first()
    if row is None:
        raise not_found("User", user_id)
    return _user_view(row, _teams_of_users(conn, org_id, [row.id])[row.id])


def _member_counts(conn: Connection, team_ids: list[str]) -> dict[str, tuple[int, int]]:
    counts = {tid: (0, 0) for tid in team_ids}
    for part in chunks(team_ids):
        rows = conn.execute(
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


def list_teams(conn: Connection, org_id: str, page=None, page_size=None) -> dict:
    page, page_size, total, rows = _paged(conn, teams, org_id, page, page_size)
    counts = _member_counts(conn, [row.id for row in rows])
    return {
        "teams": [_team_view(row, counts[row.id]) for row in rows],
        "page": page,
        "pageSize": page_size,
        "totalResults": int(total),
    }


def get_team(conn: Connection, org_id: str, team_id: str, page=None, page_size=None) -> dict:
    """A Team with one page of its members (``page``/``pageSize`` page through the members)."""
    _require_org(conn, org_id)
    page, page_size = _page(page, page_size)
    row = conn.execute(select(teams).where(teams.c.org_id == org_id, teams.c.id == team_id)).first()
    if row is None:
        raise not_found("Team", team_id)
    view = _team_view(row, _member_counts(conn, [row.id])[row.id])
    members = conn.execute(
        select(users.c.id, users.c.user_name, users.c.display_name, users.c.active)
        .join(team_members, team_members.c.user_id == users.c.id)
        .where(team_members.c.team_id == team_id)
        .order_by(team_members.c.created_at, team_members.c.user_id)
        .offset((page - 1) * page_size).limit(page_size)
    )
    view["members"] = [
        {"id": m.id, "userName": m.user_name, "displayName": m.display_name, "active": bool(m.active)}
        for m in members
    ]
    view["membersPage"] = {"page": page, "pageSize": page_size, "totalResults": view["memberCount"]}
    return view


# -- commands -----------------------------------------------------------------------------------


def _lock_org(conn: Connection, org_id: str) -> Organization:
    """The organization row, held until commit (serialises with ``scim enable|disable``)."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(select(organizations).where(organizations.c.id == org_id).with_for_update()).first()
    else:
        # A write first: takes SQLite's write lock before any read, so the transaction never needs
        # to upgrade a read snapshot (which would fail under a concurrent writer).
        conn.execute(
            update(organizations).where(organizations.c.id == org_id).values(scim_enabled=organizations.c.scim_enabled)
        )
        row = conn.execute(select(organizations).where(organizations.c.id == org_id)).first()
    if row is None:
        raise not_found("Organization", org_id)
    return Organization(row.id, row.name, row.tier, bool(row.scim_enabled))


def _team_row(conn: Connection, org_id: str, team_id: str, *, lock: bool = True):
    query = select(teams).where(teams.c.org_id == org_id, teams.c.id == team_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise not_found("Team", team_id)
    return row


def _bump_teams(conn: Connection, team_ids: list[str], now: datetime) -> None:
    """Members changed: a new version (SCIM ETag) and lastModified for each Team."""
    for part in chunks(team_ids):
        conn.execute(
            update(teams).where(teams.c.id.in_(part)).values(version=teams.c.version + 1, updated_at=now)
        )


def _valid_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid("name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise invalid(f"name must be at most {MAX_NAME_LENGTH} characters")
    return name.strip()


def _valid_user_ids(user_ids) -> list[str]:
    if not isinstance(user_ids, list) or not all(isinstance(u, str) and u for u in user_ids):
        raise invalid("userIds must be a list of user ids")
    if len(user_ids) > MAX_USER_IDS:
        raise invalid(f"at most {MAX_USER_IDS} userIds per request")
    return list(dict.fromkeys(user_ids))


def name_taken(name: str) -> ManagementError:
    return ManagementError(409, "name_taken", f"A Team named {name!r} already exists in this organization")


def _name_free(conn: Connection, org_id: str, name: str, exclude_id: str | None = None) -> None:
    query = select(teams.c.id).where(teams.c.org_id == org_id, teams.c.display_name_key == name.casefold())
    if exclude_id:
        query = query.where(teams.c.id != exclude_id)
    if conn.execute(query.limit(1)).first() is not None:
        raise name_taken(name)


def _users_exist(conn: Connection, org_id: str, user_ids: list[str]) -> None:
    known = SqlTeams(conn).existing_user_ids(org_id, user_ids)
    missing = [uid for uid in user_ids if uid not in known]
    if missing:
        raise ManagementError(
            400, "unknown_users", f"not users of this organization: {', '.join(missing[:10])}"
        )


def _team_document(conn: Connection, name: str) -> dict:
    try:
        return normalize("Group", {"displayName": name}).document
    except ScimError as error:
        raise invalid(error.detail) from None


def delete_user(conn: Connection, org_id: str, user_id: str, actor: ManagementActor = CLI) -> dict:
    """Remove a user from the organization and every Team. Allowed whether or not SCIM is on."""
    _lock_org(conn, org_id)
    row = conn.execute(
        select(users.c.id, users.c.user_name).where(users.c.org_id == org_id, users.c.id == user_id)
    ).first()
    if row is None:
        raise not_found("User", user_id)
    # Like SCIM's DELETE /Users: membership rows and the user row go; Team rows are not touched (no
    # version bump), so this never takes a Team lock after a user lock, the reverse of the order a
    # worker's membership PATCH takes them in (no deadlock on PostgreSQL).
    removed_from = [
        r.team_id for r in conn.execute(delete(team_members).where(team_members.c.user_id == user_id)
                                        .returning(team_members.c.team_id))
    ]
    if conn.execute(delete(users).where(users.c.id == user_id, users.c.org_id == org_id)).rowcount == 0:
        raise not_found("User", user_id)  # deleted meanwhile (by the IdP's DELETE)
    detail = {"teams_removed": len(removed_from), "teams_removed_ids": removed_from[: ev.MAX_LISTED_MEMBERS]}
    event = _event(org_id, actor, USER_DELETE, status=204, resource_type="User", resource_id=user_id, detail=detail)
    append_events(conn, [event])
    return {"id": user_id, "userName": row.user_name, "removedFromTeams": removed_from}


def create_team(conn: Connection, org_id: str, name, user_ids=None, actor: ManagementActor = CLI) -> dict:
    org = _lock_org(conn, org_id)
    if org.scim_enabled:
        raise scim_managed("create a Team")
    name = _valid_name(name)
    member_ids = _valid_user_ids(user_ids) if user_ids is not None else []
    document = _team_document(conn, name)
    _name_free(conn, org_id, name)
    _users_exist(conn, org_id, member_ids)
    now = utcnow()
    record = TeamRecord(new_resource_id(), org_id, document, 1, now, now, idp_managed=False)
    try:
        with conn.begin_nested():
            conn.execute(teams.insert().values(**team_columns(record)))
    except IntegrityError:
        raise name_taken(name) from None
    added = SqlTeams(conn).add_members(org_id, record.id, member_ids) if member_ids else []
    event = _event(org_id, actor, TEAM_CREATE, status=201, resource_type="Team", resource_id=record.id,
                   changed=["displayName"], detail=ev.member_detail(added, []))
    append_events(conn, [event])
    return get_team(conn, org_id, record.id)


def add_members(conn: Connection, org_id: str, team_id: str, user_ids, actor: ManagementActor = CLI) -> dict:
    org = _lock_org(conn, org_id)
    row = _team_row(conn, org_id, team_id)
    if org.scim_enabled:
        raise scim_managed("add users to a Team", idp_team=bool(row.idp_managed))
    member_ids = _valid_user_ids(user_ids)
    if not member_ids:
        raise invalid("userIds must name at least one user")
    _users_exist(conn, org_id, member_ids)
    added = SqlTeams(conn).add_members(org_id, team_id, member_ids)
    if added:
        _bump_teams(conn, [team_id], utcnow())
    event = _event(org_id, actor, TEAM_MEMBER_ADD, status=200, resource_type="Team", resource_id=team_id,
                   changed=["members"] if added else [], detail=ev.member_detail(added, []))
    append_events(conn, [event])
    return {"added": added, "team": get_team(conn, org_id, team_id)}


def remove_member(conn: Connection, org_id: str, team_id: str, user_id: str, actor: ManagementActor = CLI) -> dict:
    org = _lock_org(conn, org_id)
    row = _team_row(conn, org_id, team_id)
    if org.scim_enabled and row.idp_managed:
        raise scim_managed("remove a member from an IdP-managed Team", idp_team=True)
    removed = SqlTeams(conn).remove_members(team_id, [user_id])
    if not removed:
        raise ManagementError(404, "not_found", f"User {user_id} is not a member of Team {team_id}")
    _bump_teams(conn, [team_id], utcnow())
    event = _event(org_id, actor, TEAM_MEMBER_REMOVE, status=204, resource_type="Team", resource_id=team_id,
                   changed=["members"], detail=ev.member_detail([], removed))
    append_events(conn, [event])
    return {"removed": removed}


def rename_team(conn: Connection, org_id: str, team_id: str, name, actor: ManagementActor = CLI) -> dict:
    org = _lock_org(conn, org_id)
    row = _team_row(conn, org_id, team_id)
    if org.scim_enabled and row.idp_managed:
        raise scim_managed("rename an IdP-managed Team", idp_team=True)
    name = _valid_name(name)
    if name != row.display_name:
        if name.casefold() != row.display_name_key:
            _name_free(conn, org_id, name, exclude_id=team_id)
        document = dict(row.resource or {}, displayName=name)
        try:
            with conn.begin_nested():
                conn.execute(
                    update(teams).where(teams.c.id == team_id).values(
                        display_name=name, display_name_key=name.casefold(), resource=document,
                        version=teams.c.version + 1, updated_at=utcnow(),
                    )
                )
        except IntegrityError:
            raise name_taken(name) from None
    event = _event(org_id, actor, TEAM_RENAME, status=200, resource_type="Team", resource_id=team_id,
                   changed=["displayName"] if name != row.display_name else [],
                   detail={"from": row.display_name, "to": name})
    append_events(conn, [event])
    return get_team(conn, org_id, team_id)


def delete_team(conn: Connection, org_id: str, team_id: str, actor: ManagementActor = CLI) -> dict:
    org = _lock_org(conn, org_id)
    row = _team_row(conn, org_id, team_id)
    if org.scim_enabled and row.idp_managed:
        raise scim_managed("delete an IdP-managed Team", idp_team=True)
    removed = SqlTeams(conn).remove_all_members(team_id)
    conn.execute(delete(teams).where(teams.c.id == team_id, teams.c.org_id == org_id))
    event = _event(org_id, actor, TEAM_DELETE, status=204, resource_type="Team", resource_id=team_id,
                   detail={"name": row.display_name, "idp_managed": bool(row.idp_managed),
                           "members_removed": len(removed)})
    append_events(conn, [event])
    return {"id": team_id, "name": row.display_name, "membersRemoved": len(removed)}


def set_scim(conn: Connection, org_id: str, enabled, actor: ManagementActor = CLI) -> dict:
    if not isinstance(enabled, bool):
        raise invalid('send {"enabled": true} or {"enabled": false}')
    org = _lock_org(conn, org_id)
    if enabled and org.tier != "enterprise":
        raise ManagementError(
            403, "enterprise_tier_required",
            f"SCIM provisioning is available only on the Enterprise tier; this organization is on the {org.tier} tier",
        )
    if org.scim_enabled != enabled:
        conn.execute(update(organizations).where(organizations.c.id == org_id).values(scim_enabled=enabled))
        event = _event(org_id, actor, SCIM_ENABLE if enabled else SCIM_DISABLE, status=200,
                       resource_type="Organization", resource_id=org_id, changed=["scimEnabled"])
        append_events(conn, [event])
    return organization_summary(conn, org_id)


def record_refusal(conn: Connection, org_id: str, action: str, error: ManagementError, actor: ManagementActor,
                   *, resource_type: str | None = None, resource_id: str | None = None) -> None:
    """Audit a refused management write (its own small transaction: nothing else changed)."""
    if _organization(conn, org_id) is None:
        return
    event = _event(org_id, actor, action, status=error.status, outcome=ev.REFUSED, resource_type=resource_type,
                   resource_id=resource_id, detail={"code": error.code, "reason": error.message})
    append_events(conn, [event])


# -- asyncio twins (the ingress) ----------------------------------------------------------------


async def run(conn: AsyncConnection, func, *args, **kwargs):
    """Run one of the functions above on an ``AsyncConnection`` (through SQLAlchemy's ``run_sync``)."""
    return await conn.run_sync(partial(func, **kwargs), *args)

