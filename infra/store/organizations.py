"""Organizations and their API tokens: created by the CLI, checked by the ingress on every request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from infra.ids import new_org_id, new_token_id
from infra.store.clock import utcnow
from infra.store.tables import api_tokens, organizations
from infra.tokens import hash_token, hashes_match, new_token

TIERS = ("enterprise", "team")
ROLES = ("owner", "member")


class OrganizationError(Exception):
    """A management request the organization's state does not allow (clear message for people)."""


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    tier: str
    scim_enabled: bool


@dataclass(frozen=True)
class TokenGrant:
    """A presented token that matched: which token, which organization, what role."""

    token_id: str
    role: str
    org: Organization


def _org_from_row(row) -> Organization:
    return Organization(row.id, row.name, row.tier, bool(row.scim_enabled))


def create_organization(conn: Connection, name: str, tier: str = "enterprise") -> Organization:
    if tier not in TIERS:
        raise OrganizationError(f"tier must be one of {', '.join(TIERS)}")
    org = Organization(new_org_id(), name, tier, False)
    conn.execute(
        organizations.insert().values(id=org.id, name=name, tier=tier, scim_enabled=False, created_at=utcnow())
    )
    return org


def get_organization(conn: Connection, org_id: str) -> Organization | None:
    row = conn.execute(select(organizations).where(organizations.c.id == org_id)).first()
    return _org_from_row(row) if row else None


def list_organizations(conn: Connection) -> list[Organization]:
    return [_org_from_row(row) for row in conn.execute(select(organizations).order_by(organizations.c.created_at))]


def set_scim_enabled(conn: Connection, org_id: str, enabled: bool) -> Organization:
    org = get_organization(conn, org_id)
    if org is None:
        raise OrganizationError(f"no organization {org_id}")
    if enabled and org.tier != "enterprise":
        raise OrganizationError(
            f"SCIM provisioning is available only on the Enterprise tier; organization {org_id} is on the {org.tier} tier"
        )
    conn.execute(update(organizations).where(organizations.c.id == org_id).values(scim_enabled=enabled))
    return Organization(org.id, org.name, org.tier, enabled)


def create_token(conn: Connection, org_id: str, role: str, name: str | None = None) -> tuple[str, str]:
    """Create a token; returns ``(token_id, token)``. The token itself is never stored."""
    if role not in ROLES:
        raise OrganizationError(f"role must be one of {', '.join(ROLES)}")
    if get_organization(conn, org_id) is None:
        raise OrganizationError(f"no organization {org_id}")
    token, token_id = new_token(), new_token_id()
    conn.execute(
        api_tokens.insert().values(
            id=token_id, org_id=org_id, role=role, token_hash=hash_token(token), name=name, created_at=utcnow()
        )
    )
    return token_id, token


def revoke_token(conn: Connection, token_id: str) -> bool:
    result = conn.execute(
        update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)).values(
            revoked_at=utcnow()
        )
    )
    return result.rowcount > 0


async def find_grant(conn: AsyncConnection, token: str) -> TokenGrant | None:
    """The live token matching ``token`` (by its hash: one indexed lookup), with its organization.

    The lookup is by the SHA-256 of a 256-bit random token, so the index compares hashes, never
    the token; the stored hash is then compared once more in constant time.
    """
    row = (
        await conn.execute(
            select(
                api_tokens.c.id.label("token_id"),
                api_tokens.c.token_hash,
                api_tokens.c.role,
                organizations.c.id,
                organizations.c.name,
                organizations.c.tier,
                organizations.c.scim_enabled,
            )
            .join(organizations, organizations.c.id == api_tokens.c.org_id)
            .where(api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None))
        )
    ).first()
    if row is None or not hashes_match(row.token_hash, token):
        return None
    return TokenGrant(row.token_id, row.role, _org_from_row(row))


async def touch_token(conn: AsyncConnection, token_id: str) -> None:
    await conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=utcnow()))
