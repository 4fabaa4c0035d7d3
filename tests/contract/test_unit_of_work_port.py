"""What every unit of work must do (the fake one the unit tests use, and the SQL one): a change
commits together with its audit event, a change without one is refused, and leaving without
committing changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import orjson
import pytest
from sqlalchemy import select

from domain import events as ev
from domain.organizations import CLI, Organization
from domain.unit_of_work import UnitOfWork, UnrecordedChange
from infra.store.tables import audit_outbox
from infra.store.unit_of_work import SqlUnitOfWork
from tests.unit.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 30, 12, 0, 0)
_n = iter(range(10**6))


@dataclass
class Subject:
    uow: UnitOfWork
    committed_event_ids: Callable[[], list[str]]


@pytest.fixture(params=["fake", "sql"])
def subject(request) -> Subject:
    if request.param == "fake":
        fake = FakeUnitOfWork()
        return Subject(fake, lambda: [event.event_id for event in fake.committed])
    engine = request.getfixturevalue("sync_engine")

    def committed() -> list[str]:
        with engine.connect() as conn:
            return [orjson.loads(row.event)["event_id"] for row in conn.execute(select(audit_outbox.c.event))]

    return Subject(SqlUnitOfWork(engine), committed)


def _new_org(uow: UnitOfWork) -> str:
    org_id = f"c{next(_n):024d}"
    uow.organizations.insert(Organization(org_id, "Acme", "enterprise", False), NOW)
    return org_id


def test_a_change_commits_with_its_event(subject):
    event_ids = []
    with subject.uow as uow:
        org_id = _new_org(uow)
        event = ev.EVENTS.management(org_id, CLI, ev.ORG_CREATE, status=201)
        uow.record(event)
        event_ids.append(event.event_id)
        uow.commit()
    with subject.uow as uow:
        assert uow.organizations.get(org_id) is not None
    assert subject.committed_event_ids() == event_ids


def test_a_change_without_its_event_is_refused_and_leaves_nothing(subject):
    with pytest.raises(UnrecordedChange), subject.uow as uow:
        org_id = _new_org(uow)
        uow.commit()
    with subject.uow as uow:
        assert uow.organizations.get(org_id) is None
    assert subject.committed_event_ids() == []


def test_a_change_after_the_last_event_is_refused_too(subject):
    with pytest.raises(UnrecordedChange), subject.uow as uow:
        org_id = _new_org(uow)
        uow.record(ev.EVENTS.management(org_id, CLI, ev.ORG_CREATE, status=201))
        uow.organizations.set_scim_enabled(org_id, True)
        uow.commit()
    assert subject.committed_event_ids() == []


def test_leaving_without_commit_changes_nothing(subject):
    with subject.uow as uow:
        org_id = _new_org(uow)
        uow.record(ev.EVENTS.management(org_id, CLI, ev.ORG_CREATE, status=201))
    with subject.uow as uow:
        assert uow.organizations.get(org_id) is None
    assert subject.committed_event_ids() == []
