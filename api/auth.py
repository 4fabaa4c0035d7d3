"""Bearer-token authentication and the organization checks of every SCIM request.

Only an Owner-role token of the organization named in the URL may call its SCIM endpoints, and
only while SCIM is enabled for it (Enterprise tier). A token of another organization gets exactly
the answer an unknown organization gets, so nothing about other tenants leaks. Grants are cached
for a couple of seconds (``SCIMGATE_AUTH_CACHE_SECONDS``) so a burst of IdP traffic costs one
lookup, not one per request; revoking a token or disabling SCIM takes effect within that time.

``Authenticator.principal_for(token)`` is the one way a bearer token becomes a principal: an
operator (``OperatorPrincipal``, the service's own ops team) or an organization grant
(``TokenGrant``: organization, role, token id). The SCIM check, the management API and the ops
dashboard all go through it. An operator token never reaches SCIM: it is refused with 403
(audited like every refusal). When a token was last used is written at most once a minute per
token and process, never once per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import Forbidden, Unauthorized
from infra.store.operators import OperatorPrincipal, find_operator, touch_operator
from infra.store.organizations import TokenGrant, find_grant, touch_token
from infra.tokens import hash_token, is_operator_token

Principal: TypeAlias = OperatorPrincipal | TokenGrant

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
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._touched: dict[str, float] = {}

    async def principal_for(self, token: str) -> Principal | None:
        """Who ``token`` is: an operator, an organization's grant, or None (unknown or revoked)."""
        key = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[1]
        principal: Principal | None
        async with self.engine.connect() as conn:
            principal = await (find_operator(conn, token) if is_operator_token(token) else find_grant(conn, token))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self.cache_seconds, principal)
        if principal is not None:
            await self._touch(principal, now)
        return principal

    async def grant_for(self, token: str) -> TokenGrant | None:
        """The organization grant of ``token`` (None for an operator's token or an unknown one)."""
        principal = await self.principal_for(token)
        return principal if isinstance(principal, TokenGrant) else None

    async def _touch(self, principal: Principal, now: float) -> None:
        key = principal.operator_id if isinstance(principal, OperatorPrincipal) else principal.token_id
        if now - self._touched.get(key, -1e9) <= TOUCH_INTERVAL_SECONDS:
            return
        if len(self._touched) > 10_000:
            self._touched.clear()
        self._touched[key] = now
        async with self.engine.begin() as conn:
            if isinstance(principal, OperatorPrincipal):
                await touch_operator(conn, key)
            else:
                await touch_token(conn, key)

    async def authorize(self, authorization: str | None, org_id: str) -> TokenGrant:
        token = bearer_token(authorization)
        if token is None:
            raise AuthRefused(Unauthorized("Authentication required: send Authorization: Bearer <Organization API token>"))
        principal = await self.principal_for(token)
        if isinstance(principal, OperatorPrincipal):
            raise AuthRefused(
                Forbidden("An operator token cannot call SCIM endpoints; the IdP uses an Organization API token "
                          "with the Owner role"),
                token_id=principal.operator_id,
            )
        grant = principal
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
