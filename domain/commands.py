"""Provisioning commands (what the ingress asks a worker to do) and their replies.

A command is plain data: it crosses Redis as JSON and is stored nowhere but in the
``processed_commands`` fence row (its id and reply). ``deadline`` is a wall-clock epoch in
seconds: a worker never commits a command past it, and the ingress answers 503 after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

USER_CREATE = "user.create"
USER_REPLACE = "user.replace"
USER_PATCH = "user.patch"
USER_DELETE = "user.delete"
GROUP_CREATE = "group.create"
GROUP_REPLACE = "group.replace"
GROUP_PATCH = "group.patch"
GROUP_DELETE = "group.delete"

KINDS = frozenset(
    {USER_CREATE, USER_REPLACE, USER_PATCH, USER_DELETE, GROUP_CREATE, GROUP_REPLACE, GROUP_PATCH, GROUP_DELETE}
)


@dataclass(frozen=True)
class Actor:
    """Who asked: the API token, and the IdP as told by its User-Agent."""

    token_id: str
    user_agent: str = ""
    idp: str = "unknown"


@dataclass(frozen=True)
class Command:
    id: str
    kind: str
    org_id: str
    actor: Actor
    request_id: str
    deadline: float
    reply_to: str
    resource_id: str | None = None
    body: Any = None
    if_match: str | None = None
    # How the reply should carry the resource: Group PATCH answers 204 unless attributes are asked.
    options: dict = field(default_factory=dict)

    @property
    def resource_type(self) -> str:
        return "User" if self.kind.startswith("user.") else "Group"

    @property
    def ordering_key(self) -> str:
        """Commands with the same key are applied in arrival order (same lane of the ingress).

        The key names the resource a command touches: its id, or for a create the unique name
        it claims (userName / displayName, case-folded), so creates of different users spread
        over the lanes while two creates of the same name stay in order.
        """
        if self.resource_id:
            target = self.resource_id
        elif isinstance(self.body, dict):
            target = str(self.body.get("userName") or self.body.get("displayName") or "").casefold()
        else:
            target = ""
        return f"{self.org_id}:{self.resource_type}:{target}"

    def to_wire(self) -> dict:
        # Shallow on purpose (dataclasses.asdict deep-copies the body): this runs per request.
        data = {name: getattr(self, name) for name in _COMMAND_FIELDS}
        data["actor"] = {"token_id": self.actor.token_id, "user_agent": self.actor.user_agent, "idp": self.actor.idp}
        return data

    @classmethod
    def from_wire(cls, data: dict) -> "Command":
        data = dict(data)
        data["actor"] = Actor(**data["actor"])
        return cls(**data)


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


_COMMAND_FIELDS = tuple(f.name for f in fields(Command))
