"""Operators: the service's own ops team, a role above organizations.

An operator signs in with an operator token (to the ops dashboard, and to the provisioning log
across organizations, ``/api/v1/provisioning-log``); an operator token never reaches a SCIM
endpoint (``api.auth``). Like an organization's tokens, it is shown once when it is made and
stored only as a hash (``infra.tokens``). Making and revoking one are audited (events
``operator:create`` and ``operator:revoke``, with no organization), through the unit of work like
every other change, so they reach the audit stream and the provisioning log too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from domain import events as ev
from domain.clock import Clock
from domain.management_errors import InvalidRequest
from domain.organizations import CLI, ManagementActor, NewToken

if TYPE_CHECKING:
    from domain.unit_of_work import UnitOfWork

MAX_OPERATOR_NAME = 255


@dataclass(frozen=True)
class OperatorInfo:
    """What may be shown of an operator (never the token or its hash)."""

    id: str
    name: str
    created: datetime
    last_used: datetime | None
    revoked: datetime | None

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "created": _iso(self.created), "lastUsed": _iso(self.last_used),
                "revoked": _iso(self.revoked)}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else ev.format_time(value)


class OperatorStore(Protocol):
    def create(self, name: str, created: datetime) -> NewToken:
        """Mint an operator token and store its hash (never the token)."""
        ...

    def all(self) -> list[OperatorInfo]: ...

    def revoke(self, operator_id: str, when: datetime) -> bool:
        """Revoke a live operator: whether there was one."""
        ...


class Operators:
    """Making, listing and revoking operators, each change audited in its own transaction."""

    def __init__(self, uow: UnitOfWork, *, clock: Clock):
        self.uow = uow
        self.clock = clock
        self.events = ev.AuditEvents(clock)

    def create(self, name, actor: ManagementActor = CLI) -> NewToken:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_OPERATOR_NAME:
            raise InvalidRequest(f"an operator's name must be a non-empty string of at most {MAX_OPERATOR_NAME} "
                                 "characters")
        with self.uow as uow:
            made = uow.operators.create(name.strip(), self.clock())
            uow.record(self.events.management("", actor, ev.OPERATOR_CREATE, status=201, resource_type="Operator",
                                              resource_id=made.id,
                                              detail={"name": ev.clean_text(name.strip(), MAX_OPERATOR_NAME)}))
            uow.commit()
            return made

    def all(self) -> list[OperatorInfo]:
        with self.uow as uow:
            return uow.operators.all()

    def revoke(self, operator_id: str, actor: ManagementActor = CLI) -> bool:
        with self.uow as uow:
            if not uow.operators.revoke(operator_id, self.clock()):
                return False
            uow.record(self.events.management("", actor, ev.OPERATOR_REVOKE, status=200, resource_type="Operator",
                                              resource_id=operator_id))
            uow.commit()
            return True
