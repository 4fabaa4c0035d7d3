"""SCIM filters compiled to SQL, run against a real store (SQLite, or PostgreSQL when
SCIMGATE_TEST_DATABASE_URL is set): each case asserts exactly which resources match."""

from __future__ import annotations

import random
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select

from domain.errors import InvalidFilter
from domain.filter.ast import AttrPath
from domain.filter.parser import parse_filter
from domain.schema import registry
from domain.schema.model import INTEGER, AttributeDef, ResolvedAttr
from infra.store import tables
from infra.store.filter_sql import compile_filter, sort_column

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"

IDS = {name: str(uuid.uuid4()) for name in ("alice", "bob", "carol", "dave", "eng", "sales", "empty")}
IDS["alice"] = "a" + IDS["alice"][1:]  # a letter, so that its upper case differs
ORG = uuid.uuid4().hex


def _user(name, user_name, *, created, updated=None, external_id=None, display_name=None,
          active=True, resource=None):
    return {
        "id": IDS[name], "org_id": ORG, "user_name": user_name, "user_name_key": user_name.casefold(),
        "external_id": external_id, "display_name": display_name, "active": active,
        "resource": resource or {}, "version": 1, "created_at": created,
        "updated_at": updated or created,
    }


USERS = [
    _user(
        "alice", "Alice.Smith@Example.com", external_id="ext-Alice", display_name="Alice Smith",
        created=datetime(2024, 1, 10, 10, 0), updated=datetime(2024, 3, 1),
        resource={
            "userName": "Alice.Smith@Example.com", "displayName": "Alice Smith",
            "name": {"givenName": "Alice", "familyName": "Smith", "formatted": ""},
            "title": "Engineer", "nickName": "",
            "emails": [{"value": "alice@example.com", "type": "work", "primary": True},
                       {"value": "alice@home.org", "type": "home"}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
            "roles": [],
            ENT: {"employeeNumber": "00123", "department": "R&D", "manager": {"value": IDS["bob"]}},
        },
    ),
    _user(
        "bob", "bob", external_id="jyoung", active=False,
        created=datetime(2024, 2, 1), updated=datetime(2024, 2, 15),
        resource={
            "userName": "bob", "name": {"givenName": "Bob", "familyName": "O'Malley"},
            "title": "engineer", "userType": "Contractor",
            "emails": [{"value": "BOB@Example.COM", "type": "home"},
                       {"value": "bob@work.example.com", "type": "work", "primary": True}],
            ENT: {"employeeNumber": "42", "department": "Sales"},
        },
    ),
    _user(
        "carol", "carol_%x", display_name="Carol",
        created=datetime(2024, 3, 5), updated=datetime(2024, 3, 6),
        resource={"userName": "carol_%x", "title": None, "nickName": "Caz",
                  "ims": [{"value": "carol@xmpp", "type": "xmpp"}]},
    ),
    _user("dave", "Dävé", display_name="DAVE", created=datetime(2023, 12, 31, 23, 30),
          resource={"userName": "Dävé"}),
]

TEAMS = [
    ("eng", "Engineering", "g-eng", ["alice", "bob"]),
    ("sales", "Sales Team", None, ["bob"]),
    ("empty", "Empty", None, []),
]


@pytest.fixture
def store(sync_engine):
    now = datetime(2024, 1, 1)
    with sync_engine.begin() as conn:
        conn.execute(tables.organizations.insert().values(
            id=ORG, name="Acme", tier="enterprise", scim_enabled=True, created_at=now))
        conn.execute(tables.users.insert(), USERS)
        for key, display, external, members in TEAMS:
            conn.execute(tables.teams.insert().values(
                id=IDS[key], org_id=ORG, display_name=display, display_name_key=display.casefold(),
                external_id=external, idp_managed=True, resource={"displayName": display},
                version=1, created_at=now, updated_at=now))
            for member in members:
                conn.execute(tables.team_members.insert().values(
                    team_id=IDS[key], user_id=IDS[member], org_id=ORG, created_at=now))
    return sync_engine


def _names(ids) -> set[str]:
    by_id = {v: k for k, v in IDS.items()}
    return {by_id[i] for i in ids}


def _query(engine, resource_type: str, text: str) -> set[str]:
    table = tables.users if resource_type == "User" else tables.teams
    condition = compile_filter(resource_type, parse_filter(text), engine.dialect.name)
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id).where(table.c.org_id == ORG, condition)).scalars()
        return _names(rows)


ALL_USERS = {"alice", "bob", "carol", "dave"}

USER_CASES = [
    # userName: case-insensitive, through the casefolded key
    ('userName eq "alice.smith@example.com"', {"alice"}),
    ('USERNAME Eq "ALICE.SMITH@EXAMPLE.COM"', {"alice"}),
    ('userName eq "dävé"', {"dave"}),
    ('userName eq "DÄVÉ"', {"dave"}),
    ('userName eq "nobody"', set()),
    ('userName sw "carol_"', {"carol"}),
    ('userName co "_%"', {"carol"}),
    ('userName co "%"', {"carol"}),
    ('userName co "_"', {"carol"}),
    ('userName ew "EXAMPLE.COM"', {"alice"}),
    ('userName gt "bob"', {"carol", "dave"}),
    ('userName le "bob"', {"alice", "bob"}),
    ('userName pr', ALL_USERS),
    ('userName eq 123', set()),
    # externalId: caseExact
    ('externalId eq "ext-Alice"', {"alice"}),
    ('externalId eq "EXT-ALICE"', set()),
    ("externalId eq jyoung", {"bob"}),
    ('externalId co "alice"', set()),
    ('externalId co "Alice"', {"alice"}),
    ('externalId sw "ext"', {"alice"}),
    ('externalId sw "EXT"', set()),
    ('externalId ew "ung"', {"bob"}),
    ("externalId pr", {"alice", "bob"}),
    ("not (externalId pr)", {"carol", "dave"}),
    ('externalId ne "jyoung"', {"alice", "carol", "dave"}),
    # id
    (f'id eq "{IDS["alice"]}"', {"alice"}),
    (f'id eq "{IDS["alice"].upper()}"', set()),
    (f'id ne "{IDS["alice"]}"', {"bob", "carol", "dave"}),
    # displayName (column, case-insensitive, nullable)
    ('displayName eq "alice smith"', {"alice"}),
    ('displayName ne "carol"', {"alice", "bob", "dave"}),
    ('displayName co "a"', {"alice", "carol", "dave"}),
    ("displayName pr", {"alice", "carol", "dave"}),
    # active (boolean column, string booleans accepted)
    ("active eq true", {"alice", "carol", "dave"}),
    ("active eq false", {"bob"}),
    ('active eq "False"', {"bob"}),
    ('active eq "True"', {"alice", "carol", "dave"}),
    ("active eq True", {"alice", "carol", "dave"}),
    ("active ne true", {"bob"}),
    ("active pr", ALL_USERS),
    # JSON strings, case-insensitive, null / empty / absent
    ('title eq "ENGINEER"', {"alice", "bob"}),
    ('title ne "engineer"', {"carol", "dave"}),
    ("title pr", {"alice", "bob"}),
    ("not (title pr)", {"carol", "dave"}),
    ("title eq null", {"carol", "dave"}),
    ("title ne null", {"alice", "bob"}),
    ('not (title eq "engineer")', {"carol", "dave"}),
    ("nickName pr", {"carol"}),
    ('userType eq "contractor"', {"bob"}),
    ('userType sw "Con" and title co "GIN"', {"bob"}),
    # complex singular sub-attributes, URN-qualified core paths
    ('name.familyName co "o\'malley"', {"bob"}),
    ('name.givenName sw "A"', {"alice"}),
    ('name.GIVENNAME ew "B"', {"bob"}),
    ("name pr", {"alice", "bob"}),
    ("name.formatted pr", set()),
    (f'{CORE}:name.familyName eq "Smith"', {"alice"}),
    (f'{CORE}:userName eq "BOB"', {"bob"}),
    # multi-valued complex: EXISTS over the JSON array
    ('emails co "example.com"', {"alice", "bob"}),
    ('emails.value ew "@HOME.org"', {"alice"}),
    ('emails[type eq "work" and value co "@example.com"]', {"alice"}),
    ('emails[type eq "work"].value eq "bob@work.example.com"', {"bob"}),
    ('emails[type eq "work"].value eq "alice@home.org"', set()),
    ('emails[type eq "home" and value co "example.com"]', {"bob"}),
    ('emails.type eq "work" and emails.value eq "alice@home.org"', {"alice"}),
    ("emails pr", {"alice", "bob"}),
    ("not (emails pr)", {"carol", "dave"}),
    ("emails.value pr", {"alice", "bob"}),
    ('emails[not (type eq "work")]', {"alice", "bob"}),
    ('emails[type ne "home"]', {"alice", "bob"}),
    ('emails ne "alice@example.com"', {"bob", "carol", "dave"}),
    ('not (emails[type eq "work"])', {"carol", "dave"}),
    ('emails[primary eq true].value sw "bob"', {"bob"}),
    ('emails[primary eq "True" and type eq "work"]', {"alice", "bob"}),
    ("emails[primary pr]", {"alice", "bob"}),
    ('emails[type eq "work" or type eq "home"]', {"alice", "bob"}),
    ('phoneNumbers[type eq "mobile"]', {"alice"}),
    ('phoneNumbers.value co "555"', {"alice"}),
    ("ims.value pr", {"carol"}),
    ("roles pr", set()),
    ("addresses pr", set()),
    ("not (roles pr)", ALL_USERS),
    # enterprise extension, with and without the URN
    (f'{ENT}:employeeNumber eq "00123"', {"alice"}),
    ("employeeNumber eq 42", {"bob"}),
    (f'{ENT.upper()}:EMPLOYEENUMBER eq "42"', {"bob"}),
    (f'{ENT}:manager.value eq "{IDS["bob"]}"', {"alice"}),
    (f'manager eq "{IDS["bob"]}"', {"alice"}),
    ('department eq "r&d"', {"alice"}),
    (f"{ENT}:department pr", {"alice", "bob"}),
    ("not (manager pr)", {"bob", "carol", "dave"}),
    ('department ne "sales"', {"alice", "carol", "dave"}),
    # groups: EXISTS over team_members
    (f'groups eq "{IDS["eng"]}"', {"alice", "bob"}),
    (f'groups[value eq "{IDS["sales"]}"]', {"bob"}),
    ('groups[display eq "sales team"]', {"bob"}),
    ('groups.display co "ENG"', {"alice", "bob"}),
    ("groups pr", {"alice", "bob"}),
    ("not (groups pr)", {"carol", "dave"}),
    ('groups.type eq "direct"', {"alice", "bob"}),
    (f'groups ne "{IDS["eng"]}"', {"carol", "dave"}),
    (f'groups eq "{IDS["empty"]}"', set()),
    # meta dateTimes (naive UTC columns; Z and offsets accepted)
    ('meta.created gt "2024-01-31T00:00:00Z"', {"bob", "carol"}),
    ('meta.created eq "2024-02-01T00:00:00Z"', {"bob"}),
    ('meta.created le "2024-01-01T00:30:00+01:00"', {"dave"}),
    ('meta.created lt "2024-01-01T00:30:00+01:00"', set()),
    ('meta.lastModified ge "2024-03-01T00:00:00Z"', {"alice", "carol"}),
    ('meta.lastModified lt "2024-02-16T00:00:00.000Z"', {"bob", "dave"}),
    ('meta.created ne "2024-02-01T00:00:00Z"', {"alice", "carol", "dave"}),
    ('meta.resourceType eq "User"', ALL_USERS),
    ("meta pr", ALL_USERS),
    # logic and precedence
    ('userName eq "bob" or userName eq "carol_%x" and active eq false', {"bob"}),
    ('(userName eq "bob" or userName eq "carol_%x") and active eq true', {"carol"}),
    ('not (userName eq "bob" or title pr)', {"carol", "dave"}),
    ("not (not (active eq false))", {"bob"}),
    ('not (title eq "engineer" and active eq true)', {"bob", "carol", "dave"}),
    ('title pr and not (emails[type eq "home" and value ew ".org"])', {"bob"}),
    ('userName eq "bob" or userName eq "dave" or userName eq "dävé" or externalId eq "ext-Alice"',
     {"alice", "bob", "dave"}),
    # schemas (RFC 7644 §3.4.2.2 example): an extension URN matches resources carrying it
    (f'schemas eq "{ENT}"', {"alice", "bob"}),
    (f'schemas eq "{ENT.upper()}"', {"alice", "bob"}),
    (f'schemas ne "{ENT}"', {"carol", "dave"}),
    (f'schemas eq "{CORE}"', ALL_USERS),
    ('schemas eq "urn:example:other"', set()),
]


@pytest.mark.parametrize("text,expected", USER_CASES, ids=[c[0] for c in USER_CASES])
def test_user_filters(store, text, expected):
    assert _query(store, "User", text) == expected


GROUP_CASES = [
    ('displayName eq "engineering"', {"eng"}),
    ('DisplayName Eq "SALES TEAM"', {"sales"}),
    ('displayName co "TEAM"', {"sales"}),
    ('displayName ne "empty"', {"eng", "sales"}),
    ('externalId eq "g-eng"', {"eng"}),
    ("externalId pr", {"eng"}),
    (f'members[value eq "{IDS["alice"]}"]', {"eng"}),
    (f'members eq "{IDS["bob"]}"', {"eng", "sales"}),
    (f'members.value eq "{IDS["carol"]}"', set()),
    ("members pr", {"eng", "sales"}),
    ("not (members pr)", {"empty"}),
    ('members.display eq "ALICE SMITH"', {"eng"}),
    ('members.display eq "bob"', {"eng", "sales"}),
    ('members[type eq "User" and display sw "al"]', {"eng"}),
    (f'members ne "{IDS["alice"]}"', {"sales", "empty"}),
    ('meta.resourceType eq "Group"', {"eng", "sales", "empty"}),
    (f'id eq "{IDS["empty"]}" or displayName sw "eng"', {"eng", "empty"}),
    ('urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Empty"', {"empty"}),
]


@pytest.mark.parametrize("text,expected", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_group_filters(store, text, expected):
    assert _query(store, "Group", text) == expected


INVALID = [
    ("User", 'foo eq "x"', "foo"),
    ("User", 'urn:example:unknown:2.0:User:title eq "x"', "title"),
    ("User", 'password eq "secret"', "password"),
    ("User", 'name eq "x"', "name"),
    ("User", "active gt true", "boolean"),
    ("User", 'active co "t"', "boolean"),
    ("User", 'active eq "yes"', "boolean"),
    ("User", 'emails gt "a"', "emails"),
    ("User", 'addresses eq "x"', "addresses"),
    ("User", 'emails[foo eq "x"]', "foo"),
    ("User", 'title[value eq "x"]', "title"),
    ("User", "title gt null", "null"),
    ("User", 'meta.created gt "yesterday"', "meta.created"),
    ("User", 'meta.created co "2024"', "meta.created"),
    ("User", 'meta.version eq "x"', "meta.version"),
    ("User", 'groups.$ref eq "x"', "$ref"),
    ("User", 'title eq "a\\u0000b"', "NUL"),
    ("Group", 'userName eq "x"', "userName"),
    ("Group", 'members.$ref eq "x"', "$ref"),
]


@pytest.mark.parametrize("resource_type,text,fragment", INVALID, ids=[c[1] for c in INVALID])
def test_invalid_filters(store, resource_type, text, fragment):
    with pytest.raises(InvalidFilter) as caught:
        _query(store, resource_type, text)
    assert fragment.lower() in caught.value.detail.lower()


# ---------------------------------------------------------------- sorting


def _sorted(engine, resource_type: str, path: AttrPath, where: str) -> list[tuple[str, object]]:
    table = tables.users if resource_type == "User" else tables.teams
    dialect = engine.dialect.name
    key = sort_column(resource_type, path, dialect)
    query = (select(table.c.id, key).where(compile_filter(resource_type, parse_filter(where), dialect))
             .order_by(key, table.c.id))
    by_id = {v: k for k, v in IDS.items()}
    with engine.connect() as conn:
        return [(by_id[row[0]], row[1]) for row in conn.execute(query)]


def test_sort_by_user_name_is_case_insensitive(store):
    rows = _sorted(store, "User", AttrPath(None, "userName"), "userName pr")
    assert [name for name, _ in rows] == ["alice", "bob", "carol", "dave"]


def test_sort_by_multi_valued_uses_primary_then_first(store):
    rows = _sorted(store, "User", AttrPath(None, "emails"), "emails pr")
    assert rows == [("alice", "alice@example.com"), ("bob", "bob@work.example.com")]
    rows = _sorted(store, "User", AttrPath(None, "emails", "type"), "emails pr")
    assert dict(rows) == {"alice": "work", "bob": "work"}  # each primary value's type
    rows = _sorted(store, "User", AttrPath(None, "ims"), "ims pr")
    assert rows == [("carol", "carol@xmpp")]


def test_sort_by_json_and_extension_attributes(store):
    rows = _sorted(store, "User", AttrPath(None, "name", "familyName"), "name.familyName pr")
    assert [name for name, _ in rows] == ["bob", "alice"]  # "o'malley" < "smith"
    rows = _sorted(store, "User", AttrPath(ENT, "department"), "department pr")
    assert rows == [("alice", "r&d"), ("bob", "sales")]


def test_sort_by_dates_and_group_display_name(store):
    rows = _sorted(store, "User", AttrPath(None, "meta", "created"), "meta pr")
    assert [name for name, _ in rows] == ["dave", "alice", "bob", "carol"]
    rows = _sorted(store, "Group", AttrPath(None, "displayName"), "displayName pr")
    assert [name for name, _ in rows] == ["empty", "eng", "sales"]


@pytest.mark.parametrize("path", [AttrPath(None, "groups"), AttrPath(None, "name"),
                                  AttrPath(None, "nope"), AttrPath(None, "password")])
def test_sort_rejects_unsortable(path):
    with pytest.raises(InvalidFilter):
        sort_column("User", path, "sqlite")


# ---------------------------------------------------------------- numbers (no such attribute
# exists in the served schemas, so a stand-in definition is resolved for this test only)

LEVEL = AttributeDef(name="level", type=INTEGER)


@pytest.fixture
def level_attribute(monkeypatch):
    real = registry.resolve

    def resolve(resource_type, path, parent=None):
        if parent is None and path.attr.lower() == "level" and path.urn is None:
            return ResolvedAttr(schema=CORE, attr=LEVEL, sub=None, canonical=("level",),
                                json_keys=("level",))
        return real(resource_type, path, parent)

    monkeypatch.setattr(registry, "resolve", resolve)


@pytest.mark.parametrize("text,expected", [
    ("level eq 3", {"alice"}),
    ('level eq "3"', {"alice"}),
    ("level gt 3", {"bob"}),
    ("level ge 3", {"alice", "bob"}),
    ("level lt 10.5", {"alice"}),
    ("level ne 3", {"bob", "carol", "dave"}),
    ("level pr", {"alice", "bob", "carol"}),
])
def test_numeric_attribute(store, level_attribute, text, expected):
    with store.begin() as conn:
        for name, level in (("alice", 3), ("bob", 12.5), ("carol", "7")):
            row = next(u for u in USERS if u["id"] == IDS[name])
            conn.execute(tables.users.update().where(tables.users.c.id == IDS[name])
                         .values(resource={**row["resource"], "level": level}))
    assert _query(store, "User", text) == expected


def test_numeric_attribute_rejects_substring_ops(level_attribute):
    with pytest.raises(InvalidFilter):
        compile_filter("User", parse_filter('level co "3"'), "sqlite")
    with pytest.raises(InvalidFilter):
        compile_filter("User", parse_filter('level eq "three"'), "postgresql")



# ---------------------------------------------------------------- robustness: random filters


_ATTRS = [
    "userName", "externalId", "id", "displayName", "active", "title", "nickName", "name",
    "name.givenName", "emails", "emails.value", "emails.type", "emails.primary", "ims",
    "addresses", "addresses.postalCode", "groups", "groups.display", "groups.type", "members",
    "members.value", "members.display", "meta", "meta.created", "meta.lastModified",
    "meta.resourceType", "meta.version", "schemas", "password", "nope", "manager",
    f"{ENT}:manager.value", f"{ENT}:employeeNumber", f"{CORE}:name.familyName",
]
_SUBS = ["value", "type", "primary", "display", "givenName", "nope", "$ref"]
_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]
_VALUES = ['"x"', '""', '"a_%\\\\*?["', "42", "-1.5", "true", "False", "null", '"True"',
           '"2024-01-01T00:00:00Z"', "bare", '"\\u00e9"', '"bob"']


def _random_filter(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth < 3 and roll < 0.25:
        return f"{_random_filter(rng, depth + 1)} {rng.choice(['and', 'or'])} {_random_filter(rng, depth + 1)}"
    if depth < 3 and roll < 0.35:
        return f"not ({_random_filter(rng, depth + 1)})"
    if roll < 0.5:
        inner = " and ".join(_random_term(rng, rng.choice(_SUBS)) for _ in range(rng.randint(1, 2)))
        return f"{rng.choice(_ATTRS)}[{inner}]"
    return _random_term(rng, rng.choice(_ATTRS))


def _random_term(rng: random.Random, attr: str) -> str:
    op = rng.choice(_OPS)
    return f"{attr} pr" if op == "pr" else f"{attr} {op} {rng.choice(_VALUES)}"


@pytest.mark.parametrize("resource_type", ["User", "Group"])
def test_random_filters_compile_and_run_or_raise_invalid_filter(store, resource_type):
    rng = random.Random(2024 if resource_type == "User" else 2025)
    ran = 0
    for _ in range(300):
        text = _random_filter(rng)
        try:
            _query(store, resource_type, text)
        except InvalidFilter:
            continue
        ran += 1
    assert ran > 20  # the generator produces plenty of valid filters too


# ---------------------------------------------------------------- one meaning: SQL and the in-memory evaluator


def _resources(engine) -> dict[str, tuple[str, dict]]:
    """Every fixture row as the SCIM resource a client sees (columns over the document,
    memberships as values): the evaluator's input."""
    from infra.store.columns import member_display

    out: dict[str, tuple[str, dict]] = {}
    with engine.connect() as conn:
        team_rows = {row.id: row for row in conn.execute(select(tables.teams))}
        links = list(conn.execute(
            select(tables.team_members.c.team_id, tables.team_members.c.user_id, member_display().label("display"))
            .join(tables.users, tables.users.c.id == tables.team_members.c.user_id)))
        for row in conn.execute(select(tables.users)):
            resource = {**row.resource, "schemas": [CORE] + ([ENT] if ENT in row.resource else []), "id": row.id,
                        "userName": row.user_name, "active": row.active,
                        "meta": {"resourceType": "User", "created": row.created_at.isoformat(),
                                 "lastModified": row.updated_at.isoformat()},
                        "groups": [{"value": link.team_id, "display": team_rows[link.team_id].display_name,
                                    "type": "direct"} for link in links if link.user_id == row.id]}
            for key, value in (("externalId", row.external_id), ("displayName", row.display_name)):
                if value is not None:
                    resource[key] = value
            out[row.id] = ("User", resource)
        for row in team_rows.values():
            resource = {**row.resource, "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": row.id,
                        "displayName": row.display_name,
                        "meta": {"resourceType": "Group", "created": row.created_at.isoformat(),
                                 "lastModified": row.updated_at.isoformat()},
                        "members": [{"value": link.user_id, "display": link.display, "type": "User"}
                                    for link in links if link.team_id == row.id]}
            if row.external_id is not None:
                resource["externalId"] = row.external_id
            out[row.id] = ("Group", resource)
    return out


def _evaluated(resources, resource_type: str, text: str) -> set[str]:
    from domain.filter.evaluate import resource_predicate

    test = resource_predicate(resource_type, parse_filter(text))
    return _names(rid for rid, (kind, resource) in resources.items() if kind == resource_type and test(resource))


@pytest.mark.parametrize("resource_type,text,expected",
                         [("User", *case) for case in USER_CASES] + [("Group", *case) for case in GROUP_CASES],
                         ids=[c[0] for c in USER_CASES + GROUP_CASES])
def test_the_in_memory_evaluator_selects_what_sql_selects(store, resource_type, text, expected):
    assert _evaluated(_resources(store), resource_type, text) == expected


@pytest.mark.parametrize("resource_type,text,fragment", INVALID, ids=[c[1] for c in INVALID])
def test_the_in_memory_evaluator_refuses_what_sql_refuses(resource_type, text, fragment):
    from domain.filter.evaluate import resource_predicate

    with pytest.raises(InvalidFilter) as caught:
        resource_predicate(resource_type, parse_filter(text))
    assert fragment.lower() in caught.value.detail.lower()


@pytest.mark.parametrize("resource_type", ["User", "Group"])
def test_random_filters_mean_the_same_in_sql_and_in_memory(store, resource_type):
    from domain.filter.evaluate import resource_predicate

    resources = _resources(store)
    rng = random.Random(77 if resource_type == "User" else 78)
    compared = 0
    for _ in range(400):
        text = _random_filter(rng)
        try:
            in_sql = _query(store, resource_type, text)
        except InvalidFilter:
            with pytest.raises(InvalidFilter):
                resource_predicate(resource_type, parse_filter(text))
            continue
        assert _evaluated(resources, resource_type, text) == in_sql, text
        compared += 1
    assert compared > 20


# ---------------------------------------------------------------- PATCH remove members[...]: the same compiler


MEMBER_CASES = [
    (f'value eq "{IDS["alice"]}"', {"alice"}),
    (f'value eq "{IDS["alice"].upper()}"', set()),  # ids are case-exact
    (f'value co "{IDS["alice"][1:].upper()}"', set()),  # (SQLite's LIKE would ignore the case)
    (f'value sw "{IDS["bob"][:8]}"', {"bob"}),
    (f'value ne "{IDS["alice"]}"', {"bob"}),
    ('display eq "ALICE SMITH"', {"alice"}),  # case-insensitive
    ('display eq "bob"', {"bob"}),  # no displayName: the userName
    ('display sw "AL"', {"alice"}),
    ('display co "o"', {"bob"}),
    ("display pr", {"alice", "bob"}),
    ('type eq "user"', {"alice", "bob"}),
    ('type eq "Group"', set()),
    ('not (display co "smith")', {"bob"}),
    (f'value eq "{IDS["carol"]}" or display ew "SMITH"', {"alice"}),
    ('type eq "User" and not (value eq null)', {"alice", "bob"}),
    ("value eq null", set()),
    ('display gt "b"', {"bob"}),
]


def _remove_matching(engine, text: str) -> set[str]:
    """The members of "eng" that ``remove members[text]`` removes (rolled back afterwards)."""
    from domain.filter.parser import parse_patch_path
    from infra.store.repositories import SqlTeams

    flt = parse_patch_path(f"members[{text}]").value_filter
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            return _names(SqlTeams(conn).remove_members_matching(ORG, IDS["eng"], flt))
        finally:
            transaction.rollback()


@pytest.mark.parametrize("text,expected", MEMBER_CASES, ids=[c[0] for c in MEMBER_CASES])
def test_remove_members_by_filter_compiles_with_the_listing_compiler(store, text, expected):
    from domain.filter.evaluate import value_predicate

    assert _remove_matching(store, text) == expected
    # … and means what the in-memory evaluator says of the members as a client reads them
    members = registry.resolve("Group", AttrPath(None, "members"))
    test = value_predicate("Group", members, parse_filter(text))
    listed = _resources(store)[IDS["eng"]][1]["members"]
    assert _names(m["value"] for m in listed if test(m)) == expected
    # … and a listing's members[...] finds the Team by the same members
    assert ("eng" in _query(store, "Group", f"members[{text}]")) == bool(expected)


@pytest.mark.parametrize("text", ['$ref pr', '$ref eq "x"', 'nope eq "x"', "type gt null"])
def test_remove_members_by_an_unsupported_filter_is_invalid_filter(store, text):
    with pytest.raises(InvalidFilter):
        _remove_matching(store, text)


def test_a_member_display_of_empty_strings_falls_back_as_the_rendered_members_do(store):
    """A member's display is the one the IdP sent, else the user's displayName, else its
    userName; an empty string counts as none, in rendering and in filters alike."""
    from infra.store.repositories import SqlTeams

    with store.connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(tables.users.update().where(tables.users.c.id == IDS["alice"]).values(display_name=""))
            conn.execute(tables.team_members.update().where(tables.team_members.c.user_id == IDS["bob"])
                         .values(display=""))
            shown = {m["value"]: m["display"] for m in SqlTeams(conn).members_of(IDS["eng"])}
            assert shown == {IDS["alice"]: "Alice.Smith@Example.com", IDS["bob"]: "bob"}
            condition = compile_filter("Group", parse_filter('members.display eq "alice.smith@example.com"'),
                                       store.dialect.name)
            found = conn.execute(select(tables.teams.c.id).where(tables.teams.c.org_id == ORG, condition)).scalars()
            assert _names(found) == {"eng"}
        finally:
            transaction.rollback()


# ---------------------------------------------------------------- one table from attribute to column


def test_the_column_table_is_what_the_tables_hold_and_the_domain_bounds():
    from domain.limits import MAX_INDEXED_STRING
    from domain.resource.document import INDEXED
    from infra.store.columns import COLUMNS, TABLES

    for resource_type, mapped in COLUMNS.items():
        table = TABLES[resource_type]
        for attribute, where in mapped.items():
            assert where.column in table.c and (where.key is None or where.key in table.c), attribute
        bounded = {name for (name, *rest), where in mapped.items()
                   if not rest and getattr(table.c[where.column].type, "length", None) == MAX_INDEXED_STRING}
        assert bounded == set(INDEXED[resource_type])


# -- lookup templates: ``attr eq "value"`` compiled once per attribute ----------------------------

LOOKUPS = {
    "User": ["userName", "externalId", "id", "displayName", "name.familyName", "name.givenName", "title",
             "nickName", "emails", "emails.value", "emails.type", "phoneNumbers.value", "ims.value", "active",
             "meta.created", "meta.lastModified", "meta.resourceType", "groups", "groups.value",
             f"{ENT}:employeeNumber", f"{ENT}:department", f"{ENT}:manager.value", f"{CORE}:userName"],
    "Group": ["displayName", "externalId", "id", "members", "members.value", "meta.resourceType"],
}
VALUES = ["Alice.Smith@Example.com", "alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM", "bob", "BOB",
          "ext-Alice", "EXT-ALICE", "jyoung", "Alice Smith", "Smith", "smith", "Engineer", "", "alice@example.com",
          "ALICE@example.com", "work", "+1 555 0100", "carol@xmpp", "true", "True", "false", "00123", "42", "R&D",
          "sales", "Dävé", "DÄVÉ", "Engineering", "engineering", "g-eng", "User", "Group", "user",
          "2024-01-10T10:00:00Z", "nobody", *IDS.values(), IDS["alice"].upper()]


@pytest.mark.parametrize("resource_type", ["User", "Group"])
def test_a_lookup_template_selects_exactly_what_its_filter_does(store, resource_type):
    from infra.store.filter_sql.templates import lookup_template

    table = tables.users if resource_type == "User" else tables.teams
    templated = 0
    for path in LOOKUPS[resource_type]:
        for value in VALUES:
            text = f'{path} eq "{value}"'
            try:
                expected = _query(store, resource_type, text)
            except InvalidFilter:
                expected = None
            template = lookup_template(resource_type, parse_filter(text), store.dialect.name)
            if template is None:
                continue
            templated += 1
            assert expected is not None, text
            with store.connect() as conn:
                rows = conn.execute(select(table.c.id).where(table.c.org_id == ORG, template.where),
                                    template.params(value)).scalars()
                assert _names(rows) == expected, text
    assert templated >= len(VALUES) * 3  # at least userName/externalId/id (or displayName/…) had templates
