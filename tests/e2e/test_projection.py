"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9) over HTTP, in every
attribute notation RFC 7644 §3.10 allows, for every attribute and sub-attribute the service's
own ``/Schemas`` lists (plus the common ``id``, ``externalId`` and ``meta``): plain names, any
case, ``name.givenName`` sub-attributes, URN-qualified names (core and extension, with
sub-attributes), bare extension URNs, the computed ``members`` (Group) and ``groups`` (User),
``returned: always`` and ``never`` attributes, and names that resolve to nothing (ignored).

Each answer is checked against an oracle written here from the RFC's rules and the resource's
full representation (a GET without parameters), never from the service's own code: with
``attributes``, ``schemas``, ``id`` and exactly the named attributes (a named sub-attribute
keeps only it); with ``excludedAttributes``, everything but the named ones (``id`` stays).
Checked on GET by id, on listing, on ``.search`` and on POST/PUT/PATCH responses.
"""

from __future__ import annotations

import copy
import uuid

import pytest

from tests.e2e.scim_bodies import GROUP_SCHEMA, USER_SCHEMA, patch

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
CERT = "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"


def full_user_body(user_name: str) -> dict:
    """A User with a value for every attribute and sub-attribute a client may set."""
    typed = lambda value, kind: {"value": value, "display": f"{kind} {value}", "type": kind, "primary": True}  # noqa: E731
    return {
        "schemas": [USER_SCHEMA, ENT],
        "userName": user_name,
        "externalId": f"ext-{user_name}",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara",
                 "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": True,
        "password": "t1meMa$heen",
        "emails": [typed(user_name, "work"), {"value": "babs@jensen.org", "type": "home"}],
        "phoneNumbers": [typed("555-555-8377", "work")],
        "ims": [typed("someaimhandle", "aim")],
        "photos": [typed("https://photos.example.com/profilephoto/72930000000Ccne/F", "photo")],
        "addresses": [{"formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                       "streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA",
                       "postalCode": "91608", "country": "USA", "type": "work", "primary": True}],
        "entitlements": [typed("admin", "access")],
        "roles": [typed("guide", "job")],
        "x509Certificates": [typed(CERT, "cert")],
        ENT: {"employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
              "division": "Theme Park", "department": "Tour Operations",
              "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                          "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"}},
    }


# ------------------------------------------------------------------ the oracle


def _project(value, keep=None, drop=None):
    """``value`` (complex, or a list of complex) with only sub-attribute ``keep``, or without
    ``drop``; elements left empty are dropped."""
    def one(item):
        if keep is not None:
            return {keep: item[keep]} if keep in item else {}
        return {k: v for k, v in item.items() if k != drop}

    if isinstance(value, list):
        return [item for item in (one(i) for i in value) if item]
    return one(value)


def _locate(full: dict, urn: str | None, attr: str):
    holder = full.get(urn, {}) if urn else full
    return holder, holder.get(attr)


def expected(full: dict, path: tuple, mode: str, *, computed: str) -> dict:
    """The answer for ``attributes=path`` (mode "include") or ``excludedAttributes=path``
    ("exclude"). ``path`` is ``(extension URN or None, attribute, sub-attribute or None)`` in
    canonical spelling, or ``("urn", URN)`` for a bare schema URN, or ``None`` for a name that
    resolves to nothing."""
    core = full["schemas"][0]
    if mode == "include":
        out = {"schemas": [core], "id": full["id"]}
        if path is None:
            return out
        if path[0] == "urn":
            if path[1] == core:  # every attribute the core schema defines (not the common ones)
                out.update({k: v for k, v in full.items() if k not in ("schemas", "id", "externalId", "meta", ENT)})
            elif path[1] in full:
                out[path[1]] = full[path[1]]
                out["schemas"].append(path[1])
            return out
        urn, attr, sub = path
        holder, value = _locate(full, urn, attr)
        if value is None:
            return out
        if sub is not None:
            value = _project(value, keep=sub)
            if value in ({}, []) and attr != computed:
                return out
        if urn:
            out[urn] = {attr: value}
            out["schemas"].append(urn)
        else:
            out[attr] = value
        return out
    out = copy.deepcopy(full)
    if path is None:
        return out
    if path[0] == "urn":
        if path[1] == core:
            return {k: v for k, v in out.items() if k in ("schemas", "id", "externalId", "meta", ENT)}
        out.pop(path[1], None)
        out["schemas"] = [s for s in out["schemas"] if s != path[1]]
        return out
    urn, attr, sub = path
    if attr == "id":
        return out
    holder, value = _locate(out, urn, attr)
    if value is None:
        return out
    if sub is None:
        del holder[attr]
    else:
        holder[attr] = _project(value, drop=sub)
        if holder[attr] in ({}, []) and attr != computed:
            del holder[attr]
    if urn and not holder:
        del out[urn]
        out["schemas"] = [s for s in out["schemas"] if s != urn]
    return out


def notations(path: tuple, core: str) -> list[str]:
    """Every spelling RFC 7644 §3.10 allows for ``path``: plain, any case, URN-qualified."""
    urn, attr, sub = path
    name = f"{attr}.{sub}" if sub else attr
    qualifier = urn or core
    return [name, name.upper(), f"{qualifier}:{name}", f"{qualifier.upper()}:{name.lower()}"]


def cases(schemas: list[dict], core: str, *, computed: str) -> list[tuple[str, tuple | None]]:
    """(notation, canonical path) for every attribute and sub-attribute of ``schemas`` (the
    service's /Schemas of one resource type), the common attributes, bare URNs and unknown names."""
    paths: list[tuple] = [(None, "id", None), (None, "externalId", None), (None, "meta", None)]
    paths += [(None, "meta", sub) for sub in ("resourceType", "created", "lastModified", "location", "version")]
    for schema in schemas:
        urn = None if schema["id"] == core else schema["id"]
        for attribute in schema["attributes"]:
            paths.append((urn, attribute["name"], None))
            for sub in attribute.get("subAttributes", []):
                paths.append((urn, attribute["name"], sub["name"]))
    found = [(text, path) for path in paths for text in notations(path, core)]
    for schema in schemas:
        found += [(schema["id"], ("urn", schema["id"])), (schema["id"].lower(), ("urn", schema["id"]))]
    unknown = ["nonexistent", "name.nonexistent", "emails.value.extra", "schemas", "urn:example:2.0:Thing:title",
               f"{core}:nonexistent", f"{computed}.nonexistent", ""]
    return found + [(text, None) for text in unknown if text]


def never_returned(schemas: list[dict]) -> set[str]:
    return {a["name"] for s in schemas for a in s["attributes"] if a["returned"] == "never"}


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def world(stack):
    """One organization with a full User, a Group holding it, and the service's /Schemas."""
    org = stack.new_org()
    with stack.scim(org) as client:
        user = client.post("/Users", json=full_user_body(f"bjensen-{uuid.uuid4().hex[:6]}@example.com"))
        assert user.status_code == 201, user.text
        user_id = user.json()["id"]
        group = client.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Tour Guides",
                                             "externalId": "g-701", "members": [{"value": user_id, "display": "Babs"}]})
        assert group.status_code == 201, group.text
        listed = {s["id"]: s for s in client.get("/Schemas").json()["Resources"]}
        world = {
            "org": org,
            "user": client.get(f"/Users/{user_id}").json(),
            "group": client.get(f"/Groups/{group.json()['id']}").json(),
            "User": [listed[USER_SCHEMA], listed[ENT]],
            "Group": [listed[GROUP_SCHEMA]],
        }
    assert world["user"]["groups"] and world["group"]["members"]
    assert never_returned(world["User"]) == {"password"} and "password" not in world["user"]
    yield world


@pytest.fixture(scope="module")
def client(stack, world):
    with stack.scim(world["org"]) as http:
        yield http


KINDS = {"User": ("Users", USER_SCHEMA, "groups", "user"), "Group": ("Groups", GROUP_SCHEMA, "members", "group")}
MODES = {"include": "attributes", "exclude": "excludedAttributes"}


def _read(client, how: str, endpoint: str, resource: dict, parameter: str, name: str) -> dict:
    if how == "get":
        response = client.get(f"/{endpoint}/{resource['id']}", params={parameter: name})
    elif how == "list":
        response = client.get(f"/{endpoint}", params={"filter": f'id eq "{resource["id"]}"', parameter: name})
    else:
        response = client.post(f"/{endpoint}/.search", json={
            "schemas": [SEARCH], "filter": f'id eq "{resource["id"]}"', parameter: [name]})
    assert response.status_code == 200, response.text
    body = response.json()
    if how == "get":
        return body
    assert body["totalResults"] == 1, body
    return body["Resources"][0]


# ------------------------------------------------------------------ reads: every notation of every attribute


@pytest.mark.parametrize("how", ["get", "list", "search"])
@pytest.mark.parametrize("kind", ["User", "Group"])
def test_every_notation_of_every_attribute_on_reads(client, world, kind, how):
    endpoint, core, computed, key = KINDS[kind]
    full = world[key]
    wrong = []
    for text, path in cases(world[kind], core, computed=computed):
        for mode, parameter in MODES.items():
            got = _read(client, how, endpoint, full, parameter, text)
            want = expected(full, path, mode, computed=computed)
            if got != want:
                wrong.append(f"{parameter}={text!r}: got {sorted(got)} {got}, expected {sorted(want)} {want}")
    assert not wrong, f"{len(wrong)} answers differ:\n" + "\n".join(wrong[:20])


def test_the_oracle_sees_every_kind_of_attribute(world):
    """The matrix above covers what RFC 7644 §3.10 names: sub-attributes, URN-qualified core and
    extension names, bare extension URNs, computed memberships, always and never attributes."""
    names = [text for text, _ in cases(world["User"], USER_SCHEMA, computed="groups")]
    for needle in ("name.givenName", f"{USER_SCHEMA}:userName", f"{ENT}:manager.value", ENT, "groups.display",
                   "id", "password", "nonexistent", "x509Certificates.value", "meta.lastModified"):
        assert needle in names
    group_names = [text for text, _ in cases(world["Group"], GROUP_SCHEMA, computed="members")]
    assert {"members", "members.value", f"{GROUP_SCHEMA}:members", "MEMBERS.DISPLAY"} <= set(group_names)


# ------------------------------------------------------------------ writes: the answers of POST, PUT and PATCH

WRITE_NAMES = {
    "User": ["userName", "DISPLAYNAME", "name.givenName", f"{USER_SCHEMA}:emails.value", f"{USER_SCHEMA}:meta",
             f"{ENT}:manager.value", ENT, "department", "groups", "groups.display", f"{USER_SCHEMA}:groups",
             "id", "password", "nonexistent", "x509Certificates.value"],
    "Group": ["displayName", "members", "members.value", "MEMBERS.display", f"{GROUP_SCHEMA}:members",
              f"{GROUP_SCHEMA}:members.value", GROUP_SCHEMA, "externalId", "meta.location", "id", "nonexistent"],
}


def _path_of(world, kind: str, text: str):
    core, computed = KINDS[kind][1], KINDS[kind][2]
    for candidate, path in cases(world[kind], core, computed=computed):
        if candidate.lower() == text.lower():
            return path
    raise AssertionError(f"no case for {text}")


def _write(client, kind: str, how: str, world, query: dict):
    endpoint = KINDS[kind][0]
    if kind == "User":
        body = full_user_body(f"w-{uuid.uuid4().hex[:8]}@example.com")
        if how == "post":
            return client.post(f"/{endpoint}", json=body, params=query)
        target = world["user"]["id"]
        if how == "put":
            body = full_user_body(world["user"]["userName"])
            return client.put(f"/{endpoint}/{target}", json=body, params=query)
        return client.patch(f"/{endpoint}/{target}", json=patch({"op": "replace", "path": "title", "value": "Tour Guide"}),
                            params=query)
    members = [{"value": world["user"]["id"], "display": "Babs"}]
    if how == "post":
        body = {"schemas": [GROUP_SCHEMA], "displayName": f"w-{uuid.uuid4().hex[:8]}", "externalId": "g-w",
                "members": members}
        return client.post(f"/{endpoint}", json=body, params=query)
    target = world["group"]["id"]
    if how == "put":
        body = {"schemas": [GROUP_SCHEMA], "displayName": "Tour Guides", "externalId": "g-701", "members": members}
        return client.put(f"/{endpoint}/{target}", json=body, params=query)
    return client.patch(f"/{endpoint}/{target}", json=patch({"op": "add", "path": "members", "value": members}),
                        params=query)


@pytest.mark.parametrize("how", ["post", "put", "patch"])
@pytest.mark.parametrize("kind", ["User", "Group"])
def test_write_answers_are_projected_like_reads(client, world, kind, how):
    endpoint, _, computed, _ = KINDS[kind]
    wrong = []
    for text in WRITE_NAMES[kind]:
        for mode, parameter in MODES.items():
            response = _write(client, kind, how, world, {parameter: text})
            assert response.status_code == (201 if how == "post" else 200), response.text
            got = response.json()
            full = client.get(f"/{endpoint}/{got['id']}").json()
            want = expected(full, _path_of(world, kind, text), mode, computed=computed)
            if kind == "Group" and how == "patch" and mode == "exclude":
                # A Group PATCH sends members only when they are asked for by name (a Team may
                # hold 100,000; Entra never reads them back): excluding others does not ask.
                want.pop("members", None)
            if got != want:
                wrong.append(f"{how} {parameter}={text!r}: got {got}, expected {want}")
    assert not wrong, f"{len(wrong)} answers differ:\n" + "\n".join(wrong[:20])


def test_a_group_patch_without_attributes_answers_204_and_with_members_asked_by_urn_returns_them(client, world):
    target = world["group"]["id"]
    add = patch({"op": "add", "path": "members", "value": [{"value": world["user"]["id"]}]})
    assert client.patch(f"/Groups/{target}", json=add).status_code == 204
    for name in ("members", f"{GROUP_SCHEMA}:members", f"{GROUP_SCHEMA.upper()}:MEMBERS.value", GROUP_SCHEMA):
        answer = client.patch(f"/Groups/{target}", json=add, params={"attributes": name})
        assert answer.status_code == 200, answer.text
        assert [m["value"] for m in answer.json()["members"]] == [world["user"]["id"]], name
