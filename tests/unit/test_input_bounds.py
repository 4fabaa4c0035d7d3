"""The ingress's bounds on JSON bodies and request members (domain/limits.py), and the store's
column sizes checked in the domain so that SQLite and PostgreSQL answer alike."""

from __future__ import annotations

import pytest

from api.requests import check_depth, list_params, parse_json
from domain.names import get_member as member
from domain.errors import InvalidSyntax, InvalidValue
from domain.limits import MAX_INDEXED_STRING, MAX_JSON_CONTAINERS, MAX_JSON_DEPTH
from domain.patch import parse_patch_request
from domain.resource import check_patch_values, normalize
from infra.store import tables


def nested(depth: int) -> bytes:
    """A JSON body whose innermost array is ``depth`` levels deep (the outer object is level 1)."""
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_bodies_nested_up_to_the_bound_are_accepted_and_deeper_ones_refused():
    assert parse_json(nested(MAX_JSON_DEPTH))
    with pytest.raises(InvalidSyntax, match="nested more than 32"):
        parse_json(nested(MAX_JSON_DEPTH + 1))
    # What the issue found: orjson takes ~1,000 levels, which the queue's codec cannot carry.
    with pytest.raises(InvalidSyntax):
        parse_json(b'{"Operations":[{"op":"add","value":' + b"[" * 990 + b"]" * 990 + b"}]}")


def test_depth_counts_objects_and_arrays_alike_and_scalars_not_at_all():
    mixed = {"a": [{"b": [{"c": []}]}]}  # 6 levels
    check_depth(mixed)
    for scalar in (None, 1, "x", True, 1.5):
        check_depth(scalar)
    deep: object = []
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep] if isinstance(deep, list) else {"k": deep}
    with pytest.raises(InvalidSyntax):
        check_depth({"k": deep})


def test_too_many_containers_are_refused_before_parsing():
    many = b"[" + b",".join([b"{}"] * (MAX_JSON_CONTAINERS + 1)) + b"]"
    with pytest.raises(InvalidSyntax, match="objects and arrays"):
        parse_json(many)
    assert len(parse_json(b"[" + b",".join([b"{}"] * 1000) + b"]")) == 1000


@pytest.mark.parametrize("raw", [b"", b"   ", b"{nope", b"[1,", b'"\\ud800"'])
def test_empty_and_malformed_bodies_are_invalid_syntax(raw):
    with pytest.raises(InvalidSyntax):
        parse_json(raw)


def test_a_member_named_twice_in_different_cases_is_read_as_the_patch_parser_reads_it():
    body = parse_json(b'{"operations":[1],"Operations":[2],"OPERATIONS":[3],"other":0}')
    assert member(body, "Operations") == [2]  # the exact spelling first
    assert member({"operations": [1], "OPERATIONS": [3]}, "Operations") == [1]  # else the first
    both = {"operations": [{"op": "remove", "path": "nickName"}], "Operations": [{"op": "remove", "path": "title"}]}
    assert [op.path_text for op in parse_patch_request(both)] == ["title"] == [
        op["path"] for op in member(both, "Operations")]


def test_members_are_found_case_insensitively():
    body = {"OPERATIONS": [1], "Schemas": ["s"], "other": 2}
    assert member(body, "Operations") == [1] and member(body, "schemas") == ["s"]
    assert member(body, "missing", "default") == "default"


def test_search_request_members_are_type_checked():
    assert list_params({"COUNT": 5, "startindex": "2", "Filter": 'userName eq "a"'}, 100).count == 5
    assert list_params({"count": "7"}, 100).count == 7
    for bad in ({"count": True}, {"count": 1.5}, {"startIndex": [1]}, {"filter": 5}, {"sortBy": {}},
                {"sortOrder": ["ascending"]}, {"cursor": 1}, {"filter": ["userName pr"]}):
        with pytest.raises(InvalidValue):
            list_params(bad, 100)
    with pytest.raises(InvalidValue):  # more digits than Python converts
        list_params({"count": "9" * 5000}, 100)


# ------------------------------------------------------------------ strings the store indexes


def test_the_bound_is_the_column_size():
    for column in (tables.users.c.user_name, tables.users.c.display_name, tables.users.c.external_id,
                   tables.teams.c.display_name, tables.teams.c.external_id, tables.team_members.c.display):
        assert column.type.length == MAX_INDEXED_STRING, column


@pytest.mark.parametrize("resource_type, name", [
    ("User", "userName"), ("User", "displayName"), ("User", "externalId"),
    ("Group", "displayName"), ("Group", "externalId"),
])
def test_indexed_strings_longer_than_their_column_are_invalid_value(resource_type, name):
    base = {"userName": "u@example.com"} if resource_type == "User" else {"displayName": "T"}
    assert normalize(resource_type, {**base, name: "x" * MAX_INDEXED_STRING}).document[name]
    with pytest.raises(InvalidValue, match=f"'{name}' must be at most {MAX_INDEXED_STRING}"):
        normalize(resource_type, {**base, name: "x" * (MAX_INDEXED_STRING + 1)})


def test_a_member_display_longer_than_its_column_is_invalid_value():
    ok = normalize("Group", {"displayName": "T", "members": [{"value": "u1", "display": "d" * MAX_INDEXED_STRING}]})
    assert ok.member_ids == ["u1"]
    with pytest.raises(InvalidValue, match="members.display"):
        normalize("Group", {"displayName": "T", "members": [{"value": "u1", "display": "d" * 513}]})


def ops(*operations):
    return parse_patch_request({"Operations": list(operations)})


@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": "userName", "value": "y" * 513},
    {"op": "add", "path": "externalId", "value": "y" * 513},
    {"op": "Replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": "y" * 513},
    {"op": "replace", "value": {"userName": "y" * 513}},
    {"op": "replace", "value": {"EXTERNALID": "y" * 513}},
])
def test_patch_values_for_indexed_columns_are_checked_before_queueing(operation):
    with pytest.raises(InvalidValue):
        check_patch_values("User", ops(operation))


def test_patch_members_are_checked_before_queueing_and_fine_values_pass():
    with pytest.raises(InvalidValue):
        check_patch_values("Group", ops({"op": "add", "path": "members", "value": [{"value": "u", "display": "d" * 513}]}))
    with pytest.raises(InvalidValue):
        check_patch_values("Group", ops({"op": "add", "path": "members", "value": [{"value": 5}]}))
    check_patch_values("Group", ops(
        {"op": "add", "path": "members", "value": [{"value": "u1", "display": "Ada"}]},
        {"op": "remove", "path": "members", "value": [{"value": "u2"}]},
        {"op": "replace", "path": "displayName", "value": "d" * 512},
        {"op": "replace", "value": {"id": "x", "displayName": "New"}},
    ))
    check_patch_values("User", ops(
        {"op": "replace", "path": "title", "value": "t" * 5000},  # not indexed: JSON holds any length
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "a@example.com"},
        {"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}}},
    ))


def test_a_patch_outcome_is_checked_in_the_domain_too():
    from domain.patch import apply_patch

    with pytest.raises(InvalidValue):
        apply_patch("User", {"userName": "a"}, ops({"op": "replace", "value": {"userName": "b" * 600}}), resource_id="1")

