"""Passwords never leave the ingress: every spelling the PATCH parser and the patcher (or
``normalize``) would apply as ``password`` is dropped by the ingress, and every spelling they
would refuse is refused at the ingress, before anything is queued."""

from __future__ import annotations

import copy
import random

import pytest

from domain.errors import InvalidPath, InvalidValue, NoTarget, ScimError
from domain.patch import PATCH_OP_SCHEMA, apply_patch, parse_patch_request, prepare_patch
from domain.resource import normalize
from domain.schema.registry import resolve
from domain.filter.ast import AttrPath
from domain.secrets import is_password, password_given
from tests.unit.test_patch import _FUZZ_KEYS, _FUZZ_PATHS, _random_value, base_group, base_user

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MARKER = "pw-marker-8c1f0e"


def body(*operations: dict) -> dict:
    return {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}


# ---------------------------------------------------------------------------------------------
# The predicate
# ---------------------------------------------------------------------------------------------


def test_is_password_is_the_core_attribute_whatever_its_spelling():
    for spelling in ("password", "Password", "PASSWORD"):
        assert is_password("User", resolve("User", AttrPath(None, spelling)))
        assert is_password("User", resolve("User", AttrPath(CORE, spelling)))
        assert is_password("User", resolve("User", AttrPath(CORE.upper(), spelling)))
    assert not is_password("User", resolve("User", AttrPath(None, "userName")))
    assert not is_password("User", None)
    assert not is_password("Group", resolve("Group", AttrPath(None, "displayName")))


def test_password_given_checks_the_value_without_quoting_it():
    assert password_given("replace", MARKER) is True
    assert password_given("add", "") is False
    assert password_given("replace", None) is False
    assert password_given("remove", MARKER) is False
    with pytest.raises(InvalidValue) as refused:
        password_given("replace", {"x": MARKER})
    assert MARKER not in str(refused.value.detail)


# ---------------------------------------------------------------------------------------------
# PATCH: every spelling that sets the password is dropped
# ---------------------------------------------------------------------------------------------

PASSWORD_PATHS = [
    "password", "Password", "PASSWORD", "  password  ",
    f"{CORE}:password", f"{CORE.upper()}:PassWord", f"{CORE.lower()}:password",
    'password[value eq "x"]', 'password[value eq "x"].value', f'{CORE}:password[value pr]',
]
PASSWORD_KEYS = [
    "password", "Password", "PASSWORD", "password.", f"{CORE}:password", f"{CORE.upper()}:PASSWORD",
    f"{CORE}:password.", 'password[value eq "x"]', f'{CORE}:Password[value pr]',
]
# How the members of an operation may be spelled: the parser reads them in any case.
MEMBER_CASES = [("op", "path", "value"), ("Op", "Path", "Value"), ("OP", "PATH", "VALUE")]
OPERATIONS_CASES = ["Operations", "operations", "OPERATIONS"]


def _operation(names, op, path=None, value=MARKER):
    op_key, path_key, value_key = names
    out = {op_key: op, value_key: value}
    if path is not None:
        out[path_key] = path
    return out


@pytest.mark.parametrize("path", PASSWORD_PATHS)
@pytest.mark.parametrize("names", MEMBER_CASES)
@pytest.mark.parametrize("op", ["add", "replace", "Replace", "ADD"])
def test_patch_password_path_is_dropped(path, names, op):
    raw = body(_operation(names, op, path), {"op": "replace", "path": "title", "value": "Boss"})
    prepared = prepare_patch("User", raw)
    assert prepared.password_supplied is True
    sent = prepared.body()
    assert MARKER not in repr(sent)
    assert sent == body({"op": "replace", "path": "title", "value": "Boss"})


@pytest.mark.parametrize("key", PASSWORD_KEYS)
@pytest.mark.parametrize("names", MEMBER_CASES)
def test_patch_password_key_of_a_pathless_value_is_dropped(key, names):
    raw = body(_operation(names, "replace", value={"active": False, key: MARKER, "title": "Boss"}))
    prepared = prepare_patch("User", raw)
    assert prepared.password_supplied is True
    sent = prepared.body()
    assert MARKER not in repr(sent)
    assert sent["Operations"] == [{"op": "replace", "value": {"active": False, "title": "Boss"}}]
    assert MARKER in repr(raw)  # the caller's body is left alone


@pytest.mark.parametrize("operations_key", OPERATIONS_CASES)
def test_password_only_patch_sends_no_operation(operations_key):
    """Okta's password sync: nothing but the password; the command travels without operations."""
    for operation in (
        {"op": "replace", "value": {"password": MARKER}},
        {"op": "replace", "value": {"schemas": [CORE], "Password": MARKER}},
        {"op": "replace", "path": "password", "value": MARKER},
        {"Op": "Add", "Path": f"{CORE}:password", "Value": MARKER},
    ):
        prepared = prepare_patch("User", {operations_key: [operation]})
        assert prepared.operations == [] and prepared.password_supplied is True
        assert prepared.body() == {"schemas": [PATCH_OP_SCHEMA], "Operations": []}


def test_every_spelling_at_once():
    raw = body(
        *[{"op": "add", "path": path, "value": MARKER} for path in PASSWORD_PATHS],
        {"op": "replace", "value": {key: MARKER for key in PASSWORD_KEYS}},
        {"op": "replace", "value": {"displayName": "Ada", **{key: MARKER for key in PASSWORD_KEYS}}},
    )
    prepared = prepare_patch("User", raw)
    assert prepared.password_supplied is True
    assert MARKER not in repr(prepared.body()) and MARKER not in repr(prepared.operations)
    assert prepared.body()["Operations"] == [{"op": "replace", "value": {"displayName": "Ada"}}]


def test_removing_the_password_is_dropped_and_supplies_none():
    prepared = prepare_patch("User", body({"op": "remove", "path": "password", "value": MARKER},
                                          {"op": "remove", "path": "title"}))
    assert prepared.password_supplied is False
    assert prepared.body()["Operations"] == [{"op": "remove", "path": "title"}]


def test_an_empty_password_is_dropped_and_supplies_none():
    prepared = prepare_patch("User", body({"op": "replace", "path": "password", "value": ""}))
    assert prepared.operations == [] and prepared.password_supplied is False


def test_only_what_the_parser_reads_travels():
    """Members the parser does not read (a second spelling of ``value``, unknown members of
    an operation or of the body) never reach the queue."""
    raw = {
        "schemas": [PATCH_OP_SCHEMA],
        "password": MARKER,
        "Operations": [
            {"op": "replace", "path": "title", "value": "Boss", "Value": MARKER, "password": MARKER},
            {"op": "add", "path": "nickName", "value": "Ada", "secret": {"password": MARKER}},
        ],
    }
    sent = prepare_patch("User", raw).body()
    assert MARKER not in repr(sent)
    assert sent == body({"op": "replace", "path": "title", "value": "Boss"},
                        {"op": "add", "path": "nickName", "value": "Ada"})


def test_extension_objects_are_kept_as_sent():
    raw = body({"op": "replace", "value": {ENT: {"department": "R&D"}, "title": "Boss", "password": MARKER}},
               {"op": "replace", "path": ENT, "value": {"costCenter": "42"}},
               {"op": "remove", "path": ENT})
    sent = prepare_patch("User", raw).body()
    assert sent["Operations"] == [
        {"op": "replace", "value": {ENT: {"department": "R&D"}, "title": "Boss"}},
        {"op": "replace", "path": ENT, "value": {"costCenter": "42"}},
        {"op": "remove", "path": ENT},
    ]


def test_the_worker_parses_what_travels_as_the_ingress_did():
    raw = body({"op": "Replace", "path": " name.givenName ", "value": "Ada"},
               {"op": "add", "value": {"emails[type eq \"work\"].value": "a@x", "password": MARKER}},
               {"op": "remove", "path": "nickName"})
    prepared = prepare_patch("User", raw)
    assert parse_patch_request(prepared.body()) == prepared.operations


# ---------------------------------------------------------------------------------------------
# PATCH: spellings the patcher refuses are refused at the ingress (nothing queued)
# ---------------------------------------------------------------------------------------------

REFUSED = [
    ("User", {"op": "replace", "path": CORE, "value": {"password": MARKER}}, InvalidPath),
    ("User", {"op": "replace", "path": CORE.upper(), "value": {"Password": MARKER}}, InvalidPath),
    ("User", {"op": "replace", "value": {CORE: {"password": MARKER}}}, InvalidValue),
    ("User", {"op": "replace", "value": {CORE.lower(): {"PASSWORD": MARKER}, "title": "x"}}, InvalidValue),
    ("User", {"op": "replace", "value": {ENT: {"password": MARKER}}}, InvalidValue),
    ("User", {"op": "replace", "path": ENT, "value": {"password": MARKER}}, InvalidValue),
    ("User", {"op": "replace", "path": f"{ENT}:password", "value": MARKER}, InvalidPath),
    ("User", {"op": "replace", "value": {f"{ENT}:password": MARKER}}, InvalidValue),
    ("User", {"op": "replace", "path": "password.value", "value": MARKER}, InvalidPath),
    ("User", {"op": "replace", "value": {"password.value": MARKER}}, InvalidValue),
    ("User", {"op": "replace", "value": {" password": MARKER}}, InvalidValue),
    ("User", {"op": "replace", "value": {"urn:x:password": MARKER}}, InvalidValue),
    ("User", {"op": "replace", "path": "password", "value": {"value": MARKER}}, InvalidValue),
    ("User", {"op": "replace", "path": "password", "value": [MARKER]}, InvalidValue),
    ("User", {"op": "replace", "value": {"password": {"password": MARKER}}}, InvalidValue),
    ("User", {"op": "replace", "value": MARKER}, InvalidValue),
    ("Group", {"op": "replace", "path": "password", "value": MARKER}, InvalidPath),
    ("Group", {"op": "replace", "path": f"{GROUP}:password", "value": MARKER}, InvalidPath),
    ("Group", {"op": "replace", "path": f"{CORE}:password", "value": MARKER}, InvalidPath),
    ("Group", {"op": "replace", "value": {"password": MARKER, "displayName": "x"}}, InvalidValue),
    ("Group", {"op": "replace", "value": {GROUP: {"password": MARKER}}}, InvalidValue),
]


@pytest.mark.parametrize("resource_type, operation, error", REFUSED)
def test_refused_spellings_are_refused_at_the_ingress_as_the_patcher_would(resource_type, operation, error):
    raw = body({"op": "replace", "path": "displayName", "value": "fine"}, operation)
    with pytest.raises(error) as at_ingress:
        prepare_patch(resource_type, raw)
    assert MARKER not in str(at_ingress.value.detail)
    # The patcher refuses the same request with the same error.
    document = base_user() if resource_type == "User" else base_group()
    with pytest.raises(error):
        apply_patch(resource_type, document, parse_patch_request(raw), resource_id="1")


def test_a_remove_without_path_is_refused():
    with pytest.raises(NoTarget):
        prepare_patch("User", body({"op": "remove", "value": {"password": MARKER}}))


# ---------------------------------------------------------------------------------------------
# The strip and the patcher agree on every request
# ---------------------------------------------------------------------------------------------

_AGREE_KEYS = _FUZZ_KEYS + PASSWORD_KEYS + [CORE, f"{ENT}:password", "PassWord.value"]
_AGREE_PATHS = _FUZZ_PATHS + PASSWORD_PATHS + [CORE, f"{ENT}:password"]


def _password_or_random(rng, is_password_spelling: bool):
    """The marker only where a password is spelled (mostly), so it must never travel."""
    if is_password_spelling and rng.random() < 0.8:
        return MARKER
    return _random_value(rng)


def _random_request(rng) -> dict:
    operations = []
    for _ in range(rng.randint(1, 3)):
        operation: dict = {rng.choice(["op", "Op"]): rng.choice(["add", "Replace", "remove"])}
        path = rng.choice(_AGREE_PATHS) if rng.random() < 0.6 else None
        if path is not None:
            operation[rng.choice(["path", "Path", "PATH"])] = path
        if rng.random() < 0.85:
            if path is None and rng.random() < 0.8:
                keys = [rng.choice(_AGREE_KEYS) for _ in range(rng.randint(0, 4))]
                value = {key: _password_or_random(rng, key in PASSWORD_KEYS) for key in keys}
            else:
                value = _password_or_random(rng, path in PASSWORD_PATHS)
            operation[rng.choice(["value", "Value"])] = value
        operations.append(operation)
    return {rng.choice(OPERATIONS_CASES): operations}


def test_prepared_requests_apply_exactly_as_the_raw_ones_without_any_password():
    """For random requests (password spellings mixed in): when the ingress refuses one, the
    patcher refuses it too; otherwise the queued body applies exactly as the raw one would,
    the ingress says ``password_supplied`` exactly when the patcher would, and the worker
    never sees a password."""
    rng = random.Random(10)
    prepared_ok = supplied_seen = mixed_seen = 0
    for _ in range(4000):
        raw = _random_request(rng)
        resource_type = rng.choice(["User", "Group"])
        document = base_user() if resource_type == "User" else base_group()
        try:
            raw_outcome = apply_patch(resource_type, document, parse_patch_request(raw), resource_id="1")
        except ScimError as error:
            raw_outcome = error
        try:
            prepared = prepare_patch(resource_type, raw)
        except ScimError as error:
            assert isinstance(raw_outcome, ScimError), (raw, error)
            continue
        prepared_ok += 1
        supplied_seen += prepared.password_supplied
        sent = prepared.body()
        assert MARKER not in repr(sent), raw
        if not prepared.operations:
            assert not isinstance(raw_outcome, ScimError), raw
            assert prepared.password_supplied == raw_outcome.password_supplied
            assert raw_outcome.document == document
            continue
        try:
            outcome = apply_patch(resource_type, document, parse_patch_request(sent), resource_id="1")
        except ScimError as error:
            assert isinstance(raw_outcome, ScimError), raw
            assert type(error) is type(raw_outcome), (raw, error, raw_outcome)
            continue
        assert not isinstance(raw_outcome, ScimError), (raw, raw_outcome)
        assert outcome.password_supplied is False
        assert prepared.password_supplied == raw_outcome.password_supplied
        mixed_seen += prepared.password_supplied
        assert outcome.document == raw_outcome.document
        assert outcome.member_changes == raw_outcome.member_changes
        assert outcome.changed == raw_outcome.changed
    # The corpus exercised every outcome: passwords alone, and with other operations applied.
    assert prepared_ok > 300 and supplied_seen > 50 and mixed_seen > 20, (prepared_ok, supplied_seen, mixed_seen)


def test_prepare_never_modifies_the_request():
    rng = random.Random(3)
    for _ in range(500):
        raw = _random_request(rng)
        snapshot = copy.deepcopy(raw)
        try:
            prepare_patch("User", raw)
        except ScimError:
            pass
        assert raw == snapshot


# ---------------------------------------------------------------------------------------------
# POST / PUT (normalize): every spelling dropped, the core-schema URN object refused
# ---------------------------------------------------------------------------------------------

NORMALIZE_KEYS = ["password", "Password", "PASSWORD", "password.", f"{CORE}:password",
                  f"{CORE.upper()}:PassWord", f"{CORE.lower()}:password."]


@pytest.mark.parametrize("key", NORMALIZE_KEYS)
def test_normalize_drops_every_spelling(key):
    out = normalize("User", {"schemas": [CORE], "userName": "ada", key: MARKER, "title": "Boss"})
    assert out.password_supplied is True
    assert out.document == {"userName": "ada", "title": "Boss"}
    assert MARKER not in repr(out)


def test_normalize_on_put_drops_it_too():
    out = normalize("User", {"userName": "ada", "Password": MARKER}, existing={"userName": "ada"})
    assert out.password_supplied is True and out.document == {"userName": "ada"}
    assert MARKER not in repr(out)


@pytest.mark.parametrize("resource_type, extra", [
    ("User", {CORE: {"password": MARKER}}),
    ("User", {CORE.lower(): {"Password": MARKER}}),
    ("User", {ENT: {"password": MARKER}}),
    ("User", {f"{ENT}:password": MARKER}),
    ("User", {"password.value": MARKER}),
    ("User", {"password": {"value": MARKER}}),
    ("User", {"password": [MARKER]}),
    ("User", {"password": MARKER, "Password": MARKER}),
    ("Group", {"password": MARKER}),
    ("Group", {GROUP: {"password": MARKER}}),
])
def test_normalize_refuses_what_it_would_not_apply(resource_type, extra):
    base = {"userName": "ada"} if resource_type == "User" else {"displayName": "Team"}
    with pytest.raises(InvalidValue) as refused:
        normalize(resource_type, {**base, **extra})
    assert MARKER not in str(refused.value.detail)


def test_normalize_ignores_a_declared_unknown_extension_and_keeps_nothing_of_it():
    out = normalize("User", {"schemas": [CORE, "urn:example:ext"], "userName": "ada",
                             "urn:example:ext": {"password": MARKER}, "urn:example:ext:password": MARKER})
    assert out.document == {"userName": "ada"} and MARKER not in repr(out)
