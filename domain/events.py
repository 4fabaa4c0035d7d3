"""Audit events: one per decided command, and one per refused request.

They name what changed (attribute names, member ids), never a secret value: no password, no
token, no request body.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

USER_CREATE = "scim:user:create"
USER_UPDATE = "scim:user:update"
USER_DEACTIVATE = "scim:user:deactivate"
USER_REACTIVATE = "scim:user:reactivate"
USER_DELETE = "scim:user:delete"
TEAM_CREATE = "scim:team:create"
TEAM_UPDATE = "scim:team:update"
TEAM_DELETE = "scim:team:delete"
TEAM_MEMBER_ADD = "scim:team:member:add"
TEAM_MEMBER_REMOVE = "scim:team:member:remove"
AUTH_REFUSED = "scim:auth:refused"

SUCCESS = "success"
FAILURE = "failure"
EXPIRED = "expired"
REFUSED = "refused"

# Member id lists in an event are capped; the counts are always exact.
MAX_LISTED_MEMBERS = 100


@dataclass
class AuditEvent:
    action: str
    org_id: str
    outcome: str
    time: str
    resource_type: str | None = None
    resource_id: str | None = None
    token_id: str | None = None
    user_agent: str = ""
    idp: str = "unknown"
    command_id: str | None = None
    request_id: str | None = None
    status: int | None = None
    changed: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    event_id: str = ""

    def to_dict(self) -> dict:
        # Shallow (dataclasses.asdict deep-copies): one event per command, on the worker's hot path.
        return {
            name: value for name in _EVENT_FIELDS if (value := getattr(self, name)) not in (None, [], {}, "")
        }


_EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))


def member_detail(added: list[str], removed: list[str]) -> dict:
    detail: dict = {}
    if added:
        detail["members_added"] = len(added)
        detail["members_added_ids"] = added[:MAX_LISTED_MEMBERS]
    if removed:
        detail["members_removed"] = len(removed)
        detail["members_removed_ids"] = removed[:MAX_LISTED_MEMBERS]
    return detail


def action_for_failure(resource_type: str, kind: str) -> str:
    """The action name for a command that was not applied (``user.patch`` → ``scim:user:patch``)."""
    noun = "user" if resource_type == "User" else "team"
    return f"scim:{noun}:{kind.split('.', 1)[1]}"


def unapplied_event(command, *, outcome: str, status: int, time: str, detail: dict | None = None) -> AuditEvent:
    """The audit event for a command that was rejected (a SCIM error) or expired."""
    return AuditEvent(
        action=action_for_failure(command.resource_type, command.kind),
        org_id=command.org_id,
        outcome=outcome,
        time=time,
        resource_type=command.resource_type,
        resource_id=command.resource_id,
        token_id=command.actor.token_id,
        user_agent=command.actor.user_agent,
        idp=command.actor.idp,
        command_id=command.id,
        request_id=command.request_id,
        status=status,
        detail=detail or {},
    )
