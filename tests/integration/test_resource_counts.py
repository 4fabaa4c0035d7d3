"""Each organization's count of Users and Teams stays exactly its number of rows, through every
writer (inserts, deletes, a rolled-back command), and the migration that adds the counts fills
them from the rows already there: listings answer totals from them (``infra/store/counts.py``)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import func, select, text

from domain.errors import Uniqueness
from domain.events import EVENTS, ORG_SCIM_ENABLE
from domain.organizations import CLI
from domain.provisioning import TeamRecord, UserRecord
from infra.store import counts
from infra.store.engine import make_sync_engine
from infra.store.migrate import alembic_config, upgrade
from infra.store.repositories import SqlTeams, SqlUsers
from infra.store.tables import teams, users
from infra.store.unit_of_work import SqlUnitOfWork
from tests.support.seed import create_organization

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _user(org_id: str, n: int) -> UserRecord:
    return UserRecord(f"u-{org_id}-{n}", org_id, {"userName": f"user{n}@example.com"}, 1, NOW, NOW)


def _team(org_id: str, n: int) -> TeamRecord:
    return TeamRecord(f"t-{org_id}-{n}", org_id, {"displayName": f"Team {n}"}, 1, NOW, NOW)


def _rows(conn, table, org_id: str) -> int:
    return conn.execute(select(func.count()).select_from(table).where(table.c.org_id == org_id)).scalar_one()


def test_counts_follow_every_insert_and_delete_and_roll_back_with_a_failed_command(sync_engine):
    with sync_engine.begin() as conn:
        a, b = create_organization(conn, "A").id, create_organization(conn, "B").id
        for n in range(5):
            SqlUsers(conn).insert(_user(a, n))
        SqlUsers(conn).insert(_user(b, 0))
        for n in range(3):
            SqlTeams(conn).insert(_team(a, n))
    with sync_engine.begin() as conn:
        SqlUsers(conn).delete(a, f"u-{a}-1")
        SqlUsers(conn).delete(a, "no-such-user")  # deleting nothing counts nothing
        SqlUsers(conn).delete(b, f"u-{a}-2")  # another organization's user: not deleted
        SqlTeams(conn).delete(a, f"t-{a}-0")
        savepoint = conn.begin_nested()  # a command whose later step fails: all of it rolls back
        SqlUsers(conn).insert(_user(a, 9))
        savepoint.rollback()
        with pytest.raises(Uniqueness):  # a taken userName: nothing inserted, nothing counted
            with conn.begin_nested():
                SqlUsers(conn).insert(UserRecord(f"u-{a}-dup", a, {"userName": "USER0@example.com"}, 1, NOW, NOW))
    with sync_engine.connect() as conn:
        assert counts.totals_sync(conn, a, "User") == (_rows(conn, users, a), 1) == (4, 1)
        assert counts.totals_sync(conn, a, "Group") == (_rows(conn, teams, a), 1) == (2, 1)
        assert counts.totals_sync(conn, b, "User") == (1, 0)
        assert counts.totals_sync(conn, b, "Group") == (0, 0)


def test_the_migration_counts_the_rows_already_there(empty_database_url):
    url = empty_database_url
    engine = None
    try:
        command.upgrade(alembic_config(url), "0006")
        engine = make_sync_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (id, name, tier, scim_enabled, created_at) "
                              "VALUES ('o1', 'One', 'enterprise', true, CURRENT_TIMESTAMP)"))
            for n in range(3):
                conn.execute(text(
                    "INSERT INTO users (id, org_id, user_name, user_name_key, active, resource, version, created_at, "
                    "updated_at) VALUES (:id, 'o1', :name, :name, true, '{}', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ), {"id": f"u{n}", "name": f"user{n}"})
        upgrade(url)
        with engine.connect() as conn:
            assert counts.totals_sync(conn, "o1", "User") == (3, 0)
            assert counts.totals_sync(conn, "o1", "Group") == (0, 0)
    finally:
        if engine is not None:
            engine.dispose()


def test_a_unit_of_work_counts_at_commit_and_forgets_what_a_savepoint_or_a_rollback_undid(sync_engine):
    with sync_engine.begin() as conn:
        org = create_organization(conn, "UoW").id

    def recorded():  # any event: each change needs one
        return EVENTS.management(org, CLI, ORG_SCIM_ENABLE, status=200)

    with SqlUnitOfWork(sync_engine) as uow:
        uow.users.insert(_user(org, 0))
        uow.record(recorded())
        failed = uow.savepoint()  # a command whose later step fails after its insert
        uow.users.insert(_user(org, 1))
        uow.record(recorded())
        failed.rollback()
        kept = uow.savepoint()
        uow.teams.insert(_team(org, 0))
        uow.record(recorded())
        kept.commit()
        uow.commit()
    with SqlUnitOfWork(sync_engine) as uow:
        uow.users.insert(_user(org, 5))
        uow.record(recorded())
        uow.rollback()
    with sync_engine.connect() as conn:
        assert counts.totals_sync(conn, org, "User") == (_rows(conn, users, org), 0) == (1, 0)
        assert counts.totals_sync(conn, org, "Group") == (1, 0)
