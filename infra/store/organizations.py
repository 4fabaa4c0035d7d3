"""Organizations and their API tokens in SQL: the management service's ``OrganizationStore`` and
``TokenStore`` ports (``domain.management``), and the token check the ingress makes on every request.

The rules (tiers, roles, the SCIM toggle) live in ``domain.management``; the adapters are reached
through the unit of work (``infra.store.unit_of_work``), which commits a change only with its
audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.organizations import NewToken, Organization, TokenInfo
from infra.ids import new_token_id
from infra.store.clock import utcnow
from infra.store.tables import api_tokens, organizations
from infra.tokens import hash_token, hashes_match, new_token

# An execution option marking a statement that only takes a lock: not a change to audit.
LOCK_ONLY = "scimgate_lock_only"


@dataclass(frozen=True)
class TokenGrant:
    """A presented token that matched: which token, which organization, what role."""

    token_id: str
    role: str
    org: Organization


def _org_from_row(row) -> Organization:
    return Organization(row.id, row.name, row.tier, bool(row.scim_enabled))


class SqlOrganizations:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, org_id: str, *, lock: bool = False) -> Organization | None:
        query = select(organizations).where(organizations.c.id == org_id)
        if lock and self.conn.dialect.name == "postgresql":
            # NO KEY UPDATE: serialises the organization's management writes without blocking
            # the key-share locks every insert of one of its users or Teams takes (a FOR UPDATE
            # there deadlocked a user's deletion against the worker's concurrent member adds).
            query = query.with_for_update(key_share=True)  # renders FOR NO KEY UPDATE
        elif lock:
            # A write first: takes SQLite's write lock before any read, so the transaction never
            # needs to upgrade a read snapshot (which would fail under a concurrent writer).
            self.conn.execute(
                update(organizations).where(organizations.c.id == org_id)
                .values(scim_enabled=organizations.c.scim_enabled)
                .execution_options(**{LOCK_ONLY: True})
            )
        row = self.conn.execute(query).first()
        return _org_from_row(row) if row else None

    def all(self) -> list[Organization]:
        rows = self.conn.execute(select(organizations).order_by(organizations.c.created_at))
        return [_org_from_row(row) for row in rows]

    def insert(self, org: Organization, created: datetime) -> None:
        self.conn.execute(
            organizations.insert().values(id=org.id, name=org.name, tier=org.tier, scim_enabled=org.scim_enabled,
                                          created_at=created)
        )

    def set_scim_enabled(self, org_id: str, enabled: bool) -> None:
        self.conn.execute(update(organizations).where(organizations.c.id == org_id).values(scim_enabled=enabled))


class SqlTokens:
    def __init__(self, conn: Connection):
        self.conn = conn

    def create(self, org_id: str, role: str, name: str | None, created: datetime) -> NewToken:
        """A new token of ``org_id``; only its hash is stored, the token itself is returned once."""
        token, token_id = new_token(), new_token_id()
        self.conn.execute(
            api_tokens.insert().values(
                id=token_id, org_id=org_id, role=role, token_hash=hash_token(token), name=name, created_at=created
            )
        )
        return NewToken(token_id, token)

    def revoke(self, token_id: str, when: datetime, org_id: str | None = None) -> str | None:
        live = [api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)]
        if org_id is not None:
            live.append(api_tokens.c.org_id == org_id)
        row = self.conn.execute(
            update(api_tokens).where(*live).values(revoked_at=when).returning(api_tokens.c.org_id)
        ).first()
        return row.org_id if row else None

    def all_of(self, org_id: str) -> list[TokenInfo]:
        rows = self.conn.execute(
            select(api_tokens.c.id, api_tokens.c.role, api_tokens.c.name, api_tokens.c.created_at,
                   api_tokens.c.last_used_at, api_tokens.c.revoked_at)
            .where(api_tokens.c.org_id == org_id).order_by(api_tokens.c.created_at, api_tokens.c.id)
        )
        return [TokenInfo(r.id, r.role, r.name, r.created_at, r.last_used_at, r.revoked_at) for r in rows]


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
    """When a token was last used: bookkeeping of the ingress, not a change to audit."""
    await conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=utcnow()))
