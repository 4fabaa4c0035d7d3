"""The SCIM filter and PATCH path parser: RFC 7644 §3.4.2.2 and §3.5.2 examples, every operator,
precedence, value paths, URN paths, the dialects IdPs send, and malformed input."""

from __future__ import annotations

import random

import pytest

from domain.errors import InvalidFilter, InvalidPath
from domain.filter.ast import (
    And,
    AttrPath,
    Compare,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)
from domain.filter.parser import MAX_DEPTH, parse_filter, parse_patch_path
from domain.limits import MAX_NUMBER_LENGTH

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def P(attr: str, sub: str | None = None, urn: str | None = None) -> AttrPath:
    return AttrPath(urn, attr, sub)


def C(path: AttrPath | str, op: str, value) -> Compare:
    return Compare(P(path) if isinstance(path, str) else path, op, value)


# ------------------------------------------------------------------ RFC 7644 §3.4.2.2 examples

RFC_EXAMPLES = [
    ('userName eq "bjensen"', C("userName", "eq", "bjensen")),
    ('name.familyName co "O\'Malley"', C(P("name", "familyName"), "co", "O'Malley")),
    ('userName sw "J"', C("userName", "sw", "J")),
    (f'{CORE}:userName sw "J"', C(P("userName", urn=CORE), "sw", "J")),
    ("title pr", Present(P("title"))),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"',
     C(P("meta", "lastModified"), "gt", "2011-05-13T04:42:34Z")),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"',
     C(P("meta", "lastModified"), "ge", "2011-05-13T04:42:34Z")),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"',
     C(P("meta", "lastModified"), "lt", "2011-05-13T04:42:34Z")),
    ('meta.lastModified le "2011-05-13T04:42:34Z"',
     C(P("meta", "lastModified"), "le", "2011-05-13T04:42:34Z")),
    ('title pr and userType eq "Employee"',
     And(Present(P("title")), C("userType", "eq", "Employee"))),
    ('title pr or userType eq "Intern"',
     Or(Present(P("title")), C("userType", "eq", "Intern"))),
    (f'schemas eq "{ENT}"', C("schemas", "eq", ENT)),
    ('userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
     And(C("userType", "eq", "Employee"),
         Or(C("emails", "co", "example.com"), C(P("emails", "value"), "co", "example.org")))),
    ('userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
     And(C("userType", "ne", "Employee"),
         Not(Or(C("emails", "co", "example.com"), C(P("emails", "value"), "co", "example.org"))))),
    ('userType eq "Employee" and (emails.type eq "work")',
     And(C("userType", "eq", "Employee"), C(P("emails", "type"), "eq", "work"))),
    ('userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
     And(C("userType", "eq", "Employee"),
         ValuePath(P("emails"), And(C("type", "eq", "work"), C("value", "co", "@example.com"))))),
    ('emails[type eq "work" and value co "@example.com"] or '
     'ims[type eq "xmpp" and value co "@foo.com"]',
     Or(ValuePath(P("emails"), And(C("type", "eq", "work"), C("value", "co", "@example.com"))),
        ValuePath(P("ims"), And(C("type", "eq", "xmpp"), C("value", "co", "@foo.com"))))),
    # §3.4.2.2 on case: both of these are the same filter
    ('userName Eq "john"', C("userName", "eq", "john")),
    ('Username eq "john"', C("Username", "eq", "john")),
    # §3.4.3 (POST .search) example
    ('displayName sw "smith"', C("displayName", "sw", "smith")),
]

OPERATORS = [
    (f'userName {op} "x"', C("userName", op, "x"))
    for op in ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
] + [
    (f'userName {op.upper()} "x"', C("userName", op, "x"))
    for op in ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")
] + [
    ("userName PR", Present(P("userName"))),
]

VALUES = [
    ('a eq "plain"', C("a", "eq", "plain")),
    (r'a eq "quote \" backslash \\ slash \/ tab \t nl \n"', C("a", "eq", 'quote " backslash \\ slash / tab \t nl \n')),
    (r'a eq "\u00e9\ud83d\ude00"', C("a", "eq", "é😀")),
    ('a eq ""', C("a", "eq", "")),
    ('a eq "and or not ( ) [ ]"', C("a", "eq", "and or not ( ) [ ]")),
    ("a eq 42", C("a", "eq", 42)),
    ("a eq -7", C("a", "eq", -7)),
    ("a eq 0", C("a", "eq", 0)),
    ("a eq 1.5", C("a", "eq", 1.5)),
    ("a eq 2e3", C("a", "eq", 2000.0)),
    ("a eq -1.25E-2", C("a", "eq", -0.0125)),
    ("a eq true", C("a", "eq", True)),
    ("a eq false", C("a", "eq", False)),
    ("a eq null", C("a", "eq", None)),
    # ABNF literals are case-insensitive
    ("active eq True", C("active", "eq", True)),
    ("active eq FALSE", C("active", "eq", False)),
    ("manager eq Null", C("manager", "eq", None)),
    # unquoted bare words (Entra): strings; not-quite-JSON numbers stay strings
    ("externalId eq jyoung", C("externalId", "eq", "jyoung")),
    ("externalId eq jyoung@contoso.com", C("externalId", "eq", "jyoung@contoso.com")),
    ("externalId eq 0a21f0f2-8d2a-4f8e", C("externalId", "eq", "0a21f0f2-8d2a-4f8e")),
    ("employeeNumber eq 00123", C("employeeNumber", "eq", "00123")),
    ("a eq 1.", C("a", "eq", "1.")),
    ("a eq truex", C("a", "eq", "truex")),
    ("a eq 1e999", C("a", "eq", "1e999")),
    ("(meta.resourceType eq User) or (meta.resourceType eq Group)",
     Or(C(P("meta", "resourceType"), "eq", "User"), C(P("meta", "resourceType"), "eq", "Group"))),
    ('members[value eq abc]', ValuePath(P("members"), C("value", "eq", "abc"))),
]

PRECEDENCE = [
    ("a pr or b pr and c pr", Or(Present(P("a")), And(Present(P("b")), Present(P("c"))))),
    ("a pr and b pr or c pr", Or(And(Present(P("a")), Present(P("b"))), Present(P("c")))),
    ("(a pr or b pr) and c pr", And(Or(Present(P("a")), Present(P("b"))), Present(P("c")))),
    ("a pr and b pr and c pr", And(And(Present(P("a")), Present(P("b"))), Present(P("c")))),
    ("a pr or b pr or c pr", Or(Or(Present(P("a")), Present(P("b"))), Present(P("c")))),
    ("not (a pr) and b pr", And(Not(Present(P("a"))), Present(P("b")))),
    ("not (a pr and b pr)", Not(And(Present(P("a")), Present(P("b"))))),
    ("not (a pr) or not (b pr) and c pr",
     Or(Not(Present(P("a"))), And(Not(Present(P("b"))), Present(P("c"))))),
    ("not (not (a pr))", Not(Not(Present(P("a"))))),
    ("NOT (a pr) AND b pr OR c pr", Or(And(Not(Present(P("a"))), Present(P("b"))), Present(P("c")))),
    ("not(a pr)", Not(Present(P("a")))),
    ("((a pr))", Present(P("a"))),
    ("(((a pr) or (b pr)) and ((c pr)))",
     And(Or(Present(P("a")), Present(P("b"))), Present(P("c")))),
    ("a pr and (b pr or (c pr and (d pr or e pr)))",
     And(Present(P("a")), Or(Present(P("b")), And(Present(P("c")), Or(Present(P("d")), Present(P("e"))))))),
]

PATHS = [
    ("name.givenName pr", Present(P("name", "givenName"))),
    (f"{CORE}:name.givenName pr", Present(P("name", "givenName", CORE))),
    (f'{ENT}:employeeNumber eq "701984"', C(P("employeeNumber", urn=ENT), "eq", "701984")),
    (f'{ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
     C(P("manager", "value", ENT), "eq", "26118915-6090-4610-87e4-49d8ca9f808d")),
    (f'{ENT}:manager eq "x"', C(P("manager", urn=ENT), "eq", "x")),
    ('members.$ref eq "x"', C(P("members", "$ref"), "eq", "x")),
    ('x-custom_attr2 eq "x"', C("x-custom_attr2", "eq", "x")),
    ('urn:example:custom:1.0:Ext:field_1 eq "x"', C(P("field_1", urn="urn:example:custom:1.0:Ext"), "eq", "x")),
]

VALUE_PATHS = [
    ('emails[type eq "work"]', ValuePath(P("emails"), C("type", "eq", "work"))),
    ('emails[type eq "work"].value eq "x@example.com"',
     ValuePath(P("emails"), And(C("type", "eq", "work"), C("value", "eq", "x@example.com")))),
    ('emails[type eq "work"].value pr',
     ValuePath(P("emails"), And(C("type", "eq", "work"), Present(P("value"))))),
    ('emails[not (type eq "work")]', ValuePath(P("emails"), Not(C("type", "eq", "work")))),
    ('emails[type eq "work" or (type eq "home" and primary eq true)]',
     ValuePath(P("emails"), Or(C("type", "eq", "work"),
                               And(C("type", "eq", "home"), C("primary", "eq", True))))),
    ('emails[ type eq "work" ]', ValuePath(P("emails"), C("type", "eq", "work"))),
    ('not (emails[type eq "work"])', Not(ValuePath(P("emails"), C("type", "eq", "work")))),
    ('emails[type eq "work"] and userName eq "x"',
     And(ValuePath(P("emails"), C("type", "eq", "work")), C("userName", "eq", "x"))),
    (f'{CORE}:emails[type eq "work"]', ValuePath(P("emails", urn=CORE), C("type", "eq", "work"))),
    ('EMAILS[TYPE EQ "work"].VALUE EW "@x.com"',
     ValuePath(P("EMAILS"), And(C("TYPE", "eq", "work"), C("VALUE", "ew", "@x.com")))),
]

WHITESPACE = [
    ('userName   eq    "x"', C("userName", "eq", "x")),
    ('  userName eq "x"  ', C("userName", "eq", "x")),
    ('userName\teq\n"x"', C("userName", "eq", "x")),
    ('userName eq"x"', C("userName", "eq", "x")),
    ('( userName eq "x" )', C("userName", "eq", "x")),
    ('a pr   and\t\tb pr', And(Present(P("a")), Present(P("b")))),
    ('username Eq "bjensen"', C("username", "eq", "bjensen")),  # PingOne's template
]

VALID = RFC_EXAMPLES + OPERATORS + VALUES + PRECEDENCE + PATHS + VALUE_PATHS + WHITESPACE


@pytest.mark.parametrize("text,expected", VALID, ids=[c[0] for c in VALID])
def test_parse_filter(text, expected):
    assert parse_filter(text) == expected


# ------------------------------------------------------------------ malformed filters

MALFORMED = [
    ("", "empty"),
    ("   ", "empty"),
    ("userName", "expected an operator"),
    ("userName eq", "expected a value"),
    ('userName "x"', "expected an operator"),
    ('userName xx "x"', "'xx'"),
    ('userName eq "x', "unterminated"),
    ('userName eq "x\\"', "unterminated"),
    (r'userName eq "\q"', "invalid string"),
    (r'userName eq "\u12"', "invalid string"),
    (r'userName eq "\ud800"', "surrogate"),
    ('userName eq "x" and', "end of input"),
    ('userName eq "x" or', "end of input"),
    ('userName eq "x" userName eq "y"', '"and", "or" or end of input'),
    ('userName eq "x" xor title pr', "'xor'"),
    ("(userName pr", '")"'),
    ("userName pr)", "')'"),
    ("()", "')'"),
    ("((a pr)", '")"'),
    ("not userName pr", '"(" after "not"'),
    ("not", '"(" after "not"'),
    ("not ()", "')'"),
    ('emails[type eq "work"', '"]"'),
    ('emails type eq "work"]', "expected an operator"),
    ("emails[]", "']'"),
    ('emails[type eq "work"]]', "']'"),
    ('emails[type[value eq "x"] eq "y"]', "cannot nest"),
    ('emails[type eq "work"].', "sub-attribute"),
    ('emails[type eq "work"].value', "expected an operator"),
    ('emails[type eq "work"].1x eq "y"', "sub-attribute"),
    ('1userName eq "x"', "attribute path"),
    ('user name eq "x"', "expected an operator"),
    ('name..givenName eq "x"', "attribute path"),
    ('name.givenName.x eq "x"', "attribute path"),
    ('name. eq "x"', "attribute path"),
    ('.name eq "x"', "attribute path"),
    ('urn:ietf:params:scim:schemas:core:2.0:User: eq "x"', "attribute path"),
    ('notaurn:userName eq "x"', "urn"),
    (':userName eq "x"', "attribute path"),
    ('"userName" eq "x"', "attribute path"),
    ('eq "x"', "expected an operator"),
    ('userName eq and', "expected a value"),
    ('userName eq or title pr', "expected a value"),
    ("userName eq (", "expected a value"),
    ("userName eq [", "expected a value"),
    ("[", "attribute path"),
    ("and", "expected an operator"),
    ('userName eq "x" and ()', "')'"),
    ("(" * (MAX_DEPTH + 1) + "a pr" + ")" * (MAX_DEPTH + 1), "nested"),
    (" or ".join(["a pr"] * 501), "more than 500"),
    ('a eq "' + "x" * 10_001 + '"', "too long"),
]


@pytest.mark.parametrize("text,fragment", MALFORMED, ids=[c[0][:60] for c in MALFORMED])
def test_malformed_filters_raise_invalid_filter(text, fragment):
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text)
    assert caught.value.scim_type == "invalidFilter"
    assert fragment.lower() in caught.value.detail.lower()


@pytest.mark.parametrize("text,position", [
    ('userName xx "x"', 9),
    ('userName eq "x" and title', 25),
    ("(a pr", 5),
    ('emails[type eq "work"', 21),
])
def test_errors_name_the_position(text, position):
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text)
    assert f"position {position}" in caught.value.detail


def test_non_string_input_is_invalid():
    with pytest.raises(InvalidFilter):
        parse_filter(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidPath):
        parse_patch_path(42)  # type: ignore[arg-type]


def test_deep_but_allowed_nesting_parses():
    text = "(" * MAX_DEPTH + "a pr" + ")" * MAX_DEPTH
    assert parse_filter(text) == Present(P("a"))


# ------------------------------------------------------------------ PATCH paths (RFC 7644 §3.5.2)

MEMBER = "2819c223-7f76-453a-919d-413861904646"

PATCH_PATHS = [
    ("members", PatchPath(P("members"))),
    ("name.familyName", PatchPath(P("name", "familyName"))),
    ('addresses[type eq "work"]', PatchPath(P("addresses"), C("type", "eq", "work"))),
    (f'members[value eq "{MEMBER}"]', PatchPath(P("members"), C("value", "eq", MEMBER))),
    (f'members[value eq "{MEMBER}"].displayName',
     PatchPath(P("members"), C("value", "eq", MEMBER), "displayName")),
    ('emails[type eq "work" and value ew "example.com"]',
     PatchPath(P("emails"), And(C("type", "eq", "work"), C("value", "ew", "example.com")))),
    ('addresses[type eq "work"].streetAddress',
     PatchPath(P("addresses"), C("type", "eq", "work"), "streetAddress")),
    # what Entra sends
    ('emails[type eq "work"].value', PatchPath(P("emails"), C("type", "eq", "work"), "value")),
    ('phoneNumbers[type eq "mobile"].value',
     PatchPath(P("phoneNumbers"), C("type", "eq", "mobile"), "value")),
    ('addresses[type eq "work"].postalCode',
     PatchPath(P("addresses"), C("type", "eq", "work"), "postalCode")),
    ("active", PatchPath(P("active"))),
    ("userName", PatchPath(P("userName"))),
    ("name.givenName", PatchPath(P("name", "givenName"))),
    (f"{ENT}:manager", PatchPath(P("manager", urn=ENT))),
    (f"{ENT}:employeeNumber", PatchPath(P("employeeNumber", urn=ENT))),
    (f"{ENT}:manager.value", PatchPath(P("manager", "value", ENT))),
    (f"{CORE}:name.givenName", PatchPath(P("name", "givenName", CORE))),
    (f'{CORE}:emails[type eq "work"].value',
     PatchPath(P("emails", urn=CORE), C("type", "eq", "work"), "value")),
    ('members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]',
     PatchPath(P("members"), C("value", "eq", "7f4bc1a3-285e-48ae-8202-5accb43efb0e"))),
    ('members[value eq 7f4bc1a3]', PatchPath(P("members"), C("value", "eq", "7f4bc1a3"))),
    ('Members[Value Eq "x"]', PatchPath(P("Members"), C("Value", "eq", "x"))),
    ("  members  ", PatchPath(P("members"))),
    ('emails[not (type eq "work")]', PatchPath(P("emails"), Not(C("type", "eq", "work")))),
    ("members.$ref", PatchPath(P("members", "$ref"))),
]


@pytest.mark.parametrize("text,expected", PATCH_PATHS, ids=[c[0] for c in PATCH_PATHS])
def test_parse_patch_path(text, expected):
    assert parse_patch_path(text) == expected


MALFORMED_PATHS = [
    "",
    "   ",
    "members[",
    "members[]",
    'members[value eq "x"',
    'members[value eq "x"]]',
    'members[value eq "x"].',
    'members[value eq "x"] .displayName x',
    'members[value eq "x"]displayName',
    'members[value eq "x"].display.name',
    'members[value eq "x"].1st',
    "name.familyName.x",
    "name..familyName",
    "members value",
    'members eq "x"',
    "members pr",
    '"members"',
    "(members)",
    "1members",
    'members[value eq "x"][type eq "y"]',
    'members[value[x eq "y"] eq "z"]',
    'members[value eq]',
    'members[value eq "unterminated]',
    "urn:ietf:params:scim:schemas:core:2.0:User:",
    "notaurn:members",
    "members]",
]


@pytest.mark.parametrize("text", MALFORMED_PATHS)
def test_malformed_patch_paths_raise_invalid_path(text):
    with pytest.raises(InvalidPath) as caught:
        parse_patch_path(text)
    assert caught.value.scim_type == "invalidPath"
    assert caught.value.detail


# ------------------------------------------------------------------ fuzzing

_PIECES = [
    "userName", "emails", "name.givenName", f"{ENT}:manager", "urn:", ":", ".", "eq", "Ne", "co",
    "pr", "gt", "and", "OR", "not", "(", ")", "[", "]", '"x"', '"', "\\", '"\\u12"', "42", "-1.5e3",
    "true", "null", " ", "  ", "\t", "].value", "$ref", "é", "\x00", "\ud800", "[]", "1e999",
]


def _garbage(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(_PIECES) + rng.choice(["", " "]) for _ in range(rng.randint(0, 12)))
    alphabet = 'abcXYZ019 ."\\()[]:$-_\t\n\u00e9\ud800\x00'
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(3)
        index = rng.randrange(len(chars) + 1)
        if action == 0 and chars:
            del chars[min(index, len(chars) - 1)]
        elif action == 1:
            chars.insert(index, rng.choice('()[]" .:\\aq1'))
        elif chars:
            other = rng.randrange(len(chars))
            index = min(index, len(chars) - 1)
            chars[index], chars[other] = chars[other], chars[index]
    return "".join(chars)


def test_fuzz_filters_only_ever_raise_invalid_filter():
    rng = random.Random(7644)
    seeds = [text for text, _ in VALID]
    for _ in range(4000):
        text = _garbage(rng) if rng.random() < 0.5 else _mutate(rng, rng.choice(seeds))
        try:
            parse_filter(text)
        except InvalidFilter:
            pass


def test_fuzz_patch_paths_only_ever_raise_invalid_path():
    rng = random.Random(3552)
    seeds = [text for text, _ in PATCH_PATHS]
    for _ in range(4000):
        text = _garbage(rng) if rng.random() < 0.5 else _mutate(rng, rng.choice(seeds))
        try:
            parse_patch_path(text)
        except InvalidPath:
            pass


# ------------------------------------------------------------------ numbers past any SCIM value


@pytest.mark.parametrize("digits", [MAX_NUMBER_LENGTH + 1, 4301, 9000])
def test_overlong_numbers_are_invalid_filter_and_invalid_path(digits):
    number = "1" * digits
    with pytest.raises(InvalidFilter, match="number"):
        parse_filter(f"title eq {number}")
    with pytest.raises(InvalidFilter, match="number"):
        parse_filter(f"emails[value gt -{number}]")
    with pytest.raises(InvalidPath, match="number"):
        parse_patch_path(f"emails[value eq {number}].type")
    with pytest.raises(InvalidFilter):
        parse_filter(f"title eq 1.{number}")


def test_numbers_up_to_the_bound_keep_their_json_meaning():
    assert parse_filter("title eq " + "9" * MAX_NUMBER_LENGTH) == C("title", "eq", int("9" * MAX_NUMBER_LENGTH))
    assert parse_filter("title eq -1.5e3") == C("title", "eq", -1500.0)
    assert parse_filter('title eq "' + "1" * 5000 + '"') == C("title", "eq", "1" * 5000)
