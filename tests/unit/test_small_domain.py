"""IdP recognition and the command wire format (password stripping: test_secrets.py)."""

from __future__ import annotations

import pytest

from domain.commands import Actor, Command, CreateUser, PatchTeam, Reply
from tests.support.commands import make_command
from domain.idp import identify_idp


@pytest.mark.parametrize(
    "agent, flag, idp",
    [
        ("Okta SCIM Client 1.0.0", False, "okta"),
        ("OKTA SCIM Integration", False, "okta"),
        ("Microsoft Azure AD SCIM provisioning 1.0.0", False, "entra"),
        ("", True, "entra"),
        ("Apache-HttpClient/4.5.13 (Java/11)", False, "ping"),
        ("OneLogin SCIM", False, "onelogin"),
        ("JumpCloud SCIM Client", False, "jumpcloud"),
        ("Rippling/1.0", False, "rippling"),
        ("", False, "unknown"),
        (None, False, "unknown"),
        ("curl/8.0", False, "unknown"),
    ],
)
def test_identify_idp(agent, flag, idp):
    assert identify_idp(agent, entra_flag=flag) == idp


def test_command_and_reply_round_trip_the_wire():
    command = CreateUser(id="id1", org_id="org", actor=Actor("tok", "ua", "okta"), request_id="req", deadline=12.5,
                         reply_to="key", body={"userName": "x"}, password_supplied=True)
    assert Command.from_wire(command.to_wire()) == command
    assert command.resource_type == "User" and command.ordering_key == "org:User:x"
    patch = PatchTeam(id="id2", org_id="org", actor=Actor("tok"), request_id="req", deadline=1.0, reply_to="key",
                      resource_id="t1", operations={"Operations": []}, members_in_reply=True)
    assert Command.from_wire(patch.to_wire()) == patch and patch.ordering_key == "org:Group:t1"


def test_creates_of_different_names_get_different_ordering_keys():
    def create(name, kind="user.create", resource_id=None):
        body = {"userName": name} if kind == "user.create" else {"Operations": []}
        return make_command(kind, body, id="i", resource_id=resource_id, deadline=0)

    assert create("Ada@X").ordering_key == create("ada@x").ordering_key
    assert create("ada@x").ordering_key != create("bob@x").ordering_key
    assert create("ada@x", "user.patch", "u1").ordering_key == "org:User:u1"
    reply = Reply("id1", 201, {"id": "u"}, etag='W/"1"')
    assert Reply.from_wire(reply.to_wire()) == reply
