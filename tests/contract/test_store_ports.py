"""What every adapter of the provisioning and management ports must do (see conftest.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.errors import Uniqueness
from domain.filter.parser import parse_filter
from domain.organizations import Organization
from domain.provisioning import TeamRecord, UserRecord

NOW = datetime(2026, 11, 30, 12, 0, 0)
_n = iter(range(10**6))


def org(ports, org_id: str = "", tier: str = "enterprise") -> str:
    org_id = org_id or f"c{next(_n):024d}"
    ports.orgs.insert(Organization(org_id, "Acme", tier, False), NOW)
    return org_id


def user(ports, org_id: str, name: str, **extra) -> UserRecord:
    record = UserRecord(f"u-{next(_n)}", org_id, {"userName": name, **extra}, 1, NOW, NOW)
    ports.users.insert(record)
    return record


def team(ports, org_id: str, name: str) -> TeamRecord:
    record = TeamRecord(f"t-{next(_n)}", org_id, {"displayName": name}, 1, NOW, NOW, idp_managed=True)
    ports.teams.insert(record)
    return record


# -- users ---------------------------------------------------------------------------------------


def test_a_user_is_read_back_as_written_and_only_in_its_organization(ports):
    acme, other = org(ports), org(ports)
    ada = user(ports, acme, "ada@example.com", displayName="Ada", active=True)
    found = ports.users.get(acme, ada.id)
    assert (found.id, found.org_id, found.document, found.version) == (ada.id, acme, ada.document, 1)
    assert ports.users.get(acme, ada.id, lock=True).id == ada.id
    assert ports.users.get(other, ada.id) is None
    assert ports.users.get(acme, "no-such-user") is None


def test_user_names_are_unique_per_organization_case_insensitively(ports):
    acme, other = org(ports), org(ports)
    ada = user(ports, acme, "Ada@Example.com")
    assert ports.users.user_name_in_use(acme, "ada@example.COM")
    assert not ports.users.user_name_in_use(acme, "ada@example.com", exclude_id=ada.id)
    assert not ports.users.user_name_in_use(other, "ada@example.com")
    with pytest.raises(Uniqueness), ports.attempt():
        user(ports, acme, "ADA@example.com")
    user(ports, other, "ada@example.com")  # another organization may use it


def test_an_update_replaces_the_document_and_version(ports):
    acme = org(ports)
    ada = user(ports, acme, "ada@example.com")
    later = NOW + timedelta(minutes=5)
    ports.users.update(UserRecord(ada.id, acme, {"userName": "ada@example.com", "title": "CTO"}, 2, NOW, later))
    found = ports.users.get(acme, ada.id)
    assert found.document["title"] == "CTO" and found.version == 2 and found.updated == later


def test_deleting_a_user_removes_its_memberships_and_says_which_teams_it_left(ports):
    acme = org(ports)
    ada, bob = user(ports, acme, "ada@x"), user(ports, acme, "bob@x")
    eng, ops = team(ports, acme, "Eng"), team(ports, acme, "Ops")
    ports.teams.add_members(acme, eng.id, [ada.id, bob.id])
    ports.teams.add_members(acme, ops.id, [ada.id])
    assert sorted(g["value"] for g in ports.users.groups_of(acme, ada.id)) == sorted([eng.id, ops.id])
    assert sorted(ports.users.delete(acme, ada.id)) == sorted([eng.id, ops.id])
    assert ports.users.get(acme, ada.id) is None
    assert [m["value"] for m in ports.teams.members_of(eng.id)] == [bob.id]
    assert ports.users.delete(acme, ada.id) is None  # no such user any more


def test_groups_of_a_user_name_each_team_with_its_display_name(ports):
    acme = org(ports)
    ada = user(ports, acme, "ada@x")
    eng = team(ports, acme, "Engineers")
    ports.teams.add_members(acme, eng.id, [ada.id])
    assert ports.users.groups_of(acme, ada.id) == [{"value": eng.id, "display": "Engineers", "type": "direct"}]


# -- teams ---------------------------------------------------------------------------------------


def test_team_names_are_unique_per_organization_case_insensitively_on_insert_and_update(ports):
    acme, other = org(ports), org(ports)
    eng, ops = team(ports, acme, "Eng"), team(ports, acme, "Ops")
    assert ports.teams.display_name_in_use(acme, "ENG")
    assert not ports.teams.display_name_in_use(acme, "eng", exclude_id=eng.id)
    assert not ports.teams.display_name_in_use(other, "Eng")
    with pytest.raises(Uniqueness), ports.attempt():
        team(ports, acme, "eng")
    with pytest.raises(Uniqueness), ports.attempt():
        ports.teams.update(TeamRecord(ops.id, acme, {"displayName": "ENG"}, 2, NOW, NOW))
    assert ports.teams.get(acme, ops.id).document == {"displayName": "Ops"}
    assert ports.teams.get(other, eng.id) is None


def test_members_are_a_set_adding_and_removing_return_only_what_changed(ports):
    acme = org(ports)
    ada, bob, cy = (user(ports, acme, f"{n}@x", displayName=n.title()) for n in ("ada", "bob", "cy"))
    eng = team(ports, acme, "Eng")
    assert sorted(ports.teams.add_members(acme, eng.id, [ada.id, bob.id, ada.id])) == sorted([ada.id, bob.id])
    assert ports.teams.add_members(acme, eng.id, [ada.id]) == []  # already a member
    assert ports.teams.add_members(acme, eng.id, [cy.id], {cy.id: "Cy as the IdP says"}) == [cy.id]
    shown = {m["value"]: m["display"] for m in ports.teams.members_of(eng.id)}
    assert shown == {ada.id: "Ada", bob.id: "Bob", cy.id: "Cy as the IdP says"}
    assert all(m["type"] == "User" for m in ports.teams.members_of(eng.id))
    assert ports.teams.remove_members(eng.id, [bob.id, "not-a-member"]) == [bob.id]
    assert ports.teams.remove_members(eng.id, [bob.id]) == []
    assert sorted(ports.teams.remove_all_members(eng.id)) == sorted([ada.id, cy.id])
    assert ports.teams.members_of(eng.id) == []


def test_removing_members_by_filter_removes_those_a_listing_would_match(ports):
    acme = org(ports)
    ada, bob, cy = (user(ports, acme, f"{n}@x", displayName=f"{n.title()} Lovelace") for n in ("ada", "bob", "cy"))
    eng = team(ports, acme, "Eng")
    ports.teams.add_members(acme, eng.id, [ada.id, bob.id, cy.id], {cy.id: "Cy (contractor)"})
    assert ports.teams.remove_members_matching(acme, eng.id, parse_filter(f'value eq "{ada.id}"')) == [ada.id]
    assert ports.teams.remove_members_matching(acme, eng.id, parse_filter('display co "CONTRACTOR"')) == [cy.id]
    assert ports.teams.remove_members_matching(acme, eng.id, parse_filter('value eq "nobody"')) == []
    assert ports.teams.remove_members_matching(acme, eng.id, parse_filter('type eq "User"')) == [bob.id]
    assert ports.teams.members_of(eng.id) == []


def test_existing_ids_are_those_of_the_organization_only(ports):
    acme, other = org(ports), org(ports)
    ada, eve = user(ports, acme, "ada@x"), user(ports, other, "eve@x")
    eng, foreign = team(ports, acme, "Eng"), team(ports, other, "Eng")
    assert ports.teams.existing_user_ids(acme, [ada.id, eve.id, "nobody"]) == {ada.id}
    assert ports.teams.existing_team_ids(acme, [eng.id, foreign.id, ada.id]) == {eng.id}


def test_deleting_a_team_removes_it_and_its_memberships(ports):
    acme = org(ports)
    ada = user(ports, acme, "ada@x")
    eng = team(ports, acme, "Eng")
    ports.teams.add_members(acme, eng.id, [ada.id])
    ports.teams.delete(acme, eng.id)
    assert ports.teams.get(acme, eng.id) is None
    assert ports.users.groups_of(acme, ada.id) == []
    assert not ports.teams.display_name_in_use(acme, "Eng")


# -- organizations and tokens --------------------------------------------------------------------


def test_organizations_are_listed_in_creation_order_and_scim_can_be_switched(ports):
    first, second = org(ports), org(ports, tier="team")
    listed = [o.id for o in ports.orgs.all()]
    assert listed.index(first) < listed.index(second)
    assert ports.orgs.get(second) == Organization(second, "Acme", "team", False)
    ports.orgs.set_scim_enabled(first, True)
    assert ports.orgs.get(first, lock=True).scim_enabled is True
    assert ports.orgs.get("c-no-such-organization") is None


def test_a_token_is_shown_once_and_can_be_revoked_once(ports):
    acme = org(ports)
    minted = ports.tokens.create(acme, "owner", "idp", NOW)
    again = ports.tokens.create(acme, "member", None, NOW)
    assert minted.id != again.id and minted.token != again.token and minted.token
    assert ports.tokens.revoke(minted.id, NOW) == acme
    assert ports.tokens.revoke(minted.id, NOW) is None  # not live any more
    assert ports.tokens.revoke("tok-no-such-token", NOW) is None
