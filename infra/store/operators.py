"""Operators in SQL (``domain.operators.OperatorStore``), and the operator-token check of the ingress.

An operator's token is stored only as its SHA-256 (``infra.tokens``, as for organization tokens);
the lookup is one indexed query on the hash, then a constant-time comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.operators import OperatorInfo
from domain.organizations import NewToken
from infra.ids import new_operator_id
from infra.store.clock import utcnow
from infra.store.tables import operators
from infra.tokens import OPERATOR_TOKEN_PREFIX, hash_token, hashes_match, new_token


@dataclass(frozen=True)
class OperatorPrincipal:
    """A presented operator token that matched: which operator."""

    operator_id: str
    name: str


class SqlOperators:
    def __init__(self, conn: Connection):
        self.conn = conn

    def create(self, name: str, created: datetime) -> NewToken:
        token, operator_id = new_token(OPERATOR_TOKEN_PREFIX), new_operator_id()
        self.conn.execute(
            operators.insert().values(id=operator_id, name=name, token_hash=hash_token(token), created_at=created)
        )
        return NewToken(operator_id, token)

    def all(self) -> list[OperatorInfo]:
        rows = self.conn.execute(
            select(operators.c.id, operators.c.name, operators.c.created_at, operators.c.last_used_at,
                   operators.c.revoked_at).order_by(operators.c.created_at, operators.c.id)
        )
        return [OperatorInfo(r.id, r.name, r.created_at, r.last_used_at, r.revoked_at) for r in rows]

    def revoke(self, operator_id: str, when: datetime) -> bool:
        result = self.conn.execute(
            update(operators).where(operators.c.id == operator_id, operators.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return bool(result.rowcount)


async def find_operator(conn: AsyncConnection, token: str) -> OperatorPrincipal | None:
    """The live operator whose token is ``token``, or None."""
    row = (
        await conn.execute(
            select(operators.c.id, operators.c.name, operators.c.token_hash)
            .where(operators.c.token_hash == hash_token(token), operators.c.revoked_at.is_(None))
        )
    ).first()
    if row is None or not hashes_match(row.token_hash, token):
        return None
    return OperatorPrincipal(row.id, row.name)


async def touch_operator(conn: AsyncConnection, operator_id: str) -> None:
    """When an operator's token was last used: bookkeeping, not a change to audit."""
    await conn.execute(update(operators).where(operators.c.id == operator_id).values(last_used_at=utcnow()))
