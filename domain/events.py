"""Audit events: one per decided command, one per management change, and one per refused request.

They name what changed (attribute names, member ids), never a secret value: no password, no
token, no request body.

Every event is made by one factory, ``AuditEvents`` (the default instance is ``EVENTS``): it
stamps each event with its clock's time in the one time format (``format_time``), so no writer
formats a time of its own. Services that take an injected clock (the provisioning and the
management services) build their factory on it; everything else uses ``EVENTS``, on
``domain.clock.utcnow``.

Every event gets its ``event_id`` when it is created (never derived from a store row id): a
UUIDv7 (RFC 9562) in its canonical 36-character form, so ids are globally unique (62 random
bits per id on top of the time) and sort by creation time (a 48-bit Unix time in ms, then 12
bits of sub-millisecond time). The stream is de-duplicated on it at publish
(``infra.redis.audit_stream``), and readers may de-duplicate on it too.

What a client sent (the URL's organization id, the path, the reason that quotes it) reaches an
event only through ``clean_text``/``event_org_id``: bounded, and with every control character
escaped, so no field can print a second line in ``scimgate audit tail`` or bloat the stream.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from domain.clock import Clock, utcnow

if TYPE_CHECKING:  # only for annotations: the command and the error an event describes
    from domain.commands import Command
    from domain.errors import ScimError

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
# One event per source address and interval, counting the refused requests answered 429 in it.
AUTH_THROTTLED = "scim:auth:throttled"

# Organization management (the management API and the CLI; ``domain.management``).
ORG_CREATE = "org:create"
ORG_TOKEN_CREATE = "org:token:create"
ORG_TOKEN_REVOKE = "org:token:revoke"
ORG_USER_DELETE = "org:user:delete"
ORG_TEAM_CREATE = "org:team:create"
ORG_TEAM_RENAME = "org:team:rename"
ORG_TEAM_DELETE = "org:team:delete"
ORG_TEAM_MEMBER_ADD = "org:team:member:add"
ORG_TEAM_MEMBER_REMOVE = "org:team:member:remove"
ORG_SCIM_ENABLE = "org:scim:enable"
ORG_SCIM_DISABLE = "org:scim:disable"
ORG_AUTH_REFUSED = "org:auth:refused"

# Operators, the service's own ops team (``domain.operators``): events of no organization.
OPERATOR_CREATE = "operator:create"
OPERATOR_REVOKE = "operator:revoke"

SUCCESS = "success"
FAILURE = "failure"
EXPIRED = "expired"
REFUSED = "refused"

# Member id lists in an event are capped; the counts are always exact.
MAX_LISTED_MEMBERS = 100

# Client-supplied text in an event: at most this many characters (before escaping).
MAX_PATH = 256
MAX_REASON = 256
MAX_USER_AGENT = 256
MAX_METHOD = 16
MAX_INVALID_ORG_ID = 40
ORG_ID = re.compile(r"[a-z0-9]{25}")


def new_event_id() -> str:
    """A UUIDv7: Unix ms, 12 bits of sub-ms time (RFC 9562 §6.2 method 3), version, variant, random."""
    ns = time.time_ns()
    ms, sub_ms = divmod(ns, 1_000_000)
    rand_a = sub_ms * 4096 // 1_000_000
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def escape_control(text: str, *, backslashes: bool = True) -> str:
    """``text`` on one line: every non-printable character escaped (``\\n``, ``\\x1b``, ``\\u2028``…),
    and backslashes too unless ``backslashes`` is false (for display of text escaped already)."""
    if text.isprintable() and not (backslashes and "\\" in text):
        return text
    return "".join(
        ch if ch.isprintable() and not (backslashes and ch == "\\") else _escape(ch) for ch in text
    )


def _escape(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    return {10: "\\n", 13: "\\r", 9: "\\t"}.get(code) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    )


def clean_text(value, limit: int) -> str:
    """Client-supplied ``value`` as an event may hold it: at most ``limit`` characters of it, escaped."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return escape_control(text[:limit]) + f"…[+{len(text) - limit} chars]"
    return escape_control(text)


def event_org_id(raw) -> str:
    """An organization id from a URL: kept when it has the shape of one, else a bounded escaped form
    (None: a request of no organization, "")."""
    if raw is None:
        return ""
    if isinstance(raw, str) and ORG_ID.fullmatch(raw):
        return raw
    return "invalid:" + clean_text(raw or "", MAX_INVALID_ORG_ID)


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
    event_id: str = field(default_factory=new_event_id)
    # What the resource is called (userName / displayName) and its externalId, so the
    # provisioning log can be searched by them; the new (and, where the worker had them, old)
    # values of the changed attributes (``describe_resource``). Never a password: the stored
    # document never holds one (``domain.secrets``).
    resource_name: str | None = None
    external_id: str | None = None
    values: dict = field(default_factory=dict)
    old_values: dict = field(default_factory=dict)
    # How long the command waited in the queue and took to apply (set by the worker).
    queue_wait_ms: float | None = None
    apply_ms: float | None = None

    def to_dict(self) -> dict:
        # Shallow (dataclasses.asdict deep-copies): one event per command, on the worker's hot path.
        return {
            name: value for name in _EVENT_FIELDS if (value := getattr(self, name)) not in (None, [], {}, "")
        }


_EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))


# The values an event shows of a resource: none of these (members are counted in ``detail``),
# each at most this long as JSON (else a marker saying how long it was).
NOT_SHOWN = frozenset({"members", "password", "schemas"})
MAX_VALUE_CHARS = 1024
MAX_NAME = 512


def _shown(value):
    text = json.dumps(value, default=str)
    return value if len(text) <= MAX_VALUE_CHARS else f"…[{len(text)} chars, not kept]"


def _value_of(document: dict, name: str):
    if name in document:
        return document[name]
    urn, _, attr = name.rpartition(":")
    root = document.get(urn) if urn else None
    return root.get(attr) if isinstance(root, dict) else None


def _values(document: dict | None, names: list[str]) -> dict:
    if not document:
        return {}
    found = {}
    for name in names:
        if name in NOT_SHOWN:
            continue
        value = _value_of(document, name)
        if value is not None:
            found[name] = _shown(value)
    return found


def _name_of(document: dict | None) -> str | None:
    if not document:
        return None
    name = document.get("userName") or document.get("displayName")
    return clean_text(name, MAX_NAME) if isinstance(name, str) and name else None


def _external_id_of(document: dict | None) -> str | None:
    value = document.get("externalId") if document else None
    return clean_text(value, MAX_NAME) if isinstance(value, str) and value else None


def describe_resource(event: AuditEvent, document: dict | None, *, before: dict | None = None) -> AuditEvent:
    """Name ``event``'s resource (from its stored ``document``, else the one ``before`` the
    change) and show the new and old values of its changed attributes."""
    event.resource_name = _name_of(document) or _name_of(before) or event.resource_name
    event.external_id = _external_id_of(document) or _external_id_of(before) or event.external_id
    event.values = _values(document, event.changed)
    event.old_values = _values(before, event.changed) if before is not None else {}
    return event


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


def format_time(moment: datetime) -> str:
    """The one time format of events: ISO 8601 in UTC, always with microseconds, and a ``Z``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


class AuditEvents:
    """The factory of every audit event: the time from ``clock`` (in ``format_time``), a fresh id."""

    def __init__(self, clock: Clock = utcnow):
        self.clock = clock

    def now(self) -> str:
        return format_time(self.clock())

    # -- commands (the worker, the ingress's fence) ----------------------------------------------

    def applied(
        self, command: Command, action: str, *, status: int, resource_id: str | None,
        changed: list[str] | None = None, detail: dict | None = None,
    ) -> AuditEvent:
        """The event of a command the provisioning service applied."""
        return self._of_command(command, action, SUCCESS, status, resource_id, changed=changed or [],
                                detail=detail or {})

    def unapplied(self, command: Command, *, outcome: str, status: int, detail: dict | None = None) -> AuditEvent:
        """The event of a command that was not applied: rejected (a SCIM error), failed or expired."""
        return self._of_command(command, action_for_failure(command.resource_type, command.kind), outcome, status,
                                command.resource_id, detail=detail or {})

    def _of_command(self, command: Command, action: str, outcome: str, status: int, resource_id: str | None,
                    **fields) -> AuditEvent:
        """What every command's event says: who asked, for what, through which request."""
        body = getattr(command, "body", None)  # a POST's or PUT's: names the resource even if refused
        return AuditEvent(
            action=action,
            org_id=command.org_id,
            outcome=outcome,
            time=self.now(),
            resource_type=command.resource_type,
            resource_id=resource_id,
            token_id=command.actor.token_id,
            user_agent=command.actor.user_agent,
            idp=command.actor.idp,
            command_id=command.id,
            request_id=command.request_id,
            status=status,
            resource_name=_name_of(body),
            external_id=_external_id_of(body),
            **fields,
        )

    def rejected(self, command: Command, error: ScimError, *, outcome: str = FAILURE, **detail) -> AuditEvent:
        """A command not applied because of ``error``: its status, its detail and its scimType."""
        described: dict = {"detail": error.detail}
        if error.scim_type:
            described["scimType"] = error.scim_type
        return self.unapplied(command, outcome=outcome, status=error.status, detail={**described, **detail})

    # -- organization management ------------------------------------------------------------------

    def management(
        self, org_id: str, actor, action: str, *, status: int, outcome: str = SUCCESS,
        resource_type: str | None = None, resource_id: str | None = None, changed: list[str] | None = None,
        detail: dict | None = None, resource_name: str | None = None,
    ) -> AuditEvent:
        """A management change (or its refusal) by ``actor`` (a ``domain.management.ManagementActor``)."""
        return AuditEvent(
            resource_name=_name_of({"displayName": resource_name}) if resource_name else None,
            action=action,
            org_id=org_id,
            outcome=outcome,
            time=self.now(),
            resource_type=resource_type,
            resource_id=resource_id,
            token_id=actor.token_id,
            user_agent=actor.user_agent,
            idp="",
            request_id=actor.request_id,
            status=status,
            changed=changed or [],
            detail={"via": actor.via, **(detail or {})},
        )

    # -- refused requests (straight to the stream, no outbox) -------------------------------------

    def refusal(
        self, action: str, *, org_id, method: str, path: str, reason: str, status: int,
        token_id: str | None = None, user_agent: str = "", idp: str = "", request_id: str | None = None,
        detail: dict | None = None,
    ) -> AuditEvent:
        """The event of a refused request: every client-supplied field bounded and escaped."""
        return AuditEvent(
            action=action,
            org_id=event_org_id(org_id),
            outcome=REFUSED,
            time=self.now(),
            token_id=token_id,
            user_agent=clean_text(user_agent, MAX_USER_AGENT),
            idp=idp,
            request_id=request_id,
            status=status,
            detail={
                "method": clean_text(method, MAX_METHOD),
                "path": clean_text(path, MAX_PATH),
                "reason": clean_text(reason, MAX_REASON),
                **(detail or {}),
            },
        )

    def throttled(self, *, source: str, count: int, org_ids: list[str], since: datetime) -> AuditEvent:
        """The one event summarising a source's refused requests that were answered 429 in an interval."""
        return AuditEvent(
            action=AUTH_THROTTLED,
            org_id=org_ids[0] if len(org_ids) == 1 else "",
            outcome=REFUSED,
            time=self.now(),
            idp="",
            status=429,
            detail={
                "source": clean_text(source, 64),
                "count": count,
                "since": format_time(since),
                "org_ids": org_ids,
                "reason": (
                    "Too many refused requests from this source: answered 429 and counted here, not audited one by one"
                ),
            },
        )


EVENTS = AuditEvents()
