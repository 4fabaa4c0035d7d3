"""Provisioning commands (what the ingress asks a worker to do) and their replies.

A command is plain data, one class per kind with typed fields: it crosses Redis as JSON and is stored nowhere but in the
``processed_commands`` fence row (its id and reply). ``deadline`` is a wall-clock epoch in
seconds: a worker never commits a command past it, and the ingress answers 503 after it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

USER_CREATE = "user.create"
USER_REPLACE = "user.replace"
USER_PATCH = "user.patch"
USER_DELETE = "user.delete"
GROUP_CREATE = "group.create"
GROUP_REPLACE = "group.replace"
GROUP_PATCH = "group.patch"
GROUP_DELETE = "group.delete"



@dataclass(frozen=True)
class Actor:
    """Who asked: the API token, and the IdP as told by its User-Agent."""

    token_id: str
    user_agent: str = ""
    idp: str = "unknown"


@dataclass(frozen=True, kw_only=True)
class Command:
    """What every command carries: who asked, for which organization, answered where, by when.

    One subclass per kind, with the typed fields that kind needs (``CreateUser``…). ``kind``
    names it on the wire; ``resource_id`` is the resource a command targets (None for creates).
    """

    kind: ClassVar[str]
    resource_type: ClassVar[str]  # "User" | "Group"

    id: str
    org_id: str
    actor: Actor
    request_id: str
    deadline: float
    reply_to: str
    resource_id: str | None = None
    if_match: str | None = None

    @property
    def claimed_name(self) -> str:
        """For a create, the unique name it claims (userName / displayName); else ""."""
        return ""

    @property
    def ordering_key(self) -> str:
        """Commands with the same key are applied in arrival order (same lane of the ingress).

        The key names the resource a command touches: its id, or for a create the unique name
        it claims (case-folded), so creates of different users spread over the lanes while two
        creates of the same name stay in order.
        """
        target = self.resource_id or self.claimed_name.casefold()
        return f"{self.org_id}:{self.resource_type}:{target}"

    def to_wire(self) -> dict:
        # Shallow on purpose (dataclasses.asdict deep-copies the body): this runs per request.
        data = {name: getattr(self, name) for name in _FIELDS[type(self)]}
        data["kind"] = self.kind
        data["actor"] = {"token_id": self.actor.token_id, "user_agent": self.actor.user_agent, "idp": self.actor.idp}
        return data

    @staticmethod
    def from_wire(data: dict) -> "Command":
        data = dict(data)
        kind = BY_KIND[data.pop("kind")]
        data["actor"] = Actor(**data["actor"])
        return kind(**data)


@dataclass(frozen=True, kw_only=True)
class _Writes(Command):
    """A command carrying a whole resource (POST, PUT): the normalised document, without any
    password (``password_supplied`` says whether one was sent, for the audit)."""

    body: dict
    password_supplied: bool = False

    @property
    def claimed_name(self) -> str:
        if self.resource_id is not None:
            return ""
        return str(self.body.get("userName") or self.body.get("displayName") or "")


@dataclass(frozen=True, kw_only=True)
class _Patches(Command):
    """A PatchOp (RFC 7644 §3.5.2) as the ingress prepared it: only the operations it read, no
    password (``password_only``: the request held nothing else)."""

    operations: dict
    password_supplied: bool = False
    password_only: bool = False


@dataclass(frozen=True, kw_only=True)
class CreateUser(_Writes):
    kind: ClassVar[str] = USER_CREATE
    resource_type: ClassVar[str] = "User"


@dataclass(frozen=True, kw_only=True)
class ReplaceUser(_Writes):
    kind: ClassVar[str] = USER_REPLACE
    resource_type: ClassVar[str] = "User"


@dataclass(frozen=True, kw_only=True)
class PatchUser(_Patches):
    kind: ClassVar[str] = USER_PATCH
    resource_type: ClassVar[str] = "User"


@dataclass(frozen=True, kw_only=True)
class DeleteUser(Command):
    kind: ClassVar[str] = USER_DELETE
    resource_type: ClassVar[str] = "User"


@dataclass(frozen=True, kw_only=True)
class CreateTeam(_Writes):
    kind: ClassVar[str] = GROUP_CREATE
    resource_type: ClassVar[str] = "Group"
    # A Team may hold 100,000 members: the reply carries them only when the client will show them.
    members_in_reply: bool = True


@dataclass(frozen=True, kw_only=True)
class ReplaceTeam(_Writes):
    kind: ClassVar[str] = GROUP_REPLACE
    resource_type: ClassVar[str] = "Group"
    members_in_reply: bool = True


@dataclass(frozen=True, kw_only=True)
class PatchTeam(_Patches):
    kind: ClassVar[str] = GROUP_PATCH
    resource_type: ClassVar[str] = "Group"
    members_in_reply: bool = False


@dataclass(frozen=True, kw_only=True)
class DeleteTeam(Command):
    kind: ClassVar[str] = GROUP_DELETE
    resource_type: ClassVar[str] = "Group"


BY_KIND: dict[str, type[Command]] = {
    kind.kind: kind
    for kind in (CreateUser, ReplaceUser, PatchUser, DeleteUser, CreateTeam, ReplaceTeam, PatchTeam, DeleteTeam)
}
_FIELDS = {kind: tuple(f.name for f in fields(kind)) for kind in BY_KIND.values()}


@dataclass(frozen=True)
class Reply:
    """The outcome a worker sends back: an HTTP status with a body (resource or SCIM error)."""

    command_id: str
    status: int
    body: Any = None
    etag: str | None = None
    location: str | None = None

    def to_wire(self) -> dict:
        return {"command_id": self.command_id, "status": self.status, "body": self.body, "etag": self.etag,
                "location": self.location}

    @classmethod
    def from_wire(cls, data: dict) -> "Reply":
        return cls(**data)


