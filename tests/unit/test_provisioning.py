"""The provisioning service, applied to in-memory fakes of the store: what each command does."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from domain import commands as c
from domain import events as ev
from domain.commands import Actor, Command
from domain.errors import InvalidValue, NotFound, PreconditionFailed, Uniqueness
from domain.provisioning import Provisioner, etag_for
from tests.support.commands import make_command
from tests.unit.fakes import fake_stores

ORG = "corg"
OTHER_ORG = "cother"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def service():
    users, teams = fake_stores()
    ticks = itertools.count()
    ids = (f"id-{n}" for n in itertools.count(1))
    return Provisioner(
        users, teams, clock=lambda: datetime(2026, 1, 1) + timedelta(seconds=next(ticks)), new_id=lambda: next(ids)
    )


_counter = itertools.count()


def command(kind, body=None, *, resource_id=None, org=ORG, if_match=None, **fields) -> Command:
    return make_command(kind, body, id=f"cmd-{next(_counter)}", org_id=org,
                        actor=Actor("tok", "Okta SCIM Client 1.0.0", "okta"), deadline=0, resource_id=resource_id,
                        if_match=if_match, **fields)


def user_body(name="ada@example.com", **extra):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": True, **extra}


def group_body(name="Engineers", members=()):
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
    if members:
        body["members"] = [{"value": m} for m in members]
    return body


def patch(*ops):
    return {"schemas": [PATCH_OP], "Operations": list(ops)}


def create_user(service, name="ada@example.com", org=ORG) -> str:
    return service.handle(command(c.USER_CREATE, user_body(name), org=org)).view["id"]


def test_create_user_answers_201_with_the_stored_view_and_an_event(service):
    outcome = service.handle(command(c.USER_CREATE, user_body(displayName="Ada"), password_supplied=True))
    assert outcome.status == 201
    assert outcome.view["document"]["userName"] == "ada@example.com"
    assert outcome.view["version"] == 1 and outcome.view["groups"] == []
    assert outcome.event.action == ev.USER_CREATE and outcome.event.resource_id == outcome.view["id"]
    assert "password" in outcome.event.changed and "displayName" in outcome.event.changed


def test_user_name_is_unique_per_organization_case_insensitively(service):
    create_user(service, "Ada@Example.com")
    with pytest.raises(Uniqueness):
        service.handle(command(c.USER_CREATE, user_body("ada@EXAMPLE.COM")))
    create_user(service, "ada@example.com", org=OTHER_ORG)  # another organization: fine


def test_replace_and_patch_bump_the_version_and_name_the_changed_attributes(service):
    uid = create_user(service)
    replaced = service.handle(command(c.USER_REPLACE, user_body(title="CTO"), resource_id=uid))
    assert replaced.status == 200 and replaced.view["version"] == 2
    assert replaced.event.action == ev.USER_UPDATE and "title" in replaced.event.changed
    patched = service.handle(
        command(c.USER_PATCH, patch({"op": "replace", "path": "title", "value": "CEO"}), resource_id=uid)
    )
    assert patched.view["document"]["title"] == "CEO" and patched.view["version"] == 3


def test_an_unchanged_update_keeps_the_version_and_says_so_in_the_event(service):
    uid = create_user(service)
    again = service.handle(command(c.USER_REPLACE, user_body(), resource_id=uid))
    assert again.view["version"] == 1
    assert again.event.detail == {"unchanged": True}
    changed = service.handle(command(c.USER_REPLACE, user_body(title="CTO"), resource_id=uid))
    assert "unchanged" not in changed.event.detail


def test_okta_resending_an_unchanged_team_name_is_audited_as_unchanged(service):
    team = service.handle(command(c.GROUP_CREATE, group_body("Eng"))).view["id"]
    rename = patch({"op": "replace", "value": {"id": team, "displayName": "Eng"}})
    outcome = service.handle(command(c.GROUP_PATCH, rename, resource_id=team))
    assert outcome.status == 200 and outcome.event.detail == {"unchanged": True}
    assert service.teams.rows[team].version == 1


def test_deactivate_and_reactivate_are_named_in_the_event(service):
    uid = create_user(service)
    off = service.handle(command(c.USER_PATCH, patch({"op": "replace", "value": {"active": False}}), resource_id=uid))
    assert off.event.action == ev.USER_DEACTIVATE and off.view["document"]["active"] is False
    on = service.handle(command(c.USER_REPLACE, user_body(active=True), resource_id=uid))
    assert on.event.action == ev.USER_REACTIVATE


def test_renaming_a_user_onto_another_user_name_is_a_conflict(service):
    create_user(service, "a@example.com")
    uid = create_user(service, "b@example.com")
    with pytest.raises(Uniqueness):
        service.handle(command(c.USER_PATCH, patch({"op": "replace", "path": "userName", "value": "A@example.com"}),
                               resource_id=uid))


def test_password_only_patch_changes_nothing(service):
    uid = create_user(service)
    outcome = service.handle(command(c.USER_PATCH, patch(), resource_id=uid, password_only=True))
    assert outcome.view["version"] == 1 and outcome.event.changed == ["password"]


def test_if_match(service):
    uid = create_user(service)
    with pytest.raises(PreconditionFailed):
        service.handle(command(c.USER_DELETE, resource_id=uid, if_match='W/"7"'))
    assert service.handle(command(c.USER_DELETE, resource_id=uid, if_match=etag_for(1))).status == 204


def test_unknown_or_foreign_resources_are_404(service):
    uid = create_user(service, org=OTHER_ORG)
    for kind in (c.USER_REPLACE, c.USER_PATCH, c.USER_DELETE):
        body = user_body() if kind == c.USER_REPLACE else patch({"op": "replace", "value": {"active": False}})
        with pytest.raises(NotFound):
            service.handle(command(kind, body, resource_id=uid))


def test_delete_user_removes_memberships(service):
    uid = create_user(service)
    team = service.handle(command(c.GROUP_CREATE, group_body(members=[uid]))).view
    assert service.handle(command(c.USER_DELETE, resource_id=uid)).status == 204
    assert service.teams.members_of(team["id"]) == []


def test_team_create_with_members_and_uniqueness(service):
    a, b = create_user(service, "a@x"), create_user(service, "b@x")
    outcome = service.handle(command(c.GROUP_CREATE, group_body("Eng", [a, b])))
    assert outcome.status == 201
    assert [m["value"] for m in outcome.view["members"]] == [a, b]
    assert outcome.event.detail["members_added"] == 2
    with pytest.raises(Uniqueness):
        service.handle(command(c.GROUP_CREATE, group_body("ENG")))


def test_members_must_be_users_of_the_same_organization(service):
    foreign = create_user(service, org=OTHER_ORG)
    with pytest.raises(InvalidValue):
        service.handle(command(c.GROUP_CREATE, group_body("Eng", [foreign])))
    team = service.handle(command(c.GROUP_CREATE, group_body("Eng"))).view["id"]
    with pytest.raises(InvalidValue):
        service.handle(command(c.GROUP_PATCH, patch({"op": "add", "path": "members", "value": [{"value": foreign}]}),
                               resource_id=team))


def test_a_team_as_member_is_refused_as_a_nested_group(service):
    parent = service.handle(command(c.GROUP_CREATE, group_body("Parent"))).view["id"]
    child = service.handle(command(c.GROUP_CREATE, group_body("Child"))).view["id"]
    with pytest.raises(InvalidValue, match="nested groups are not supported"):
        service.handle(command(c.GROUP_PATCH, patch({"op": "add", "path": "members", "value": [{"value": child}]}),
                               resource_id=parent))


def test_member_patches_are_set_operations_with_specific_events(service):
    a, b, c_ = (create_user(service, f"{n}@x") for n in "abc")
    team = service.handle(command(c.GROUP_CREATE, group_body("Eng"))).view["id"]

    def apply(*ops, **options):
        return service.handle(command(c.GROUP_PATCH, patch(*ops), resource_id=team, **options))

    added = apply({"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]})
    assert added.event.action == ev.TEAM_MEMBER_ADD and added.event.detail["members_added"] == 2
    again = apply({"op": "add", "path": "members", "value": [{"value": a}]})  # re-adding is a no-op success
    assert again.status == 200 and again.event.detail == {"unchanged": True}
    removed = apply({"op": "remove", "path": f'members[value eq "{a}"]'})
    assert removed.event.action == ev.TEAM_MEMBER_REMOVE and removed.event.detail["members_removed_ids"] == [a]
    replaced = apply({"op": "replace", "path": "members", "value": [{"value": a}, {"value": c_}]})
    assert replaced.event.action == ev.TEAM_UPDATE
    assert {m["value"] for m in service.teams.members_of(team)} == {a, c_}
    cleared = apply({"op": "remove", "path": "members"})
    assert service.teams.members_of(team) == [] and cleared.event.detail["members_removed"] == 2


def test_a_group_patch_reply_carries_members_only_when_asked(service):
    uid = create_user(service)
    team = service.handle(command(c.GROUP_CREATE, group_body("Eng", [uid]))).view["id"]
    rename = patch({"op": "replace", "path": "displayName", "value": "Eng 2"})
    outcome = service.handle(command(c.GROUP_PATCH, rename, resource_id=team))
    assert outcome.status == 200 and "members" not in outcome.view  # a Team may hold 100,000
    asked = service.handle(command(c.GROUP_PATCH, rename, resource_id=team, members_in_reply=True))
    assert [m["value"] for m in asked.view["members"]] == [uid]
    assert service.teams.rows[team].document["displayName"] == "Eng 2"
    assert service.teams.rows[team].version == 2


def test_team_rename_onto_another_name_is_a_conflict(service):
    service.handle(command(c.GROUP_CREATE, group_body("Eng")))
    team = service.handle(command(c.GROUP_CREATE, group_body("Ops"))).view["id"]
    with pytest.raises(Uniqueness):
        service.handle(command(c.GROUP_REPLACE, group_body("eng"), resource_id=team))


def test_team_put_replaces_members(service):
    a, b = create_user(service, "a@x"), create_user(service, "b@x")
    team = service.handle(command(c.GROUP_CREATE, group_body("Eng", [a]))).view["id"]
    outcome = service.handle(command(c.GROUP_REPLACE, group_body("Eng", [b]), resource_id=team))
    assert [m["value"] for m in outcome.view["members"]] == [b]
    assert outcome.event.detail["members_added_ids"] == [b] and outcome.event.detail["members_removed_ids"] == [a]


def test_team_delete(service):
    team = service.handle(command(c.GROUP_CREATE, group_body("Eng"))).view["id"]
    assert service.handle(command(c.GROUP_DELETE, resource_id=team)).event.action == ev.TEAM_DELETE
    with pytest.raises(NotFound):
        service.handle(command(c.GROUP_DELETE, resource_id=team))


# -- what an event says of its resource (for the provisioning log) ------------------------------


def test_an_event_names_its_resource_and_shows_new_and_old_values(service):
    created = service.handle(command(c.USER_CREATE, user_body("ada@example.com", externalId="ext-1",
                                                              displayName="Ada"), password_supplied=True))
    assert (created.event.resource_name, created.event.external_id) == ("ada@example.com", "ext-1")
    assert created.event.values["displayName"] == "Ada" and "password" in created.event.changed
    assert "password" not in created.event.values and "schemas" not in created.event.values
    user_id = created.view["id"]
    patched = service.handle(command(c.USER_PATCH, resource_id=user_id, operations=patch(
        {"op": "replace", "path": "displayName", "value": "Ada L"})))
    assert patched.event.values == {"displayName": "Ada L"} and patched.event.old_values == {"displayName": "Ada"}
    deleted = service.handle(command(c.USER_DELETE, resource_id=user_id))
    assert deleted.event.resource_name == "ada@example.com" and deleted.event.values == {}


def test_a_teams_members_are_counted_never_shown_as_values(service):
    user_id = create_user(service)
    team = service.handle(command(c.GROUP_CREATE, group_body("Astro", [user_id])))
    assert team.event.resource_name == "Astro" and "members" not in team.event.values
    assert team.event.detail["members_added"] == 1


def test_a_refused_create_still_names_what_it_was_for(service):
    create_user(service, "grace@example.com")
    with pytest.raises(Uniqueness) as refused:
        service.handle(command(c.USER_CREATE, user_body("Grace@example.com")))
    cmd = command(c.USER_CREATE, user_body("Grace@example.com", externalId="e-9"))
    event = ev.EVENTS.rejected(cmd, refused.value)
    assert (event.resource_name, event.external_id) == ("Grace@example.com", "e-9")
