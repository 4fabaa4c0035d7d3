"""The management service's rules, on in-memory fakes of the store (``tests/unit/fakes.py``).

What an organization's admins may change while SCIM is on or off, the tier rule, the name and
id checks, paging bounds, first start, tokens; and that every change commits with exactly its
audit event while a refusal changes nothing.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from domain import events as ev
from domain.management import Management
from domain.management_errors import (
    EnterpriseTierRequired,
    InvalidRequest,
    NameTaken,
    NotFound,
    ScimManaged,
    UnknownUsers,
)
from domain.organizations import ManagementActor, Organization
from domain.provisioning import TeamRecord, UserRecord
from tests.unit.fakes import FakeUnitOfWork

API = ManagementActor(via="api", token_id="tok-admin", user_agent="curl/8", request_id="req-1")
T0 = datetime(2026, 1, 1)


@pytest.fixture
def uow():
    return FakeUnitOfWork()


@pytest.fixture
def service(uow):
    ticks = itertools.count()
    ids = (f"id-{n}" for n in itertools.count(1))
    orgs = (f"corg{n:021d}" for n in itertools.count(1))
    return Management(uow, clock=lambda: T0 + timedelta(seconds=next(ticks)), new_id=lambda: next(ids),
                      new_org_id=lambda: next(orgs))


def seed_org(uow, org_id="corg-acme", *, tier="enterprise", scim=True) -> str:
    uow.organizations.rows[org_id] = Organization(org_id, "Acme", tier, scim)
    return org_id


def seed_user(uow, org_id, name, *, active=True) -> str:
    user_id = f"u-{name}"
    uow.users.rows[user_id] = UserRecord(user_id, org_id, {"userName": name, "active": active}, 1, T0, T0)
    return user_id


def seed_team(uow, org_id, name, members=(), *, idp_managed=True) -> str:
    team_id = f"t-{name}"
    uow.teams.rows[team_id] = TeamRecord(team_id, org_id, {"displayName": name}, 1, T0, T0, idp_managed)
    uow.teams.members[team_id] = dict.fromkeys(members)
    return team_id


@pytest.fixture
def acme(uow):
    org = seed_org(uow)
    alice, bob = seed_user(uow, org, "alice"), seed_user(uow, org, "bob")
    team = seed_team(uow, org, "Engineering", [alice])
    return {"org": org, "alice": alice, "bob": bob, "team": team}


def actions(uow) -> list[str]:
    return [event.action for event in uow.committed]


# -- SCIM on: the identity provider is the source of truth --------------------------------------


def test_while_scim_is_on_teams_cannot_be_made_or_grown_and_idp_teams_not_changed(service, uow, acme):
    org, team, alice, bob = acme["org"], acme["team"], acme["alice"], acme["bob"]
    refused = {
        ev.ORG_TEAM_CREATE: lambda: service.create_team(org, "Hand made", actor=API),
        ev.ORG_TEAM_MEMBER_ADD: lambda: service.add_members(org, team, [bob], actor=API),
        ev.ORG_TEAM_MEMBER_REMOVE: lambda: service.remove_member(org, team, alice, actor=API),
        ev.ORG_TEAM_RENAME: lambda: service.rename_team(org, team, "Renamed", actor=API),
        ev.ORG_TEAM_DELETE: lambda: service.delete_team(org, team, actor=API),
    }
    for action, attempt in refused.items():
        with pytest.raises(ScimManaged) as error:
            attempt()
        assert error.value.code == "scim_managed" and "source of truth" in error.value.message
        assert error.value.attempt.action == action and error.value.attempt.org_id == org
    assert list(uow.teams.rows) == [team] and list(uow.teams.members[team]) == [alice]
    assert uow.teams.rows[team].document == {"displayName": "Engineering"}
    assert uow.committed == []


def test_a_user_can_always_be_deleted_and_leaves_every_team(service, uow, acme):
    other = seed_team(uow, acme["org"], "Other", [acme["alice"], acme["bob"]])
    result = service.delete_user(acme["org"], acme["alice"], actor=API)
    assert result == {"id": acme["alice"], "userName": "alice", "removedFromTeams": [acme["team"], other]}
    assert acme["alice"] not in uow.users.rows
    assert list(uow.teams.members[acme["team"]]) == [] and list(uow.teams.members[other]) == [acme["bob"]]
    (event,) = uow.committed
    assert (event.action, event.outcome, event.status, event.resource_id) == (
        ev.ORG_USER_DELETE, ev.SUCCESS, 204, acme["alice"])
    assert event.detail == {"via": "api", "teams_removed": 2, "teams_removed_ids": [acme["team"], other]}
    assert (event.token_id, event.request_id, event.user_agent) == ("tok-admin", "req-1", "curl/8")
    with pytest.raises(NotFound):
        service.delete_user(acme["org"], acme["alice"], actor=API)


def test_pre_scim_teams_stay_editable_after_scim_is_turned_on(service, uow, acme):
    org, alice, bob = acme["org"], acme["alice"], acme["bob"]
    assert service.set_scim(org, False, actor=API)["scimEnabled"] is False
    legacy = service.create_team(org, "  Legacy  ", [alice, bob, alice], actor=API)
    assert legacy["name"] == "Legacy" and legacy["idpManaged"] is False and legacy["members"] == [alice, bob]
    assert service.set_scim(org, True, actor=API)["scimEnabled"] is True

    with pytest.raises(ScimManaged):
        service.add_members(org, legacy["id"], [bob], actor=API)  # adding is refused for every Team
    assert service.remove_member(org, legacy["id"], bob, actor=API) == {"removed": [bob]}
    assert uow.teams.rows[legacy["id"]].version == 2  # the Team's ETag moves with its members
    assert service.rename_team(org, legacy["id"], "Former", actor=API)["name"] == "Former"
    assert service.delete_team(org, legacy["id"], actor=API) == {"id": legacy["id"], "name": "Former",
                                                                 "membersRemoved": 1}
    assert legacy["id"] not in uow.teams.rows
    assert actions(uow) == [ev.ORG_SCIM_DISABLE, ev.ORG_TEAM_CREATE, ev.ORG_SCIM_ENABLE, ev.ORG_TEAM_MEMBER_REMOVE,
                            ev.ORG_TEAM_RENAME, ev.ORG_TEAM_DELETE]
    create = uow.committed[1]
    assert create.detail["members_added_ids"] == [alice, bob] and create.changed == ["displayName"]


def test_while_scim_is_off_everything_is_allowed_even_on_idp_teams(service, uow, acme):
    org, team, alice, bob = acme["org"], acme["team"], acme["alice"], acme["bob"]
    service.set_scim(org, False, actor=API)
    assert service.add_members(org, team, [bob, alice], actor=API)["added"] == [bob]
    assert service.remove_member(org, team, alice, actor=API) == {"removed": [alice]}
    assert service.rename_team(org, team, "Renamed by hand", actor=API)["idpManaged"] is True
    service.delete_team(org, team, actor=API)
    assert uow.teams.rows == {}


def test_removing_someone_who_is_not_a_member_is_not_found(service, uow, acme):
    service.set_scim(acme["org"], False)
    with pytest.raises(NotFound, match="not a member"):
        service.remove_member(acme["org"], acme["team"], acme["bob"])
    assert actions(uow) == [ev.ORG_SCIM_DISABLE]


# -- names and ids ------------------------------------------------------------------------------


def test_team_names_are_checked_and_unique_case_insensitively(service, uow, acme):
    org = acme["org"]
    service.set_scim(org, False)
    for bad in (None, "", "   ", 7, "x" * 513):
        with pytest.raises(InvalidRequest):
            service.create_team(org, bad)
    with pytest.raises(NameTaken) as taken:
        service.create_team(org, "ENGINEERING", actor=API)
    assert taken.value.code == "name_taken" and taken.value.attempt.action == ev.ORG_TEAM_CREATE
    legacy = service.create_team(org, "Legacy")["id"]
    with pytest.raises(NameTaken):
        service.rename_team(org, legacy, "engineering")
    renamed = service.rename_team(org, legacy, "LEGACY")  # its own name in another case: fine
    assert renamed["name"] == "LEGACY"
    unchanged = service.rename_team(org, legacy, "LEGACY")
    assert uow.committed[-1].changed == [] and unchanged["version"] == renamed["version"]


def test_member_ids_are_checked(service, uow, acme):
    org, team = acme["org"], acme["team"]
    service.set_scim(org, False)
    stranger_org = seed_org(uow, "corg-other")
    stranger = seed_user(uow, stranger_org, "stranger")
    for bad in ("u-alice", [1], [""], ["u"] * 1001):
        with pytest.raises(InvalidRequest):
            service.add_members(org, team, bad)
    with pytest.raises(InvalidRequest, match="at least one"):
        service.add_members(org, team, [])
    with pytest.raises(UnknownUsers, match=stranger):  # another organization's user is unknown here
        service.add_members(org, team, [acme["bob"], stranger])
    assert list(uow.teams.members[team]) == [acme["alice"]]


def test_another_organizations_ids_are_not_found(service, uow, acme):
    other = seed_org(uow, "corg-other")
    for attempt in (
        lambda: service.user(other, acme["alice"]),
        lambda: service.team(other, acme["team"]),
        lambda: service.delete_user(other, acme["alice"]),
        lambda: service.delete_team(other, acme["team"]),
        lambda: service.remove_member(other, acme["team"], acme["alice"]),
        lambda: service.users("corg-nowhere"),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert service.users(other)["totalResults"] == 0
    assert acme["alice"] in uow.users.rows and list(uow.teams.members[acme["team"]]) == [acme["alice"]]


def test_paging_is_bounded(service, acme):
    for page, size in ((0, 10), (1, 0), (1, 1001), ("x", 1), (2**40 + 1, 1)):
        with pytest.raises(InvalidRequest):
            service.users(acme["org"], page, size)
    assert service.users(acme["org"], "2", "1")["users"][0]["id"] == acme["bob"]
    assert service.team(acme["org"], acme["team"], 1, 1)["members"] == [acme["alice"]]


# -- the SCIM toggle, organizations and tokens --------------------------------------------------


def test_scim_turns_on_only_on_the_enterprise_tier_and_unchanged_records_nothing(service, uow, acme):
    assert service.set_scim(acme["org"], True)["scimEnabled"] is True  # already on
    small = seed_org(uow, "corg-small", tier="team", scim=False)
    with pytest.raises(EnterpriseTierRequired, match="team tier") as refused:
        service.set_scim(small, True, actor=API)
    assert refused.value.attempt.action == ev.ORG_SCIM_ENABLE and not uow.organizations.rows[small].scim_enabled
    assert service.set_scim(small, False)["scimEnabled"] is False
    for bad in ("yes", 1, None):
        with pytest.raises(InvalidRequest):
            service.set_scim(acme["org"], bad)
    with pytest.raises(NotFound):
        service.set_scim("corg-nowhere", True)
    assert uow.committed == []
    summary = service.set_scim(acme["org"], False)
    assert summary["counts"] == {"users": 2, "activeUsers": 2, "inactiveUsers": 0, "teams": 1, "idpManagedTeams": 1}
    (event,) = uow.committed
    assert (event.action, event.changed, event.detail) == (ev.ORG_SCIM_DISABLE, ["scimEnabled"], {"via": "cli"})


def test_every_write_takes_the_organizations_row_first(service, uow, acme):
    service.set_scim(acme["org"], False)
    service.create_team(acme["org"], "Locked")
    service.delete_user(acme["org"], acme["bob"])
    assert uow.organizations.locked == [acme["org"]] * 3


def test_first_start_turns_scim_on_with_its_audit_event(service, uow):
    started = service.first_start(owner_token=True)
    org = started.created
    assert (org.tier, org.scim_enabled) == ("enterprise", True) and uow.organizations.rows[org.id].scim_enabled
    assert started.token.id in uow.tokens.rows and uow.tokens.rows[started.token.id]["role"] == "owner"
    assert actions(uow) == [ev.ORG_CREATE, ev.ORG_SCIM_ENABLE, ev.ORG_TOKEN_CREATE]
    assert all(event.detail["via"] == "first-start" and event.org_id == org.id for event in uow.committed)
    assert started.token.token not in repr(uow.committed)  # the token's value is never audited

    again = service.first_start(owner_token=True)
    assert again.created is None and again.existing == [org] and len(uow.committed) == 3


def test_first_start_off_a_terminal_makes_no_token(service, uow):
    started = service.first_start(owner_token=False)
    assert started.token is None and uow.tokens.rows == {}
    assert actions(uow) == [ev.ORG_CREATE, ev.ORG_SCIM_ENABLE]


def test_organizations_and_tokens_are_made_and_revoked_with_their_events(service, uow):
    org = service.create_organization("Acme", "team")
    assert (org.name, org.tier, org.scim_enabled) == ("Acme", "team", False)
    for name, tier in (("Acme", "gold"), ("", "team"), ("x" * 256, "team")):
        with pytest.raises(InvalidRequest):
            service.create_organization(name, tier)
    with pytest.raises(InvalidRequest, match="role"):
        service.create_token(org.id, "admin")
    with pytest.raises(NotFound):
        service.create_token("corg-nowhere", "owner")
    made = service.create_token(org.id, "member", name="ci")
    assert service.revoke_token(made.id) is True
    assert service.revoke_token(made.id) is False and service.revoke_token("tok-nope") is False
    assert actions(uow) == [ev.ORG_CREATE, ev.ORG_TOKEN_CREATE, ev.ORG_TOKEN_REVOKE]
    assert [e.resource_id for e in uow.committed[1:]] == [made.id, made.id]
    assert uow.committed[1].detail == {"via": "cli", "role": "member"} and made.token not in repr(uow.committed)


def test_a_refusal_is_audited_on_its_own_with_the_status_answered(service, uow, acme):
    with pytest.raises(ScimManaged) as refused:
        service.rename_team(acme["org"], acme["team"], "Renamed", actor=API)
    service.record_refusal(refused.value, API, status=409)
    (event,) = uow.committed
    assert (event.action, event.outcome, event.status, event.resource_type, event.resource_id) == (
        ev.ORG_TEAM_RENAME, ev.REFUSED, 409, "Team", acme["team"])
    assert event.detail["code"] == "scim_managed" and "source of truth" in event.detail["reason"]
    assert event.token_id == "tok-admin" and event.detail["via"] == "api"
    assert uow.teams.rows[acme["team"]].document == {"displayName": "Engineering"}


def test_management_events_carry_the_factorys_clock_in_the_one_time_format(service, uow, acme):
    service.set_scim(acme["org"], False)
    (event,) = uow.committed
    assert event.time.endswith("Z") and datetime.fromisoformat(event.time[:-1]) >= T0
    assert len(event.time) == len("2026-01-01T00:00:00.000000Z") and event.idp == ""
