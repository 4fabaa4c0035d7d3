"""The in-memory filter evaluator (domain/filter/evaluate.py): every operator on every attribute
type, sub-attributes, multi-valued values, memberships, ``pr``, ``not``, ``and``/``or``
precedence, and the filters it refuses — with the meaning listing gives them in SQL
(tests/integration/test_filter_sql.py runs the same cases through both)."""

from __future__ import annotations

import pytest

from domain.errors import InvalidFilter, InvalidPath
from domain.filter.ast import AttrPath
from domain.filter.evaluate import matches, resource_predicate, value_predicate
from domain.filter.parser import parse_filter
from domain.schema import registry
from domain.schema.model import DECIMAL, INTEGER, AttributeDef, ResolvedAttr

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CERT = "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcN"

USER = {
    "schemas": [CORE, ENT],
    "id": "2819c223-7F76-453a",
    "externalId": "Ext-701984",
    "userName": "BJensen@Example.com",
    "name": {"givenName": "Barbara", "familyName": "O'Malley", "formatted": ""},
    "displayName": "Babs Jensen",
    "title": None,
    "nickName": "",
    "profileUrl": "https://Login.example.com/bjensen",
    "active": True,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True},
               {"value": "Babs@Jensen.org", "type": "home"}],
    "roles": [],
    "photos": [{"value": "https://photos.example.com/F.jpg", "type": "photo"}],
    "x509Certificates": [{"value": CERT}],
    "groups": [{"value": "G-1", "display": "Tour Guides", "type": "direct",
                "$ref": "https://example.com/Groups/G-1"}],
    ENT: {"employeeNumber": "701984", "manager": {"value": "M-1", "$ref": "../Users/M-1"}},
    "meta": {"resourceType": "User", "created": "2024-01-10T10:00:00", "lastModified": "2024-03-01T00:00:00",
             "location": "https://example.com/Users/2819c223", "version": 'W/"3"'},
}

CASES = [
    # strings, case-insensitive (userName, displayName, title …): every operator
    ('userName eq "bjensen@example.com"', True),
    ('USERNAME Eq "BJENSEN@EXAMPLE.COM"', True),
    ('userName eq "bjensen"', False),
    ('userName co "JENSEN@"', True),
    ('userName sw "bj"', True),
    ('userName ew ".COM"', True),
    ('userName ew ".org"', False),
    ('userName gt "bjensen@a"', True),
    ('userName ge "bjensen@example.com"', True),
    ('userName lt "bjensen@example.com"', False),
    ('userName le "BJENSEN@EXAMPLE.COM"', True),
    ('userName ne "bjensen@example.com"', False),
    ('displayName co "babs"', True),
    ("userName eq 123", False),
    # strings, case-exact (id, externalId)
    ('externalId eq "Ext-701984"', True),
    ('externalId eq "ext-701984"', False),
    ('externalId co "ext"', False),
    ('externalId sw "Ext"', True),
    ('externalId ew "984"', True),
    ('externalId gt "Ext"', True),
    ('externalId lt "ext"', True),  # "E" < "e"
    ('id eq "2819c223-7f76-453a"', False),
    ('id eq "2819c223-7F76-453a"', True),
    # booleans: eq/ne, string booleans
    ("active eq true", True),
    ("active eq false", False),
    ('active eq "True"', True),
    ("active ne false", True),
    ("active pr", True),
    # reference (profileUrl: case-insensitive), binary (x509Certificates.value: no ordering)
    ('profileUrl eq "https://login.example.com/BJENSEN"', True),
    ('profileUrl sw "https://login"', True),
    (f'x509Certificates.value eq "{CERT}"', True),
    ('x509Certificates.value co "CCAq"', True),
    ('photos.value ew ".JPG"', True),
    # dateTime (meta): chronological, Z and offsets
    ('meta.created gt "2024-01-10T09:59:59Z"', True),
    ('meta.created eq "2024-01-10T11:00:00+01:00"', True),
    ('meta.created lt "2024-01-10T10:00:00Z"', False),
    ('meta.lastModified ge "2024-03-01T00:00:00.000Z"', True),
    ('meta.lastModified le "2024-02-29T23:59:59Z"', False),
    ('meta.resourceType eq "User"', True),
    ('meta.resourceType eq "user"', False),  # caseExact
    ("meta pr", True),
    # complex sub-attributes, URN-qualified names, extension attributes
    ('name.familyName co "o\'malley"', True),
    ('name.GIVENNAME ew "A"', True),
    ("name pr", True),
    ("name.formatted pr", False),
    (f'{CORE}:name.givenName eq "barbara"', True),
    (f'{ENT}:employeeNumber eq "701984"', True),
    ("employeeNumber eq 701984", True),  # a number compares as its string form
    (f'{ENT}:manager.value eq "M-1"', True),
    ('manager eq "m-1"', True),  # a bare complex attribute compares by its value (caseExact: false)
    ("not (manager pr)", False),
    # pr, null, empty
    ("title pr", False),
    ("nickName pr", False),
    ("title eq null", True),
    ("title ne null", False),
    ("displayName ne null", True),
    ("roles pr", False),
    ("not (roles pr)", True),
    ("addresses pr", False),
    # multi-valued: some value matches; value paths
    ('emails co "jensen.org"', True),
    ('emails.value eq "babs@jensen.org"', True),
    ('emails[type eq "work" and value co "example"]', True),
    ('emails[type eq "work" and value co "jensen.org"]', False),
    ('emails[type eq "work"].value eq "bjensen@example.com"', True),
    ('emails[primary eq true].value sw "bj"', True),
    ('emails[primary eq "True" and type eq "home"]', False),
    ("emails[primary pr]", True),
    ('emails[not (type eq "work")]', True),
    ('emails[type ne "home" and type ne "work"]', False),
    ('emails ne "bjensen@example.com"', False),
    ('not (emails[type eq "other"])', True),
    ('emails.type eq "work" and emails.value eq "babs@jensen.org"', True),  # different values
    # memberships: value (an id: case-exact), display, type
    ('groups eq "G-1"', True),
    ('groups eq "g-1"', False),
    ('groups[value eq "G-1"]', True),
    ('groups.display co "GUIDES"', True),
    ('groups.type eq "direct"', True),
    ("groups pr", True),
    # schemas
    (f'schemas eq "{ENT}"', True),
    (f'schemas eq "{ENT.upper()}"', True),
    (f'schemas eq "{CORE}"', True),
    (f'schemas ne "{CORE}"', False),
    ('schemas eq "urn:example:other"', False),
    ("schemas pr", True),
    # not, and/or precedence (and binds tighter than or)
    ('userName eq "x" or title pr and active eq true', False),
    ('userName eq "x" or displayName pr and active eq true', True),
    ('(userName eq "x" or displayName pr) and active eq false', False),
    ('userName eq "x" and active eq true or displayName pr', True),
    ("not (not (active eq true))", True),
    ('not (userName eq "x" or title pr)', True),
    ('not (displayName pr and active eq true)', False),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0] for c in CASES])
def test_resource_filters(text, expected):
    assert matches("User", USER, parse_filter(text)) is expected


def test_an_absent_attribute_satisfies_ne_and_not():
    bare = {"schemas": [CORE], "id": "1", "userName": "x"}
    for text in ('title ne "a"', 'not (title eq "a")', "not (emails pr)", 'emails ne "a"',
                 'not (emails[type eq "work"])', 'not (manager eq "m")', f'schemas ne "{ENT}"'):
        assert matches("User", bare, parse_filter(text)), text
    for text in ('title eq "a"', "emails pr", 'emails[type eq "work"]', f'schemas eq "{ENT}"', "groups pr"):
        assert not matches("User", bare, parse_filter(text)), text


def test_group_members():
    group = {"schemas": [GROUP], "id": "g", "displayName": "Engineering",
             "members": [{"value": "U-1", "display": "Alice Smith", "type": "User"}]}
    for text, expected in [('members eq "U-1"', True), ('members eq "u-1"', False),
                           ('members[display sw "alice" and type eq "user"]', True),
                           ('members.display eq "bob"', False), ("members pr", True),
                           ('displayName eq "ENGINEERING"', True), (f'{GROUP}:displayName sw "Eng"', True)]:
        assert matches("Group", group, parse_filter(text)) is expected, text


INVALID = [
    ('foo eq "x"', "foo"),
    ('urn:example:unknown:2.0:User:title eq "x"', "title"),
    ('password eq "secret"', "password"),
    ('name eq "x"', "name"),
    ("active gt true", "boolean"),
    ('active co "t"', "boolean"),
    ('active eq "yes"', "boolean"),
    ('emails gt "a"', "emails"),
    ('addresses eq "x"', "addresses"),
    ('emails[foo eq "x"]', "foo"),
    ('title[value eq "x"]', "title"),
    ("title gt null", "null"),
    ('meta.created gt "yesterday"', "meta.created"),
    ('meta.created co "2024"', "meta.created"),
    ('meta.version eq "x"', "meta.version"),
    ('meta.location pr', "meta.location"),
    ('groups.$ref eq "x"', "$ref"),
    ('title eq "a\\u0000b"', "NUL"),
    ('x509Certificates.value gt "A"', "binary"),
    ('x509Certificates.value le "A"', "binary"),
    ('schemas co "urn"', "schemas"),
    ('manager gt "m"', "manager"),
]


@pytest.mark.parametrize("text,fragment", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_filters_are_refused_when_the_predicate_is_made(text, fragment):
    with pytest.raises(InvalidFilter) as caught:
        resource_predicate("User", parse_filter(text))
    assert fragment.lower() in caught.value.detail.lower()


def _parent(resource_type: str, name: str) -> ResolvedAttr:
    resolved = registry.resolve(resource_type, AttrPath(None, name))
    assert resolved is not None
    return resolved


def test_value_filters_on_one_value():
    emails = _parent("User", "emails")
    work = {"value": "bjensen@example.com", "type": "work", "primary": True}
    home = {"value": "Babs@Jensen.org", "type": "home"}
    for text, expected in [('type eq "WORK"', [True, False]), ("primary pr", [True, False]),
                           ("primary eq false", [False, False]), ('type ne "work"', [False, True]),
                           ('value ew ".org" or primary eq true', [True, True]),
                           ('not (value co "example")', [False, True]), ("type eq null", [False, False]),
                           ("display eq null", [True, True]), ('emails.type eq "home"', [False, True]),
                           ("value eq 5", [False, False])]:
        test = value_predicate("User", emails, parse_filter(text))
        assert [test(work), test(home)] == expected, text
    assert value_predicate("User", emails, parse_filter('type eq "work"'))("not a dict") is False


def test_value_filter_errors_name_the_path_for_patch():
    emails = _parent("User", "emails")
    with pytest.raises(InvalidPath):
        value_predicate("User", emails, parse_filter('nope eq "x"'), unknown=InvalidPath)
    with pytest.raises(InvalidFilter):
        value_predicate("User", emails, parse_filter('nope eq "x"'))
    with pytest.raises(InvalidFilter):  # a known name, an unsupported comparison: invalidFilter
        value_predicate("User", emails, parse_filter("primary gt true"), unknown=InvalidPath)
    with pytest.raises(InvalidFilter):
        value_predicate("Group", _parent("Group", "members"), parse_filter('$ref eq "x"'), unknown=InvalidPath)


@pytest.fixture
def numbers(monkeypatch):
    """Integer and decimal stand-ins: the served schemas have neither."""
    real = registry.resolve
    defined = {"level": AttributeDef(name="level", type=INTEGER), "score": AttributeDef(name="score", type=DECIMAL)}

    def resolve(resource_type, path, parent=None):
        attr = defined.get(path.attr.lower()) if parent is None and path.urn is None else None
        if attr is not None:
            return ResolvedAttr(schema=CORE, attr=attr, sub=None, canonical=(attr.name,), json_keys=(attr.name,))
        return real(resource_type, path, parent)

    monkeypatch.setattr(registry, "resolve", resolve)


@pytest.mark.parametrize("text,expected", [
    ("level eq 3", True), ('level eq "3"', True), ("level gt 2", True), ("level ge 3", True),
    ("level lt 3", False), ("level le 2.5", False), ("level ne 3", False), ("level pr", True),
    ("score eq 2.5", True), ("score gt 2.49", True), ('score lt "1e1"', True), ("score le -1", False),
    ("not (level gt 3)", True),
])
def test_integer_and_decimal_attributes(numbers, text, expected):
    assert matches("User", {**USER, "level": 3, "score": 2.5}, parse_filter(text)) is expected


def test_numbers_held_as_strings_never_compare_as_numbers(numbers):
    assert not matches("User", {**USER, "level": "3"}, parse_filter("level eq 3"))
    assert matches("User", {**USER, "level": "3"}, parse_filter("level pr"))


@pytest.mark.parametrize("text", ['level co "3"', 'level sw "3"', 'level eq "three"', "level eq true"])
def test_numeric_attributes_refuse_substrings_and_non_numbers(numbers, text):
    with pytest.raises(InvalidFilter):
        resource_predicate("User", parse_filter(text))


def test_a_long_or_chain_is_evaluated_without_recursing_per_term():
    text = " or ".join(f'id eq "{i}"' for i in range(499)) + ' or userName eq "bjensen@example.com"'
    assert matches("User", USER, parse_filter(text))
