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

    def revoke(self, token_id: str, when: datetime) -> str | None:
        """Revoke a live token: the id of its organization, or None if there is no such live token."""
        ...
