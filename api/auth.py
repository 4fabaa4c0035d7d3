"""Bearer-token authentication and the organization checks of every SCIM request.

Only an Owner-role token of the organization named in the URL may call its SCIM endpoints, and
only while SCIM is enabled for it (Enterprise tier). A token of another organization gets exactly
the answer an unknown organization gets, so nothing about other tenants leaks. Grants are cached
for a couple of seconds (``SCIMGATE_AUTH_CACHE_SECONDS``) so a burst of IdP traffic costs one
lookup, not one per request; revoking a token or disabling SCIM takes effect within that time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import Forbidden, Unauthorized
from infra.store.organizations import TokenGrant, find_grant, touch_token
from infra.tokens import hash_token

WWW_AUTHENTICATE = 'Bearer realm="scimgate", error="invalid_token"'
TOUCH_INTERVAL_SECONDS = 60.0


class AuthRefused(Exception):
    """Carries the SCIM error to answer and the token id (when known) for the audit event."""

    def __init__(self, error, token_id: str | None = None):
        super().__init__(error.detail)
        self.error = error
        self.token_id = token_id


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


@dataclass
class Authenticator:
    engine: AsyncEngine
    cache_seconds: float = 2.0

    def __post_init__(self) -> None:
        self._cache: dict[str, tuple[float, TokenGrant | None]] = {}
        self._touched: dict[str, float] = {}

    async def grant_for(self, token: str) -> TokenGrant | None:
        key = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[1]
        async with self.engine.connect() as conn:
            grant = await find_grant(conn, token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self.cache_seconds, grant)
        if grant is not None and now - self._touched.get(grant.token_id, -1e9) > TOUCH_INTERVAL_SECONDS:
            self._touched[grant.token_id] = now
            async with self.engine.begin() as conn:
                await touch_token(conn, grant.token_id)
        return grant

    async def authorize(self, authorization: str | None, org_id: str) -> TokenGrant:
        token = bearer_token(authorization)
        if token is None:
            raise AuthRefused(Unauthorized("Authentication required: send Authorization: Bearer <Organization API token>"))
        grant = await self.grant_for(token)
        if grant is None or grant.org.id != org_id:
            raise AuthRefused(
                Unauthorized(f"The token is not valid for organization {org_id}"),
                token_id=None,
            )
        if grant.role != "owner":
            raise AuthRefused(
                Forbidden("SCIM provisioning requires an Organization API token with the Owner role"),
                token_id=grant.token_id,
            )
        if grant.org.tier != "enterprise":
            raise AuthRefused(
                Forbidden("SCIM provisioning is available only on the Enterprise tier"), token_id=grant.token_id
            )
        if not grant.org.scim_enabled:
            raise AuthRefused(
                Forbidden(
                    "SCIM provisioning is disabled for this organization; turn on the SCIM integration "
                    "(scimgate scim enable --org ORG_ID)"
                ),
                token_id=grant.token_id,
            )
        return grant
