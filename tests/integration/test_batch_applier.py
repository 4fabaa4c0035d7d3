"""The worker's batch transaction against a real store: savepoints, the ledger fence, the outbox."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace

import orjson
import pytest
from sqlalchemy import event, func, select

from domain import commands as c
from domain.commands import Actor, Command, Reply
from tests.support.commands import make_command
from infra.store import ledger
from infra.store.engine import make_async_engine
from infra.store.fence import UNDECIDED, StoreFence
from tests.support.seed import create_organization
from infra.store.repositories import SqlTeams, SqlUsers
from infra.store.tables import audit_outbox, processed_commands, team_members, users
from worker.apply import BatchApplier

_ids = itertools.count()


@pytest.fixture
def org_id(sync_engine):
    with sync_engine.begin() as conn:
        return create_organization(conn, "Acme").id


def command(org_id, kind, body=None, *, resource_id=None, deadline_in=30.0, **fields) -> Command:
    return make_command(kind, body, id=f"cmd-{next(_ids)}-{time.time_ns()}", org_id=org_id,
                        actor=Actor("tok", "ua", "okta"), deadline=time.time() + deadline_in,
                        resource_id=resource_id, **fields)


def user(name):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}


def count(engine, table, *where):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_one_failing_command_touches_no_other(sync_engine, org_id):
    applier = BatchApplier(sync_engine)
    batch = [
        command(org_id, c.USER_CREATE, user("a@x")),
        command(org_id, c.USER_CREATE, user("A@X")),  # clashes with the first, in the same batch
        command(org_id, c.USER_CREATE, user("b@x")),
        command(org_id, c.USER_PATCH, {"Operations": []}, resource_id="nope"),
    ]
    decided, seqs = applier.apply(batch)
    assert [d.reply.status for d in decided] == [201, 409, 201, 404]
    assert [d.outcome for d in decided] == ["applied", "rejected", "applied", "rejected"]
    assert count(sync_engine, users) == 2
    assert count(sync_engine, processed_commands) == 4
    assert len(seqs) == 4 == count(sync_engine, audit_outbox)


def test_redelivery_changes_nothing_and_returns_the_stored_reply(sync_engine, org_id):
    applier = BatchApplier(sync_engine)
    create = command(org_id, c.USER_CREATE, user("a@x"))
    first, _ = applier.apply([create])
    second, seqs = applier.apply([create])
    assert second[0].outcome == "duplicate"
    assert second[0].reply == first[0].reply
    assert seqs == [] and count(sync_engine, users) == 1 and count(sync_engine, audit_outbox) == 1


def test_expired_commands_are_recorded_and_dropped(sync_engine, org_id):
    applier = BatchApplier(sync_engine)
    late = command(org_id, c.USER_CREATE, user("late@x"), deadline_in=-1)
    decided, _ = applier.apply([late])
    assert decided[0].outcome == "expired" and decided[0].reply.status == 503
    assert count(sync_engine, users) == 0
    with sync_engine.connect() as conn:
        assert ledger.decided_reply(conn, late.id)[0] == ledger.EXPIRED
        event = orjson.loads(conn.execute(select(audit_outbox.c.event)).scalar_one())
    assert event["outcome"] == "expired" and event["command_id"] == late.id


def test_a_command_that_runs_out_of_time_before_commit_is_redone_without(sync_engine, org_id):
    """The deadline is checked again just before commit; the late command is dropped, the rest kept."""
    times = iter([0.0, 0.0])  # both start in time; by the pre-commit check the first one's deadline passed

    def clock():
        return next(times, 10.0)

    applier = BatchApplier(sync_engine, clock=clock)
    soon = command(org_id, c.USER_CREATE, user("soon@x"))
    later = command(org_id, c.USER_CREATE, user("later@x"))
    soon = replace(soon, deadline=5.0)
    later = replace(later, deadline=100.0)
    decided, _ = applier.apply([soon, later])
    assert {d.command.id: d.outcome for d in decided} == {soon.id: "expired", later.id: "applied"}
    with sync_engine.connect() as conn:
        names = [row.user_name for row in conn.execute(select(users.c.user_name))]
    assert names == ["later@x"]


def fence_now(sync_engine, create: Command, *, patient: bool = True, dead_letter: bool = False):
    """Run the ingress's fence for ``create`` on an async engine over the same store."""
    url = sync_engine.url.render_as_string(hide_password=False)
    schema = getattr(sync_engine, "test_schema", None)
    kwargs = {"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}

    async def run():
        engine = make_async_engine(url, **kwargs)
        try:
            fence = StoreFence(engine, patience=5)
            if dead_letter:
                return await fence.dead_letter(create, "test")
            return await fence.decide(create, patient=patient)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_the_ingress_fence_wins_over_a_later_worker(sync_engine, org_id):
    create = command(org_id, c.USER_CREATE, user("fenced@x"))
    assert fence_now(sync_engine, create) is None  # nobody applied it: fenced off as expired
    decided, _ = BatchApplier(sync_engine).apply([create])  # a worker receives it afterwards
    assert decided[0].outcome == "duplicate" and decided[0].reply.status == 503
    assert count(sync_engine, users) == 0


def test_the_fence_returns_the_committed_reply_when_a_worker_won(sync_engine, org_id):
    create = command(org_id, c.USER_CREATE, user("won@x"))
    decided, _ = BatchApplier(sync_engine).apply([create])
    reply = fence_now(sync_engine, create)
    assert reply == decided[0].reply and reply.status == 201


def test_an_impatient_fence_gives_up_while_a_worker_transaction_holds_the_command(sync_engine, org_id):
    create = command(org_id, c.USER_CREATE, user("held@x"))
    with sync_engine.connect() as conn:
        transaction = conn.begin()
        ledger.record_decision(conn, create, ledger.APPLIED, Reply(create.id, 201, None))  # not committed
        started = time.monotonic()
        assert fence_now(sync_engine, create, patient=False) is UNDECIDED
        assert time.monotonic() - started < 5
        transaction.rollback()
    assert fence_now(sync_engine, create, patient=False) is None  # the worker gave up: fenced now


def test_a_dead_lettered_command_is_never_applied_and_says_why(sync_engine, org_id):
    create = command(org_id, c.USER_CREATE, user("poison@x"))
    reply = fence_now(sync_engine, create, dead_letter=True)
    assert reply.status == 500 and "not applied" in reply.body["detail"]
    decided, _ = BatchApplier(sync_engine).apply([create])  # a late delivery changes nothing
    assert decided[0].outcome == "duplicate" and decided[0].reply.status == 500
    assert count(sync_engine, users) == 0
    with sync_engine.connect() as conn:
        events = [orjson.loads(row.event) for row in conn.execute(select(audit_outbox.c.event))]
    assert [(e["outcome"], e["detail"]["deadLettered"]) for e in events] == [("failure", True)]


def test_a_worker_dead_letters_a_batch_delivered_too_often(sync_engine, org_id):
    done = command(org_id, c.USER_CREATE, user("done@x"))
    BatchApplier(sync_engine).apply([done])
    poison = command(org_id, c.USER_CREATE, user("again@x"))
    decided, events = BatchApplier(sync_engine).dead_letter([done, poison], "delivered 4 times")
    assert {d.command.id: (d.outcome, d.reply.status) for d in decided} == {
        done.id: ("duplicate", 201), poison.id: ("rejected", 500)}
    assert [event["detail"]["reason"] for _, event in events] == ["delivered 4 times"]
    assert count(sync_engine, users) == 1


def test_membership_set_operations_cost_the_change(sync_engine, org_id):
    applier = BatchApplier(sync_engine)
    created = applier.apply([command(org_id, c.USER_CREATE, user(f"u{i}@x")) for i in range(5)])[0]
    ids = [d.reply.body["id"] for d in created]
    team = applier.apply([command(org_id, c.GROUP_CREATE, {"displayName": "Eng"})])[0][0].reply.body["id"]
    with sync_engine.begin() as conn:
        teams = SqlTeams(conn)
        assert teams.add_members(org_id, team, ids[:3]) == ids[:3]
        assert teams.add_members(org_id, team, ids[:4]) == [ids[3]]  # only the new one
        assert sorted(teams.remove_members(team, [ids[0], ids[4]])) == [ids[0]]
        SqlUsers(conn).delete(org_id, ids[1])
        assert sorted(m["value"] for m in teams.members_of(team)) == sorted([ids[2], ids[3]])
    assert count(sync_engine, team_members) == 2


def test_a_transient_failure_retries_the_whole_batch(sync_engine, org_id, monkeypatch):
    """A deadlock between concurrent batches rolls back everything; the batch is simply redone."""
    from sqlalchemy.exc import OperationalError

    import worker.apply as apply_module

    class Deadlock(Exception):
        sqlstate = "40P01"

    applier = BatchApplier(sync_engine)
    real = applier._apply_in
    calls = {"n": 0}

    def flaky(conn, commands, skip, **how):
        calls["n"] += 1
        result = real(conn, commands, skip, **how)
        if calls["n"] == 1:
            raise OperationalError("INSERT ...", {}, Deadlock("deadlock detected"))
        return result

    monkeypatch.setattr(applier, "_apply_in", flaky)
    monkeypatch.setattr(apply_module.time, "sleep", lambda _s: None)
    decided, _ = applier.apply([command(org_id, c.USER_CREATE, user("retried@x"))])
    assert calls["n"] == 2 and decided[0].outcome == "applied"
    assert count(sync_engine, users) == 1 and count(sync_engine, processed_commands) == 1


def test_one_command_hitting_a_bug_or_a_store_error_fails_alone(sync_engine, org_id, monkeypatch):
    from sqlalchemy.exc import DataError

    from domain.provisioning import Provisioner

    real = Provisioner.handle
    broken, refused = command(org_id, c.USER_CREATE, user("bug@x")), command(org_id, c.USER_CREATE, user("data@x"))

    def handle(self, cmd):
        if cmd.id == broken.id:
            raise RuntimeError("a bug")
        if cmd.id == refused.id:
            raise DataError("INSERT ...", {}, Exception("text fields cannot contain NUL (0x00) bytes"))
        return real(self, cmd)

    monkeypatch.setattr(Provisioner, "handle", handle)
    fine = command(org_id, c.USER_CREATE, user("fine@x"))
    decided, _ = BatchApplier(sync_engine).apply([broken, refused, fine])
    assert [d.reply.status for d in decided] == [500, 400, 201]
    assert [d.outcome for d in decided] == ["rejected", "rejected", "applied"]
    assert count(sync_engine, users) == 1


def test_the_store_lost_while_a_command_runs_is_waited_out_not_blamed_on_the_command(sync_engine, org_id, monkeypatch):
    """The connection dies under a command (the server was killed): that is an outage, not that
    command's error. No 500 for it; the whole batch runs again once the store answers."""
    from sqlalchemy.exc import OperationalError

    import worker.apply as apply_module
    from domain.provisioning import Provisioner

    real = Provisioner.handle
    first, second = command(org_id, c.USER_CREATE, user("a@x")), command(org_id, c.USER_CREATE, user("b@x"))
    lost = []

    def handle(self, cmd):
        if cmd.id == second.id and not lost:
            lost.append(cmd.id)
            raise OperationalError("SELECT ...", {}, Exception("server closed the connection unexpectedly"))
        return real(self, cmd)

    monkeypatch.setattr(Provisioner, "handle", handle)
    monkeypatch.setattr(apply_module.time, "sleep", lambda _s: None)
    decided, _ = BatchApplier(sync_engine).apply([first, second])
    assert lost and [d.outcome for d in decided] == ["applied", "applied"]
    assert [d.reply.status for d in decided] == [201, 201]
    assert count(sync_engine, users) == 2 and count(sync_engine, processed_commands) == 2


def test_old_decisions_are_pruned_and_recent_ones_kept(sync_engine, org_id):
    from datetime import timedelta

    from sqlalchemy import update

    from infra.store.clock import utcnow

    applier = BatchApplier(sync_engine)
    old, recent = command(org_id, c.USER_CREATE, user("old@x")), command(org_id, c.USER_CREATE, user("new@x"))
    applier.apply([old, recent])
    with sync_engine.begin() as conn:
        conn.execute(
            update(processed_commands)
            .where(processed_commands.c.command_id == old.id)
            .values(created_at=utcnow() - timedelta(days=2))
        )
    with sync_engine.begin() as conn:
        assert ledger.prune_decisions(conn, older_than=utcnow() - timedelta(hours=24)) == 1
    with sync_engine.connect() as conn:
        assert ledger.decided_reply(conn, old.id) is None
        assert ledger.decided_reply(conn, recent.id) is not None
    assert count(sync_engine, users) == 2  # pruning the ledger never touches the data


def _statements(engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_rest):
        seen.append(statement)

    return seen


def test_a_batch_of_successes_takes_no_savepoint_and_writes_its_ledger_rows_at_once(sync_engine, org_id):
    seen = _statements(sync_engine)
    batch = [command(org_id, c.USER_CREATE, user(f"fast{n}@x")) for n in range(5)]
    decided, written = BatchApplier(sync_engine).apply(batch)
    assert [d.outcome for d in decided] == ["applied"] * 5
    assert not [s for s in seen if "SAVEPOINT" in s]
    assert len([s for s in seen if s.startswith("INSERT INTO processed_commands")]) == 1
    assert len([s for s in seen if s.startswith("INSERT INTO audit_outbox")]) == 1
    assert count(sync_engine, processed_commands) == 5 and len(written) == 5 == count(sync_engine, audit_outbox)
    assert sorted(seq for seq, _e in written) == [seq for seq, _e in written]  # each event with its own row
    assert [e["command_id"] for _seq, e in written] == [cmd.id for cmd in batch]


def test_a_rejection_before_any_write_keeps_the_batch_without_savepoints(sync_engine, org_id):
    seen = _statements(sync_engine)
    batch = [command(org_id, c.USER_CREATE, user("kept@x")),
             command(org_id, c.USER_PATCH, {"Operations": []}, resource_id="nope"),
             command(org_id, c.USER_CREATE, user("kept2@x"))]
    decided, written = BatchApplier(sync_engine).apply(batch)
    assert [d.reply.status for d in decided] == [201, 404, 201]
    assert not [s for s in seen if "SAVEPOINT" in s]
    assert count(sync_engine, users) == 2 and count(sync_engine, processed_commands) == 3
    assert [e["status"] for _seq, e in written] == [d.reply.status for d in decided]


def test_a_command_rejected_after_it_wrote_is_undone_with_everything_it_wrote(sync_engine, org_id, monkeypatch):
    """The batch tried without savepoints cannot take back a write: it is redone with them, and
    the command's own user, ledger row and event go while the others commit."""
    from domain.errors import InvalidValue
    from domain.provisioning import Provisioner

    real = Provisioner.handle
    half = command(org_id, c.USER_CREATE, user("half@x"))

    def handle(self, cmd):
        outcome = real(self, cmd)  # the user is inserted...
        if cmd.id == half.id:
            raise InvalidValue("refused after the write")  # ...and then the command is refused
        return outcome

    monkeypatch.setattr(Provisioner, "handle", handle)
    batch = [command(org_id, c.USER_CREATE, user("before@x")), half, command(org_id, c.USER_CREATE, user("after@x"))]
    decided, written = BatchApplier(sync_engine).apply(batch)
    assert [d.reply.status for d in decided] == [201, 400, 201]
    with sync_engine.connect() as conn:
        names = sorted(conn.execute(select(users.c.user_name)).scalars())
    assert names == ["after@x", "before@x"]
    assert [e["status"] for _seq, e in written] == [d.reply.status for d in decided]
    assert count(sync_engine, audit_outbox) == 3 and count(sync_engine, processed_commands) == 3


def test_a_fence_that_lands_after_the_batch_looked_still_wins(sync_engine, org_id, monkeypatch):
    """The ingress fences a command off between the worker's ledger look-up and its commit (on
    PostgreSQL, another transaction commits meanwhile): the queued ledger row meets it, and the
    batch is redone, the fenced command a duplicate that changes nothing."""
    from infra.store.unit_of_work import SqlUnitOfWork

    fenced = command(org_id, c.USER_CREATE, user("late-fence@x"))
    assert fence_now(sync_engine, fenced) is None
    real = SqlUnitOfWork.decisions
    looks = []

    def decisions(self, ids):
        looks.append(ids)
        return {} if len(looks) == 1 else real(self, ids)  # the first look misses the fence

    monkeypatch.setattr(SqlUnitOfWork, "decisions", decisions)
    other = command(org_id, c.USER_CREATE, user("other@x"))
    decided, _ = BatchApplier(sync_engine).apply([other, fenced])
    assert [(d.outcome, d.reply.status) for d in decided] == [("applied", 201), ("duplicate", 503)]
    with sync_engine.connect() as conn:
        assert list(conn.execute(select(users.c.user_name)).scalars()) == ["other@x"]
