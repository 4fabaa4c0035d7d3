"""The one case-insensitive lookup of a SCIM member name (domain/names.py), which the PATCH
parser, normalize, the SearchRequest and Bulk readers and the query string all use."""

from __future__ import annotations

from multidict import MultiDict

from domain.names import find_member, get_member
from domain.patch import parse_patch_request


def test_the_exact_spelling_wins_else_the_first_in_any_case():
    assert find_member({"Operations": 1, "operations": 2}, "operations") == (True, 2)
    assert find_member({"OPERATIONS": 1, "operations": 2}, "Operations") == (True, 1)
    assert find_member({"value": None}, "VALUE") == (True, None)
    assert find_member({}, "value") == (False, None)
    assert get_member({1: "x", "Path": "p"}, "path") == "p"
    assert get_member({}, "path", "default") == "default"


def test_a_query_string_is_read_the_same_way():
    query = MultiDict([("STARTINDEX", "3"), ("startIndex", "5"), ("count", "1"), ("count", "2")])
    assert get_member(query, "startIndex") == "5"
    assert get_member(query, "COUNT") == "1"


def test_the_patch_parser_reads_members_as_every_other_reader_does():
    body = {"operations": [{"op": "add", "path": "x", "value": 1}],
            "Operations": [{"OP": "remove", "Path": "title", "path": "nickName"}]}
    [operation] = parse_patch_request(body)
    assert operation.op == "remove" and operation.path_text == "nickName"
