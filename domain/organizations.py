"""Organizations, their API tokens and who changes them: values and the store ports
(``OrganizationStore``, ``TokenStore``) of the management service (``domain.management``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

ENTERPRISE = "enterprise"
TIERS = (ENTERPRISE, "team")
ROLES = ("owner", "member")


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    tier: str
    scim_enabled: bool


@dataclass(frozen=True)
class ManagementActor:
    """Who made a management change, for the audit event (never a token value)."""

    via: str  # "api" | "cli" | "first-start"
    token_id: str | None = None
    user_agent: str = ""
    request_id: str | None = None


CLI = ManagementActor(via="cli")
FIRST_START = ManagementActor(via="first-start")


@dataclass(frozen=True)
class NewToken:
    """A token just made: its value is shown once and stored only as a hash."""

    id: str
    token: str


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of a token (never the token or its hash)."""

    id: str
    role: str
    name: str | None
    created: datetime
    last_used: datetime | None
    revoked: datetime | None

    def to_dict(self) -> dict:
        from domain.events import format_time

        def iso(value: datetime | None) -> str | None:
            return None if value is None else format_time(value)

        return {"id": self.id, "role": self.role, "name": self.name, "created": iso(self.created),
                "lastUsed": iso(self.last_used), "revoked": iso(self.revoked)}


class OrganizationStore(Protocol):
    def get(self, org_id: str, *, lock: bool = False) -> Organization | None:
        """``lock``: hold the row until commit (serialises with every other write of the organization)."""
        ...

    def all(self) -> list[Organization]: ...
    def insert(self, org: Organization, created: datetime) -> None: ...
    def set_scim_enabled(self, org_id: str, enabled: bool) -> None: ...


class TokenStore(Protocol):
    def create(self, org_id: str, role: str, name: str | None, created: datetime) -> NewToken:
        """Mint a token and store its hash (never the token)."""
        ...

    def revoke(self, token_id: str, when: datetime, org_id: str | None = None) -> str | None:
        """Revoke a live token (of ``org_id`` when given): the id of its organization, or None if
        there is no such live token."""
        ...

    def all_of(self, org_id: str) -> list[TokenInfo]:
        """The organization's tokens, oldest first, revoked ones included."""
        ...
