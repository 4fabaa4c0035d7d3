"""Organizations and tokens for test fixtures, written straight into the store as rows.

No rule is checked and no audit event is written: product code changes organizations only
through the management service (``domain.management``) in a unit of work, which audits every
change; fixtures seed the store directly so that the audit stream a test reads holds only what
the test itself did.
"""

from __future__ import annotations

from sqlalchemy import Connection

from domain.organizations import Organization
from infra.ids import new_org_id
from infra.store.clock import utcnow
from infra.store.organizations import SqlOrganizations, SqlTokens


def create_organization(conn: Connection, name: str, tier: str = "enterprise", *, scim: bool = False) -> Organization:
    org = Organization(new_org_id(), name, tier, scim)
    SqlOrganizations(conn).insert(org, utcnow())
    return org


def set_scim_enabled(conn: Connection, org_id: str, enabled: bool) -> None:
    SqlOrganizations(conn).set_scim_enabled(org_id, enabled)


def create_token(conn: Connection, org_id: str, role: str, name: str | None = None) -> tuple[str, str]:
    """``(token_id, token)``; only the token's hash is stored."""
    made = SqlTokens(conn).create(org_id, role, name, utcnow())
    return made.id, made.token


def list_organizations(conn: Connection) -> list[Organization]:
    return SqlOrganizations(conn).all()
