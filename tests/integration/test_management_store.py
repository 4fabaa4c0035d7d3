"""The management service (``domain.management``) on the SQL store (SQLite or PostgreSQL), through
the SQL unit of work: its rules hold against real rows, and each change commits with its event."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from domain.management_errors import EnterpriseTierRequired, InvalidRequest, NameTaken, NotFound, ScimManaged
from domain.organizations import ManagementActor
from domain.provisioning import TeamRecord, UserRecord
from infra.ids import new_resource_id
from infra.store.clock import utcnow
from infra.store.repositories import SqlTeams, SqlUsers
from infra.store.tables import api_tokens, audit_outbox, organizations, team_members, teams
from infra.store.unit_of_work import management_service
from tests.support.seed import create_organization, set_scim_enabled

API = ManagementActor(via="api", token_id="tok1", user_agent="curl/8", request_id="req1")


def add_user(conn, org_id: str, name: str, *, active: bool = True) -> str:
    now = utcnow()
    document = {"userName": name, "displayName": name, "active": active}
    record = UserRecord(new_resource_id(), org_id, document, 1, now, now)
    SqlUsers(conn).insert(record)
    return record.id


def add_scim_team(conn, org_id: str, name: str, member_ids: list[str]) -> str:
    now = utcnow()
    record = TeamRecord(new_resource_id(), org_id, {"displayName": name}, 1, now, now, idp_managed=True)
    repo = SqlTeams(conn)
    repo.insert(record)
    repo.add_members(org_id, record.id, member_ids)
    return record.id


def outbox(engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_outbox.c.event).order_by(audit_outbox.c.seq))
        return [orjson.loads(row.event) for row in rows]


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def m(sync_engine):
    return management_service(sync_engine)


@pytest.fixture
def org(sync_engine):
    with sync_engine.begin() as conn:
        org = create_organization(conn, "Acme", "enterprise")
        set_scim_enabled(conn, org.id, True)
        alice, bob = add_user(conn, org.id, "alice"), add_user(conn, org.id, "bob", active=False)
        team = add_scim_team(conn, org.id, "Engineering", [alice, bob])
    return {"id": org.id, "alice": alice, "bob": bob, "team": team}


def test_counts_exclude_inactive_users(m, org):
    summary = m.organization(org["id"])
    assert summary["counts"] == {"users": 2, "activeUsers": 1, "inactiveUsers": 1, "teams": 1, "idpManagedTeams": 1}
    (team,) = m.teams(org["id"])["teams"]
    assert (team["memberCount"], team["activeMemberCount"], team["idpManaged"]) == (2, 1, True)
    shown = m.team(org["id"], org["team"])
    assert {x["id"]: x["active"] for x in shown["members"]} == {org["alice"]: True, org["bob"]: False}


def test_refusals_while_scim_is_on_change_nothing(sync_engine, m, org):
    refusals = [
        lambda: m.create_team(org["id"], "New", actor=API),
        lambda: m.add_members(org["id"], org["team"], [org["alice"]], actor=API),
        lambda: m.remove_member(org["id"], org["team"], org["alice"], actor=API),
        lambda: m.rename_team(org["id"], org["team"], "Other", actor=API),
        lambda: m.delete_team(org["id"], org["team"], actor=API),
    ]
    for refuse in refusals:
        with pytest.raises(ScimManaged) as refused:
            refuse()
        assert refused.value.code == "scim_managed" and "source of truth" in refused.value.message
    assert count(sync_engine, teams) == 1 and count(sync_engine, team_members) == 2
    assert outbox(sync_engine) == []


def test_delete_user_and_its_event_commit_together(sync_engine, m, org):
    result = m.delete_user(org["id"], org["alice"], actor=API)
    assert result == {"id": org["alice"], "userName": "alice", "removedFromTeams": [org["team"]]}
    with pytest.raises(NotFound):
        m.user(org["id"], org["alice"])
    assert m.team(org["id"], org["team"])["memberCount"] == 1
    (event,) = outbox(sync_engine)
    assert event["action"] == "org:user:delete" and event["outcome"] == "success"
    assert event["token_id"] == "tok1" and event["request_id"] == "req1" and event["detail"]["via"] == "api"
    assert event["detail"]["teams_removed_ids"] == [org["team"]]


def test_a_change_whose_event_cannot_be_written_is_not_committed(sync_engine, m, org, monkeypatch):
    from infra.store import outbox as outbox_module

    def broken(conn, events):
        raise RuntimeError("the outbox is unwritable")

    monkeypatch.setattr(outbox_module, "append_events", broken)
    with pytest.raises(RuntimeError):
        m.delete_user(org["id"], org["alice"], actor=API)
    monkeypatch.undo()
    assert m.user(org["id"], org["alice"])["teams"][0]["id"] == org["team"]
    assert outbox(sync_engine) == []


def test_pre_scim_team_rules(sync_engine, m, org):
    m.set_scim(org["id"], False, actor=API)
    legacy = m.create_team(org["id"], "Legacy", [org["alice"], org["bob"]], actor=API)
    with pytest.raises(NameTaken):
        m.create_team(org["id"], "ENGINEERING", actor=API)
    m.set_scim(org["id"], True, actor=API)
    assert legacy["idpManaged"] is False and legacy["memberCount"] == 2
    assert m.remove_member(org["id"], legacy["id"], org["bob"], actor=API) == {"removed": [org["bob"]]}
    assert m.rename_team(org["id"], legacy["id"], "legacy", actor=API)["name"] == "legacy"
    with pytest.raises(NameTaken):
        m.rename_team(org["id"], legacy["id"], "Engineering", actor=API)
    m.delete_team(org["id"], legacy["id"], actor=API)
    assert [e["action"] for e in outbox(sync_engine)] == [
        "org:scim:disable", "org:team:create", "org:scim:enable", "org:team:member:remove", "org:team:rename",
        "org:team:delete",
    ]


def test_membership_changes_move_the_teams_version(sync_engine, m, org):
    m.set_scim(org["id"], False)
    with sync_engine.connect() as conn:
        before = SqlTeams(conn).get(org["id"], org["team"]).version
    m.remove_member(org["id"], org["team"], org["bob"])
    m.add_members(org["id"], org["team"], [org["bob"]])
    m.add_members(org["id"], org["team"], [org["bob"]])  # nothing added: no new version
    with sync_engine.connect() as conn:
        assert SqlTeams(conn).get(org["id"], org["team"]).version == before + 2


def test_scim_toggle_rules(sync_engine, m, org):
    assert m.set_scim(org["id"], True)["scimEnabled"] is True  # unchanged: no event
    with sync_engine.begin() as conn:
        team_org = create_organization(conn, "Small", "team")
    with pytest.raises(EnterpriseTierRequired):
        m.set_scim(team_org.id, True)
    with pytest.raises(NotFound):
        m.set_scim("c" + "0" * 24, True)
    assert outbox(sync_engine) == []


def test_tenant_isolation_in_queries(sync_engine, m, org):
    with sync_engine.begin() as conn:
        other = create_organization(conn, "Other", "enterprise")
    for call in (
        lambda: m.user(other.id, org["alice"]),
        lambda: m.team(other.id, org["team"]),
        lambda: m.delete_user(other.id, org["alice"]),
        lambda: m.delete_team(other.id, org["team"]),
        lambda: m.remove_member(other.id, org["team"], org["alice"]),
    ):
        with pytest.raises(NotFound):
            call()
    assert m.users(other.id)["totalResults"] == 0
    assert m.team(org["id"], org["team"])["memberCount"] == 2


def test_page_validation(m, org):
    for page, size in ((0, 10), (1, 0), (1, 1001), ("x", 1)):
        with pytest.raises(InvalidRequest):
            m.users(org["id"], page, size)
    assert m.users(org["id"], "2", "1")["users"][0]["id"] == org["bob"]


def test_first_start_makes_the_organization_scim_and_token_in_one_audited_transaction(sync_engine, m):
    started = m.first_start(owner_token=True)
    assert started.created.scim_enabled and started.token is not None
    events = outbox(sync_engine)
    assert [e["action"] for e in events] == ["org:create", "org:scim:enable", "org:token:create"]
    assert {e["org_id"] for e in events} == {started.created.id}
    assert started.token.token not in repr(events)
    with sync_engine.connect() as conn:
        stored = conn.execute(select(organizations.c.scim_enabled)).scalar_one()
        assert stored is True and started.token.token not in str(conn.execute(select(api_tokens)).all())
    assert m.first_start(owner_token=True).existing == [started.created]
    assert len(outbox(sync_engine)) == 3


def test_tokens_are_made_and_revoked_with_their_events(sync_engine, m, org):
    made = m.create_token(org["id"], "member")
    assert m.revoke_token(made.id) is True and m.revoke_token(made.id) is False
    assert [(e["action"], e["resource_id"]) for e in outbox(sync_engine)] == [
        ("org:token:create", made.id), ("org:token:revoke", made.id)]
