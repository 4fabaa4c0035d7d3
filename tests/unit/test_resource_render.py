"""Output rendering and RFC 7644 §3.9 projection."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue
from domain.limits import MAX_ATTRIBUTE_NAMES
from domain.resource import is_requested, parse_attribute_list, render, selection

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_ID = "2819c223-7f76-453a-919d-413861904646"

META = {
    "resourceType": "User",
    "created": "2010-01-23T04:56:22Z",
    "lastModified": "2011-05-13T04:42:34Z",
    "location": f"https://example.com/scim/v2/org/Users/{USER_ID}",
    "version": 'W/"3694e05e9dff591"',
}

DOCUMENT = {
    "userName": "bjensen@example.com",
    "externalId": "701984",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "displayName": "Babs Jensen",
    "active": True,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True},
               {"value": "babs@jensen.org", "type": "home"}],
    ENT: {"department": "Tour Operations", "manager": {"value": "m1"}},
}

GROUPS = [{"value": "g1", "$ref": "https://example.com/scim/v2/org/Groups/g1", "display": "Tour Guides"}]


def user(**kwargs):
    return render("User", DOCUMENT, id=USER_ID, meta=META, **kwargs)


def test_full_user():
    out = user(groups=GROUPS)
    assert out["schemas"] == [CORE, ENT]
    assert out["id"] == USER_ID
    assert out["meta"] == META
    assert out["userName"] == "bjensen@example.com"
    assert out["externalId"] == "701984"
    assert out[ENT] == DOCUMENT[ENT]
    assert out["groups"] == GROUPS
    assert list(out)[:3] == ["schemas", "id", "externalId"]
    assert list(out)[-1] == "meta"


def test_render_does_not_alias_the_document():
    out = user()
    out["name"]["givenName"] = "changed"
    out[ENT]["department"] = "changed"
    assert DOCUMENT["name"]["givenName"] == "Barbara"
    assert DOCUMENT[ENT]["department"] == "Tour Operations"


def test_no_extension_no_extension_schema():
    out = render("User", {"userName": "a"}, id="1", meta={"resourceType": "User"})
    assert out == {"schemas": [CORE], "id": "1", "userName": "a", "meta": {"resourceType": "User"}}


def test_password_and_unknown_keys_are_never_sent():
    out = render("User", {"userName": "a", "password": "secret", "bogus": 1}, id="1", meta={})
    assert "password" not in out and "bogus" not in out
    out = render("User", {"userName": "a", "password": "secret"}, id="1", meta={}, attributes=["password"])
    assert "password" not in out


def test_group_with_members_and_okta_empty_members():
    members = [{"value": "u1", "$ref": "https://x/Users/u1", "display": "U One", "type": "User"}]
    out = render("Group", {"displayName": "T"}, id="g", meta={"resourceType": "Group"}, members=members)
    assert out == {"schemas": [GROUP], "id": "g", "displayName": "T", "members": members,
                   "meta": {"resourceType": "Group"}}
    out = render("Group", {"displayName": "T"}, id="g", meta={}, members=[])
    assert out["members"] == []
    out = render("Group", {"displayName": "T"}, id="g", meta={})
    assert "members" not in out


def test_entra_excluded_members():
    members = [{"value": "u1"}]
    out = render("Group", {"displayName": "T"}, id="g", meta={}, members=members, excluded_attributes=["members"])
    assert "members" not in out
    assert out["displayName"] == "T"
    assert is_requested("Group", "members", None, ["members"]) is False
    assert is_requested("Group", "members", None, ["MEMBERS"]) is False
    assert is_requested("Group", "members", None, None) is True
    assert is_requested("Group", "members", ["displayName"], None) is False
    assert is_requested("Group", "members", ["members.value"], None) is True
    assert is_requested("User", "groups", None, ["emails"]) is True
    assert is_requested("User", "id", ["userName"], None) is True
    assert is_requested("User", "nope", None, None) is False


@pytest.mark.parametrize(
    "attributes, expected_keys",
    [
        (["userName"], ["schemas", "id", "userName"]),
        (["USERNAME", "displayname"], ["schemas", "id", "userName", "displayName"]),
        (["name.givenName"], ["schemas", "id", "name"]),
        (["emails.value"], ["schemas", "id", "emails"]),
        ([f"{ENT}:department"], ["schemas", "id", ENT]),
        (["department"], ["schemas", "id", ENT]),
        ([ENT], ["schemas", "id", ENT]),
        ([f"{CORE}:userName"], ["schemas", "id", "userName"]),
        (["meta"], ["schemas", "id", "meta"]),
        (["meta.lastModified"], ["schemas", "id", "meta"]),
        (["id"], ["schemas", "id"]),
        (["nonsense", "userName"], ["schemas", "id", "userName"]),
        (["groups"], ["schemas", "id", "groups"]),
    ],
)
def test_attributes_parameter(attributes, expected_keys):
    out = user(groups=GROUPS, attributes=attributes)
    assert list(out) == expected_keys


def test_attributes_sub_attribute_projection():
    out = user(attributes=["name.givenName", "emails.value", f"{ENT}:manager.value", "meta.lastModified"])
    assert out["name"] == {"givenName": "Barbara"}
    assert out["emails"] == [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}]
    assert out[ENT] == {"manager": {"value": "m1"}}
    assert out["meta"] == {"lastModified": "2011-05-13T04:42:34Z"}
    assert out["schemas"] == [CORE, ENT]


def test_attributes_extension_only_in_schemas_when_sent():
    out = user(attributes=["userName"])
    assert out["schemas"] == [CORE]


def test_attributes_sub_attribute_missing_drops_parent():
    out = user(attributes=["name.middleName"])
    assert "name" not in out


@pytest.mark.parametrize(
    "excluded, absent, present",
    [
        (["emails"], ["emails"], ["userName", "name", ENT]),
        (["id"], [], ["id"]),  # returned always: cannot be excluded
        (["name.givenName"], [], ["name"]),
        ([f"{ENT}:department"], [], [ENT]),
        ([ENT], [ENT], ["userName"]),
        (["meta", "groups"], ["meta", "groups"], ["id"]),
        (["bogus"], [], ["userName", "emails", "meta"]),
    ],
)
def test_excluded_attributes(excluded, absent, present):
    out = user(groups=GROUPS, excluded_attributes=excluded)
    for key in absent:
        assert key not in out
    for key in present:
        assert key in out


def test_excluded_sub_attributes():
    out = user(excluded_attributes=["name.givenName", "emails.primary", f"{ENT}:department"])
    assert out["name"] == {"familyName": "Jensen"}
    assert out["emails"] == [{"value": "bjensen@example.com", "type": "work"},
                             {"value": "babs@jensen.org", "type": "home"}]
    assert out[ENT] == {"manager": {"value": "m1"}}


def test_excluding_every_extension_attribute_drops_its_schema():
    out = user(excluded_attributes=[f"{ENT}:department", f"{ENT}:manager"])
    assert ENT not in out
    assert out["schemas"] == [CORE]


@pytest.mark.parametrize(
    "text, expected",
    [
        (None, None),
        ("", None),
        ("  ,  ", None),
        ("userName", ["userName"]),
        ("userName, name.givenName,emails.value", ["userName", "name.givenName", "emails.value"]),
        (f"{ENT}:department,", [f"{ENT}:department"]),
    ],
)
def test_parse_attribute_list(text, expected):
    assert parse_attribute_list(text) == expected


# ------------------------------------------------------------------ one selection per request


def test_attribute_lists_are_deduplicated_case_insensitively_keeping_the_first_spelling():
    assert parse_attribute_list("userName,USERNAME, emails ,userName") == ["userName", "emails"]
    assert parse_attribute_list(["userName", "name.givenName,emails", "EMAILS"]) == [
        "userName", "name.givenName", "emails"]
    assert parse_attribute_list([]) is None


@pytest.mark.parametrize("value", [5, True, {"a": 1}, [["userName"]], [None], ["userName", 1], [{"x": 1}]])
def test_attribute_lists_of_anything_but_strings_are_invalid_value(value):
    with pytest.raises(InvalidValue):
        parse_attribute_list(value)


def test_attribute_lists_are_capped_before_deduplication():
    assert len(parse_attribute_list(",".join(f"a{i}" for i in range(MAX_ATTRIBUTE_NAMES)))) == MAX_ATTRIBUTE_NAMES
    with pytest.raises(InvalidValue, match=str(MAX_ATTRIBUTE_NAMES)):
        parse_attribute_list(["userName"] * (MAX_ATTRIBUTE_NAMES + 1))


@pytest.mark.parametrize("attributes, excluded", [
    (["userName", "name.givenName", "emails.value", f"{ENT}:manager"], None),
    (None, ["emails", f"{ENT}:department", "name.familyName"]),
    ([CORE], None),
    (None, None),
])
def test_a_selection_made_once_renders_exactly_as_the_names_do(attributes, excluded):
    chosen = selection("User", attributes, excluded)
    for document in (DOCUMENT, {"userName": "other"}):
        assert render("User", document, id=USER_ID, meta=META, groups=GROUPS, selected=chosen) == render(
            "User", document, id=USER_ID, meta=META, groups=GROUPS, attributes=attributes,
            excluded_attributes=excluded)
    assert is_requested("User", "groups", selected=chosen) == is_requested("User", "groups", attributes, excluded)


def test_a_selection_is_for_one_resource_type():
    with pytest.raises(ValueError):
        render("Group", {"displayName": "T"}, id="g", meta={}, selected=selection("User", ["userName"]))


def test_rendering_many_resources_with_many_names_resolves_the_names_once(monkeypatch):
    import domain.resource.returned as resource

    calls = []
    real = resource.resolve_key
    monkeypatch.setattr(resource, "resolve_key", lambda *args: calls.append(args) or real(*args))
    names = [f"name.givenName{i}" for i in range(MAX_ATTRIBUTE_NAMES)]
    chosen = selection("User", names)
    resolved_once = len(calls)
    for _ in range(100):
        render("User", DOCUMENT, id=USER_ID, meta=META, selected=chosen)
    assert len(calls) == resolved_once == MAX_ATTRIBUTE_NAMES


# ------------------------------------------------------------------ one decision: Selection.returns


@pytest.mark.parametrize("resource_type, name, attributes, excluded, returned", [
    ("Group", "members", [f"{GROUP}:members"], None, True),
    ("Group", "members", [f"{GROUP.upper()}:MEMBERS.value"], None, True),
    ("Group", "members", [GROUP], None, True),  # a bare core URN: every core attribute
    ("Group", "members", [f"{GROUP}:displayName"], None, False),
    ("Group", "members", None, [f"{GROUP}:members"], False),
    ("Group", "members", None, ["members.display"], True),
    ("Group", f"{GROUP}:members", ["members"], None, True),
    ("User", "groups", [f"{CORE}:groups.display"], None, True),
    ("User", "groups", [ENT], None, False),
    ("User", "groups", None, [CORE], False),
    ("User", "password", ["password"], None, False),
    ("User", "id", None, ["id"], True),
])
def test_whether_an_attribute_is_returned_in_every_notation(resource_type, name, attributes, excluded, returned):
    chosen = selection(resource_type, attributes, excluded)
    assert chosen.returns(name) is returned
    members = [{"value": "u1", "display": "U"}] if resource_type == "Group" else None
    document = {"displayName": "T"} if resource_type == "Group" else {"userName": "u"}
    rendered = render(resource_type, document, id="x", meta={}, members=members,
                      groups=GROUPS if resource_type == "User" else None, selected=chosen)
    top = name.rsplit(":", 1)[-1]
    assert (top in rendered) is returned


def test_request_attributes_and_sub_attributes_are_sent_only_when_named():
    """No served attribute is ``returned: request``; the rule, on stand-in definitions."""
    from domain.resource.returned import Selection, _Names
    from domain.schema.model import COMPLEX, REQUEST, AttributeDef

    secret = AttributeDef(name="badge", returned=REQUEST)
    hint = AttributeDef(name="hint", returned=REQUEST)
    card = AttributeDef(name="card", type=COMPLEX, sub_attributes=(AttributeDef(name="number"), hint))
    assert Selection("User").decide(secret, ("badge",)) is False
    assert Selection("User", exclude=_Names({("other",): None})).decide(secret, ("badge",)) is False
    assert Selection("User", include=_Names({("badge",): None})).decide(secret, ("badge",)) is True
    whole = Selection("User", include=_Names({("card",): None}))
    assert whole.sub_returned(("card",), whole.decide(card, ("card",)))(hint) is False
    named = Selection("User", include=_Names({("card",): {"hint"}}))
    assert named.sub_returned(("card",), named.decide(card, ("card",)))(hint) is True
    assert Selection("User").sub_returned(("card",), True)(hint) is False
