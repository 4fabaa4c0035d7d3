"""Operators (``domain.operators``) on the fakes: made and revoked with exactly their audit event."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain import events as ev
from domain.management_errors import InvalidRequest
from domain.operators import Operators
from domain.organizations import ManagementActor
from tests.unit.fakes import FakeUnitOfWork

T0 = datetime(2026, 1, 1)


@pytest.fixture
def uow():
    return FakeUnitOfWork()


@pytest.fixture
def operators(uow):
    return Operators(uow, clock=lambda: T0)


def test_creating_an_operator_is_audited_without_its_token(uow, operators):
    made = operators.create("  Ada (ops)  ")
    assert [(o.id, o.name) for o in operators.all()] == [(made.id, "Ada (ops)")]
    [event] = uow.committed
    assert (event.action, event.org_id, event.resource_type, event.resource_id, event.status) == (
        ev.OPERATOR_CREATE, "", "Operator", made.id, 201)
    assert made.token not in str(event.to_dict())


def test_revoking_is_audited_once_and_by_id(uow, operators):
    actor = ManagementActor(via="api", token_id="op-admin")
    made = operators.create("ops")
    assert operators.revoke(made.id, actor) is True
    assert operators.revoke(made.id, actor) is False
    assert operators.revoke("op-unknown") is False
    assert [e.action for e in uow.committed] == [ev.OPERATOR_CREATE, ev.OPERATOR_REVOKE]
    assert uow.committed[-1].token_id == "op-admin"
    assert operators.all()[0].revoked == T0


@pytest.mark.parametrize("name", ["", "   ", None, 42, "x" * 256])
def test_an_operator_needs_a_name(uow, operators, name):
    with pytest.raises(InvalidRequest):
        operators.create(name)
    assert operators.all() == [] and uow.committed == []
