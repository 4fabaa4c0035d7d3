"""The SQL unit of work on a real store: a change commits only with an audit event recorded after it,
a savepoint takes its events with it, and a decision is a ledger row and its event together."""

from __future__ import annotations

import time

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from domain import events as ev
from domain.commands import Actor, Command, CreateUser, Reply
from domain.organizations import CLI
from domain.unit_of_work import UnrecordedChange
from infra.store import ledger
from infra.store.tables import audit_outbox, organizations, processed_commands
from infra.store.unit_of_work import SqlUnitOfWork
from tests.support.seed import create_organization


@pytest.fixture
def org_id(sync_engine):
    with sync_engine.begin() as conn:
        return create_organization(conn, "Acme", "enterprise").id


def scim_enabled(engine, org_id) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(organizations.c.scim_enabled).where(organizations.c.id == org_id)).scalar_one()


def outbox(engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_outbox.c.event).order_by(audit_outbox.c.seq))
        return [orjson.loads(row.event) for row in rows]


def event_for(org_id: str, action: str = ev.ORG_SCIM_ENABLE) -> ev.AuditEvent:
    return ev.EVENTS.management(org_id, CLI, action, status=200)


def command(org_id: str) -> Command:
    return CreateUser(id=f"cmd-{time.time_ns()}", org_id=org_id, actor=Actor("tok"),
                      request_id="req", deadline=time.time() + 30, reply_to="r", body={"userName": "x@x"})


def test_a_change_without_its_event_is_refused_at_commit_and_rolled_back(sync_engine, org_id):
    with pytest.raises(UnrecordedChange), SqlUnitOfWork(sync_engine) as uow:
        uow.organizations.set_scim_enabled(org_id, True)
        uow.commit()
    assert scim_enabled(sync_engine, org_id) is False and outbox(sync_engine) == []


def test_a_change_commits_with_the_event_recorded_after_it(sync_engine, org_id):
    with SqlUnitOfWork(sync_engine) as uow:
        uow.organizations.set_scim_enabled(org_id, True)
        uow.record(event_for(org_id))
        written = uow.commit()
    assert scim_enabled(sync_engine, org_id) is True
    assert [event["action"] for _seq, event in written] == [e["action"] for e in outbox(sync_engine)] == [
        ev.ORG_SCIM_ENABLE]


def test_an_event_recorded_before_a_change_does_not_cover_it(sync_engine, org_id):
    with pytest.raises(UnrecordedChange), SqlUnitOfWork(sync_engine) as uow:
        uow.record(event_for(org_id))
        uow.organizations.set_scim_enabled(org_id, True)
        uow.commit()
    assert scim_enabled(sync_engine, org_id) is False and outbox(sync_engine) == []


def test_leaving_without_commit_rolls_back_the_change_and_its_event(sync_engine, org_id):
    with SqlUnitOfWork(sync_engine) as uow:
        uow.organizations.set_scim_enabled(org_id, True)
        uow.record(event_for(org_id))
    assert scim_enabled(sync_engine, org_id) is False and outbox(sync_engine) == []


def test_taking_a_lock_is_not_a_change(sync_engine, org_id):
    with SqlUnitOfWork(sync_engine) as uow:
        assert uow.organizations.get(org_id, lock=True).id == org_id
        assert uow.commit() == []


def test_a_savepoint_takes_its_events_with_it_and_checks_its_own_change(sync_engine, org_id):
    with SqlUnitOfWork(sync_engine) as uow:
        kept = uow.savepoint()
        uow.organizations.set_scim_enabled(org_id, True)
        uow.record(event_for(org_id))
        kept.commit()
        dropped = uow.savepoint()
        uow.organizations.set_scim_enabled(org_id, False)
        uow.record(event_for(org_id, ev.ORG_SCIM_DISABLE))
        dropped.rollback()
        unrecorded = uow.savepoint()
        uow.organizations.set_scim_enabled(org_id, False)
        with pytest.raises(UnrecordedChange):
            unrecorded.commit()
        unrecorded.rollback()
        uow.commit()
    assert scim_enabled(sync_engine, org_id) is True
    assert [e["action"] for e in outbox(sync_engine)] == [ev.ORG_SCIM_ENABLE]


def test_a_decision_is_its_ledger_row_and_its_event_and_happens_once(sync_engine, org_id):
    cmd = command(org_id)
    reply = Reply(cmd.id, 503, {"detail": "expired"})
    with SqlUnitOfWork(sync_engine) as uow:
        uow.decide(cmd, ledger.EXPIRED, reply, ev.EVENTS.unapplied(cmd, outcome=ev.EXPIRED, status=503))
        uow.commit()
    with pytest.raises(IntegrityError), SqlUnitOfWork(sync_engine) as uow:
        uow.decide(cmd, ledger.APPLIED, Reply(cmd.id, 201), ev.EVENTS.unapplied(cmd, outcome=ev.EXPIRED, status=503))
        uow.commit()
    with SqlUnitOfWork(sync_engine) as uow:
        assert uow.decision(cmd.id) == (ledger.EXPIRED, reply)
    assert [(e["outcome"], e["command_id"]) for e in outbox(sync_engine)] == [("expired", cmd.id)]


def test_the_worker_fails_alone_a_command_that_changed_something_after_its_event(sync_engine, org_id, monkeypatch):
    """A bug that changes the store after the command's event was recorded: that command fails (500),
    nothing of it is committed, the rest of the batch is applied."""
    from worker.apply import BatchApplier

    def create(name: str) -> Command:
        return CreateUser(id=f"cmd-{name}-{time.time_ns()}", org_id=org_id, actor=Actor("tok"),
                          request_id="req", deadline=time.time() + 30, reply_to="r",
                       body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"{name}@x"})

    sneaky, fine = create("sneaky"), create("fine")
    real = SqlUnitOfWork.decide

    def decide(self, cmd, outcome, reply, event):
        real(self, cmd, outcome, reply, event)
        if cmd.id == sneaky.id and outcome == ledger.APPLIED:
            self.organizations.set_scim_enabled(cmd.org_id, True)  # a change after its event

    monkeypatch.setattr(SqlUnitOfWork, "decide", decide)
    decided, written = BatchApplier(sync_engine).apply([sneaky, fine])
    assert [(d.outcome, d.reply.status) for d in decided] == [("rejected", 500), ("applied", 201)]
    assert scim_enabled(sync_engine, org_id) is False
    assert [(e["outcome"], e["command_id"]) for _seq, e in written] == [("failure", sneaky.id), ("success", fine.id)]
    with sync_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(processed_commands)).scalar_one() == 2
