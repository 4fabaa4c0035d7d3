"""The management rules of ``infra.store.management`` against the store (SQLite or PostgreSQL)."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from domain.provisioning import TeamRecord, UserRecord
from infra.ids import new_resource_id
from infra.store import management as m
from infra.store.clock import utcnow
from infra.store.organizations import create_organization, set_scim_enabled
from infra.store.repositories import SqlTeams, SqlUsers
from infra.store.tables import audit_outbox, team_members, teams

API = m.ManagementActor(via="api", token_id="tok1", user_agent="curl/8", request_id="req1")


def add_user(conn, org_id: str, name: str, *, active: bool = True) -> str:
    now = utcnow()
    record = UserRecord(new_resource_id(), org_id, {"userName": name, "displayName": name, "active": active}, 1, now, now)
    SqlUsers(conn).insert(record)
    return record.id


def add_scim_team(conn, org_id: str, name: str, member_ids: list[str]) -> str:
    now = utcnow()
    record = TeamRecord(new_resource_id(), org_id, {"displayName": name}, 1, now, now, idp_managed=True)
    repo = SqlTeams(conn)
    repo.insert(record)
    repo.add_members(org_id, record.id, member_ids)
    return record.id


def outbox(conn) -> list[dict]:
    return [orjson.loads(row.event) for row in conn.execute(select(audit_outbox.c.event).order_by(audit_outbox.c.seq))]


@pytest.fixture
def org(sync_engine):
    with sync_engine.begin() as conn:
        org = create_organization(conn, "Acme", "enterprise")
        set_scim_enabled(conn, org.id, True)
        alice, bob = add_user(conn, org.id, "alice"), add_user(conn, org.id, "bob", active=False)
        team = add_scim_team(conn, org.id, "Engineering", [alice, bob])
    return {"id": org.id, "alice": alice, "bob": bob, "team": team}


def test_counts_exclude_inactive_users(sync_engine, org):
    with sync_engine.connect() as conn:
        summary = m.organization_summary(conn, org["id"])
        assert summary["counts"] == {"users": 2, "activeUsers": 1, "inactiveUsers": 1, "teams": 1, "idpManagedTeams": 1}
        (team,) = m.list_teams(conn, org["id"])["teams"]
        assert (team["memberCount"], team["activeMemberCount"], team["idpManaged"]) == (2, 1, True)
        shown = m.get_team(conn, org["id"], org["team"])
        assert {x["id"]: x["active"] for x in shown["members"]} == {org["alice"]: True, org["bob"]: False}


def test_refusals_while_scim_is_on_change_nothing(sync_engine, org):
    refusals = [
        lambda c: m.create_team(c, org["id"], "New", actor=API),
        lambda c: m.add_members(c, org["id"], org["team"], [org["alice"]], actor=API),
        lambda c: m.remove_member(c, org["id"], org["team"], org["alice"], actor=API),
        lambda c: m.rename_team(c, org["id"], org["team"], "Other", actor=API),
        lambda c: m.delete_team(c, org["id"], org["team"], actor=API),
    ]
    for refuse in refusals:
        with pytest.raises(m.ManagementError) as refused, sync_engine.begin() as conn:
            refuse(conn)
        assert refused.value.status == 409 and refused.value.code == "scim_managed"
        assert "source of truth" in refused.value.message
    with sync_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(teams)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(team_members)).scalar_one() == 2
        assert outbox(conn) == []


def test_delete_user_and_its_event_commit_together(sync_engine, org):
    with sync_engine.connect() as conn:
        with conn.begin() as transaction:
            m.delete_user(conn, org["id"], org["alice"], actor=API)
            transaction.rollback()
        assert m.get_user(conn, org["id"], org["alice"])["teams"][0]["id"] == org["team"]
        assert outbox(conn) == []
    with sync_engine.begin() as conn:
        result = m.delete_user(conn, org["id"], org["alice"], actor=API)
    assert result["removedFromTeams"] == [org["team"]]
    with sync_engine.connect() as conn:
        with pytest.raises(m.ManagementError):
            m.get_user(conn, org["id"], org["alice"])
        assert m.get_team(conn, org["id"], org["team"])["memberCount"] == 1
        (event,) = outbox(conn)
    assert event["action"] == "org:user:delete" and event["outcome"] == "success"
    assert event["token_id"] == "tok1" and event["request_id"] == "req1" and event["detail"]["via"] == "api"
    assert event["detail"]["teams_removed_ids"] == [org["team"]]


def test_pre_scim_team_rules(sync_engine, org):
    with sync_engine.begin() as conn:
        m.set_scim(conn, org["id"], False, actor=API)
        legacy = m.create_team(conn, org["id"], "Legacy", [org["alice"], org["bob"]], actor=API)
        with pytest.raises(m.ManagementError) as taken:
            m.create_team(conn, org["id"], "ENGINEERING", actor=API)
        assert taken.value.code == "name_taken"
        m.set_scim(conn, org["id"], True, actor=API)
    assert legacy["idpManaged"] is False and legacy["memberCount"] == 2
    with sync_engine.begin() as conn:
        assert m.remove_member(conn, org["id"], legacy["id"], org["bob"], actor=API) == {"removed": [org["bob"]]}
        assert m.rename_team(conn, org["id"], legacy["id"], "legacy", actor=API)["name"] == "legacy"
        with pytest.raises(m.ManagementError) as taken:
            m.rename_team(conn, org["id"], legacy["id"], "Engineering", actor=API)
        assert taken.value.code == "name_taken"
        m.delete_team(conn, org["id"], legacy["id"], actor=API)
    with sync_engine.connect() as conn:
        actions = [e["action"] for e in outbox(conn)]
    assert actions == [
        "org:scim:disable", "org:team:create", "org:scim:enable", "org:team:member:remove", "org:team:rename",
        "org:team:delete",
    ]


def test_scim_toggle_rules(sync_engine, org):
    with sync_engine.begin() as conn:
        assert m.set_scim(conn, org["id"], True)["scimEnabled"] is True  # unchanged: no event
        team_org = create_organization(conn, "Small", "team")
        with pytest.raises(m.ManagementError) as refused:
            m.set_scim(conn, team_org.id, True)
        assert refused.value.status == 403 and refused.value.code == "enterprise_tier_required"
        with pytest.raises(m.ManagementError) as unknown:
            m.set_scim(conn, "c" + "0" * 24, True)
        assert unknown.value.status == 404
    with sync_engine.connect() as conn:
        assert outbox(conn) == []


def test_tenant_isolation_in_queries(sync_engine, org):
    with sync_engine.begin() as conn:
        other = create_organization(conn, "Other", "enterprise")
    with sync_engine.begin() as conn:
        for call in (
            lambda: m.get_user(conn, other.id, org["alice"]),
            lambda: m.get_team(conn, other.id, org["team"]),
            lambda: m.delete_user(conn, other.id, org["alice"]),
            lambda: m.delete_team(conn, other.id, org["team"]),
            lambda: m.remove_member(conn, other.id, org["team"], org["alice"]),
        ):
            with pytest.raises(m.ManagementError) as missing:
                call()
            assert missing.value.status == 404
        assert m.list_users(conn, other.id)["totalResults"] == 0
    with sync_engine.connect() as conn:
        assert m.get_team(conn, org["id"], org["team"])["memberCount"] == 2


def test_page_validation(sync_engine, org):
    with sync_engine.connect() as conn:
        for page, size in ((0, 10), (1, 0), (1, 1001), ("x", 1)):
            with pytest.raises(m.ManagementError) as bad:
                m.list_users(conn, org["id"], page, size)
            assert bad.value.status == 400
        assert m.list_users(conn, org["id"], "2", "1")["users"][0]["id"] == org["bob"]
