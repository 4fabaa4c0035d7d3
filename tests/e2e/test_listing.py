"""Listing and searching end to end: index paging (RFC 7644 §3.4.2.4), cursor paging (RFC 9865),
sortBy/sortOrder, attributes/excludedAttributes and the root /.search."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.scim_bodies import ERROR, GROUP_SCHEMA, LIST, USER_SCHEMA, okta_group, patch

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def make_users(scim, count: int, prefix: str | None = None, **extra) -> list[dict]:
    prefix = prefix or uuid.uuid4().hex[:6]
    created = []
    for index in range(count):
        body = {"schemas": [USER_SCHEMA], "userName": f"{prefix}-{index:03d}@example.com", **extra}
        response = scim.post("/Users", json=body)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def ids(body: dict) -> list[str]:
    return [resource["id"] for resource in body.get("Resources", [])]


def assert_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type:
        assert body.get("scimType") == scim_type, body
    return body


# ------------------------------------------------------------------ index paging


def test_index_paging_edge_cases_and_stable_order(scim):
    users = make_users(scim, 5)
    everyone = [u["id"] for u in users]
    listing = scim.get("/Users").json()
    assert listing["schemas"] == [LIST] and listing["totalResults"] == 5 and ids(listing) == everyone
    assert "nextCursor" not in listing and listing["startIndex"] == 1

    # startIndex below 1 is 1 (RFC 7644 §3.4.2.4)
    for start in (0, -3):
        body = scim.get("/Users", params={"startIndex": start, "count": 2}).json()
        assert body["startIndex"] == 1 and ids(body) == everyone[:2] and body["itemsPerPage"] == 2
    # a negative count is 0, and count=0 returns only totalResults
    for count in (0, -1):
        body = scim.get("/Users", params={"count": count}).json()
        assert body["totalResults"] == 5 and body["itemsPerPage"] == 0 and body.get("Resources", []) == []
    # pages tile the collection in one stable order
    seen = []
    for start in (1, 3, 5):
        body = scim.get("/Users", params={"startIndex": start, "count": 2}).json()
        assert body["startIndex"] == start and body["totalResults"] == 5
        seen += ids(body)
    assert seen == everyone
    # past the end: empty, still counted
    past = scim.get("/Users", params={"startIndex": 9, "count": 2}).json()
    assert past["totalResults"] == 5 and past["itemsPerPage"] == 0 and ids(past) == []
    # count is capped at filter.maxResults
    max_results = scim.get("/ServiceProviderConfig").json()["filter"]["maxResults"]
    capped = scim.get("/Users", params={"count": max_results * 10}).json()
    assert capped["itemsPerPage"] == 5
    # non-integers are refused
    assert_error(scim.get("/Users", params={"count": "many"}), 400, "invalidValue")


def test_post_search_pages_like_get(scim):
    users = make_users(scim, 4)
    body = {"schemas": [SEARCH], "startIndex": 2, "count": 2, "sortBy": "userName", "sortOrder": "descending"}
    found = scim.post("/Users/.search", json=body)
    assert found.status_code == 200, found.text
    assert ids(found.json()) == [users[2]["id"], users[1]["id"]]
    assert found.json()["startIndex"] == 2 and found.json()["totalResults"] == 4


# ------------------------------------------------------------------ sorting


def test_sort_by_and_sort_order(scim):
    prefix = uuid.uuid4().hex[:6]
    made = {}
    for name, nick in (("b", "Zed"), ("A", None), ("c", "alpha")):
        body = {"schemas": [USER_SCHEMA], "userName": f"{prefix}-{name}@example.com"}
        if nick:
            body["nickName"] = nick
        made[name] = scim.post("/Users", json=body).json()["id"]

    def order(**params):
        response = scim.get("/Users", params=params)
        assert response.status_code == 200, response.text
        return ids(response.json())

    # userName is case-insensitive: A < b < c
    assert order(sortBy="userName") == [made["A"], made["b"], made["c"]]
    assert order(sortBy="userName", sortOrder="descending") == [made["c"], made["b"], made["A"]]
    # resources lacking the attribute come last in either direction, on both backends
    assert order(sortBy="nickName") == [made["c"], made["b"], made["A"]]
    assert order(sortBy="nickName", sortOrder="descending") == [made["b"], made["c"], made["A"]]
    # attribute names are case-insensitive; meta dates sort too
    assert order(sortBy="USERNAME") == [made["A"], made["b"], made["c"]]
    assert order(sortBy="meta.created", sortOrder="descending") == [made["c"], made["A"], made["b"]]
    # a bad sortBy is 400 invalidValue (not invalidPath: it is no PATCH path)
    assert_error(scim.get("/Users", params={"sortBy": "noSuchAttribute"}), 400, "invalidValue")
    assert_error(scim.get("/Users", params={"sortBy": "name"}), 400, "invalidValue")  # complex
    assert_error(scim.get("/Users", params={"sortBy": "userName", "sortOrder": "sideways"}), 400, "invalidValue")


# ------------------------------------------------------------------ cursor paging (RFC 9865)


def walk(scim, path: str = "/Users", count: int = 2, between=None, **params) -> list[str]:
    seen: list[str] = []
    cursor = ""
    for _ in range(100):
        response = scim.get(path, params={"cursor": cursor, "count": count, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        assert "startIndex" not in body and body["itemsPerPage"] == len(body["Resources"]) <= count
        seen += ids(body)
        if between:
            between(body)
        cursor = body.get("nextCursor")
        if not cursor:
            return seen
    raise AssertionError("cursor paging did not end")


def test_cursor_paging_walks_everything_once(scim):
    users = make_users(scim, 7)
    assert walk(scim, count=3) == [u["id"] for u in users]
    assert walk(scim, count=7) == [u["id"] for u in users]
    first = scim.get("/Users", params={"cursor": "", "count": 7}).json()
    assert "nextCursor" not in first and "previousCursor" not in first
    # count=0 with a cursor returns only the count
    counted = scim.get("/Users", params={"cursor": "", "count": 0}).json()
    assert counted["totalResults"] == 7 and counted["Resources"] == []


def test_cursor_paging_backwards_with_previous_cursor(scim):
    users = [u["id"] for u in make_users(scim, 5)]
    page1 = scim.get("/Users", params={"cursor": "", "count": 2}).json()
    assert ids(page1) == users[:2] and "previousCursor" not in page1
    page2 = scim.get("/Users", params={"cursor": page1["nextCursor"], "count": 2}).json()
    assert ids(page2) == users[2:4]
    back = scim.get("/Users", params={"cursor": page2["previousCursor"], "count": 2}).json()
    assert ids(back) == users[:2] and "previousCursor" not in back
    again = scim.get("/Users", params={"cursor": back["nextCursor"], "count": 2}).json()
    assert ids(again) == users[2:4]
    # cursors are made of RFC 3986 unreserved characters only
    for cursor in (page1["nextCursor"], page2["previousCursor"]):
        assert all(ch.isalnum() or ch in "-._~" for ch in cursor)


def test_cursor_paging_never_skips_a_user_while_others_are_deleted(scim):
    users = [u["id"] for u in make_users(scim, 12)]
    deleted: set[str] = set()
    victims = iter(users[1::2])  # every other user is deleted during the walk, seen or not

    def delete_some(_body):
        for _ in range(2):
            victim = next(victims, None)
            if victim:
                assert scim.delete(f"/Users/{victim}").status_code == 204
                deleted.add(victim)

    seen = walk(scim, count=3, between=delete_some)
    survivors = [u for u in users if u not in deleted]
    assert [u for u in seen if u not in deleted] == survivors  # every survivor, once, in order
    assert len(seen) == len(set(seen))


def test_cursor_paging_with_filter_and_sort(scim):
    prefix = uuid.uuid4().hex[:6]
    made = make_users(scim, 6, prefix)
    make_users(scim, 3)  # not matched by the filter
    expected = [u["id"] for u in reversed(made)]
    seen = walk(scim, count=4, filter=f'userName sw "{prefix}"', sortBy="userName", sortOrder="descending")
    assert seen == expected
    # the same with a sort key some users lack (title): missing values last
    scim.patch(f"/Users/{made[2]['id']}", json=patch({"op": "add", "path": "title", "value": "b"}))
    scim.patch(f"/Users/{made[4]['id']}", json=patch({"op": "add", "path": "title", "value": "a"}))
    seen = walk(scim, count=2, filter=f'userName sw "{prefix}"', sortBy="title")
    assert seen[:2] == [made[4]["id"], made[2]["id"]] and sorted(seen) == sorted(u["id"] for u in made)
    # keys of every kind page the same way the index listing orders them: dates, booleans,
    # multi-valued (primary value), sub-attributes
    scim.patch(f"/Users/{made[1]['id']}", json=patch({"op": "replace", "path": "active", "value": False}))
    scim.patch(f"/Users/{made[3]['id']}", json=patch(
        {"op": "add", "path": "emails", "value": [{"value": "a@first.io", "primary": True}]}))
    for sort_by in ("meta.lastModified", "active", "emails", "emails.value", "name.givenName", "id"):
        for order in ("ascending", "descending"):
            params = {"filter": f'userName sw "{prefix}"', "sortBy": sort_by, "sortOrder": order}
            expected = ids(scim.get("/Users", params=params).json())
            assert sorted(expected) == sorted(u["id"] for u in made)
            assert walk(scim, count=2, **params) == expected, (sort_by, order)


def test_invalid_and_foreign_cursors_are_400_invalid_cursor(stack, scim):
    make_users(scim, 3)
    page = scim.get("/Users", params={"cursor": "", "count": 1}).json()
    cursor = page["nextCursor"]
    body, mac = cursor.split(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    for bad in ("garbage", "a.b", tampered, cursor + "x", "%%%"):
        assert_error(scim.get("/Users", params={"cursor": bad}), 400, "invalidCursor")
    # bound to the query: another filter, another sort or another endpoint refuses it
    assert_error(scim.get("/Users", params={"cursor": cursor, "filter": "userName pr"}), 400, "invalidCursor")
    assert_error(scim.get("/Users", params={"cursor": cursor, "sortBy": "userName"}), 400, "invalidCursor")
    assert_error(scim.get("/Groups", params={"cursor": cursor}), 400, "invalidCursor")
    # bound to the organization
    other = stack.new_org()
    with stack.scim(other) as foreign:
        assert_error(foreign.get("/Users", params={"cursor": cursor}), 400, "invalidCursor")
    # POST .search takes the cursor in the body
    searched = scim.post("/Users/.search", json={"schemas": [SEARCH], "cursor": cursor, "count": 1})
    assert searched.status_code == 200 and len(searched.json()["Resources"]) == 1


def test_service_provider_config_announces_cursor_pagination(scim):
    spc = scim.get("/ServiceProviderConfig").json()
    pagination = spc["pagination"]
    assert pagination["cursor"] is True and pagination["index"] is True
    assert pagination["defaultPaginationMethod"] == "index"
    assert pagination["maxPageSize"] == spc["filter"]["maxResults"] == pagination["defaultPageSize"]
    assert pagination["cursorTimeout"] > 0


# ------------------------------------------------------------------ attributes / excludedAttributes


def test_attributes_and_excluded_attributes_on_reads_and_writes(scim):
    body = {
        "schemas": [USER_SCHEMA], "userName": f"{uuid.uuid4().hex[:8]}@example.com",
        "displayName": "Ada", "title": "Engineer", "name": {"givenName": "Ada", "familyName": "L"},
    }
    created = scim.post("/Users", params={"attributes": "userName"}, json=body)
    assert created.status_code == 201
    user = created.json()
    assert set(user) == {"schemas", "id", "userName"}  # id and schemas are returned always
    uid = user["id"]

    got = scim.get(f"/Users/{uid}", params={"excludedAttributes": "title,name.familyName"}).json()
    assert "title" not in got and got["name"] == {"givenName": "Ada"} and got["displayName"] == "Ada"
    listed = scim.get("/Users", params={"filter": f'id eq "{uid}"', "attributes": "name.givenName"}).json()
    assert listed["Resources"] == [{"schemas": [USER_SCHEMA], "id": uid, "name": {"givenName": "Ada"}}]
    searched = scim.post(
        "/Users/.search", json={"schemas": [SEARCH], "filter": f'id eq "{uid}"', "attributes": ["displayName"]}
    ).json()
    assert set(searched["Resources"][0]) == {"schemas", "id", "displayName"}

    put = scim.put(f"/Users/{uid}", params={"attributes": "title"}, json=dict(body, title="Boss"))
    assert put.status_code == 200 and set(put.json()) == {"schemas", "id", "title"} and put.json()["title"] == "Boss"
    patched = scim.patch(
        f"/Users/{uid}", params={"excludedAttributes": "name,emails,meta"},
        json=patch({"op": "replace", "path": "title", "value": "CTO"}),
    )
    assert patched.status_code == 200
    assert patched.json()["title"] == "CTO" and "name" not in patched.json() and "meta" not in patched.json()

    team = scim.post("/Groups", params={"attributes": "displayName"}, json=okta_group(f"T {uuid.uuid4().hex[:6]}"))
    assert team.status_code == 201 and set(team.json()) == {"schemas", "id", "displayName"}


# ------------------------------------------------------------------ root /.search


@pytest.fixture
def mixed(scim):
    tag = uuid.uuid4().hex[:6]
    users = [
        scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": f"{tag}-u{i}@x.io", "displayName": f"{tag} user {i}"}).json()
        for i in range(3)
    ]
    groups = [scim.post("/Groups", json=okta_group(f"{tag} group {i}")).json() for i in range(2)]
    return tag, [u["id"] for u in users], [g["id"] for g in groups]


def root_search(scim, **body):
    response = scim.post("/.search", json={"schemas": [SEARCH], **body})
    return response


def test_root_search_lists_users_then_groups(scim, mixed):
    tag, users, groups = mixed
    found = root_search(scim, filter=f'displayName sw "{tag}"')
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["totalResults"] == 5 and ids(body) == users + groups
    kinds = [r["meta"]["resourceType"] for r in body["Resources"]]
    assert kinds == ["User"] * 3 + ["Group"] * 2
    assert body["Resources"][0]["schemas"] == [USER_SCHEMA] and body["Resources"][-1]["schemas"] == [GROUP_SCHEMA]
    # index pages cross the Users/Groups boundary
    page = root_search(scim, filter=f'displayName sw "{tag}"', startIndex=3, count=2).json()
    assert ids(page) == [users[2], groups[0]] and page["totalResults"] == 5
    # everything, with no filter
    assert set(users + groups) <= set(ids(root_search(scim).json()))


def test_root_search_resolves_filter_attributes_per_type(scim, mixed):
    tag, users, groups = mixed
    only_users = root_search(scim, filter=f'userName sw "{tag}"').json()
    assert ids(only_users) == users
    members = root_search(scim, filter=f'displayName sw "{tag}" and members pr').json()
    assert ids(members) == []
    only_groups = root_search(scim, filter=f'displayName sw "{tag} group"').json()
    assert ids(only_groups) == groups
    # invalid for every type: 400
    assert_error(root_search(scim, filter='noSuchAttribute eq "x"'), 400, "invalidFilter")
    assert_error(root_search(scim, filter="userName eq"), 400, "invalidFilter")
    # sortBy valid for one type sorts that type; the other keeps creation order
    sorted_desc = root_search(scim, filter=f'displayName sw "{tag}"', sortBy="userName", sortOrder="descending").json()
    assert ids(sorted_desc) == list(reversed(users)) + groups
    assert_error(root_search(scim, sortBy="noSuchAttribute"), 400, "invalidValue")
    # projections apply per type
    projected = root_search(scim, filter=f'displayName sw "{tag}"', attributes=["userName"]).json()
    assert projected["Resources"][0].get("userName") and set(projected["Resources"][-1]) == {"schemas", "id"}


def test_root_search_cursor_paging(scim, mixed):
    tag, users, groups = mixed
    seen, cursor = [], ""
    for _ in range(10):
        body = root_search(scim, filter=f'displayName sw "{tag}"', cursor=cursor, count=2).json()
        seen += ids(body)
        cursor = body.get("nextCursor")
        if not cursor:
            break
    assert seen == users + groups
    # previousCursor steps back across the boundary
    page1 = root_search(scim, filter=f'displayName sw "{tag}"', cursor="", count=2).json()
    page2 = root_search(scim, filter=f'displayName sw "{tag}"', cursor=page1["nextCursor"], count=2).json()
    assert ids(page2) == [users[2], groups[0]]
    page3 = root_search(scim, filter=f'displayName sw "{tag}"', cursor=page2["nextCursor"], count=2).json()
    assert ids(page3) == [groups[1]] and "nextCursor" not in page3
    back = root_search(scim, filter=f'displayName sw "{tag}"', cursor=page3["previousCursor"], count=2).json()
    assert ids(back) == [users[2], groups[0]]
    # the root's cursors are not the collections'
    assert_error(scim.get("/Users", params={"cursor": page1["nextCursor"]}), 400, "invalidCursor")


def test_root_search_refuses_get_and_bad_bodies(scim):
    assert scim.get("/.search").status_code == 405
    assert_error(scim.post("/.search", json={"schemas": ["urn:wrong"]}), 400, "invalidSyntax")
    assert_error(scim.post("/.search", content=b"{", headers={"Content-Type": "application/scim+json"}), 400)
