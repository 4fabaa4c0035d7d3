"""Every bad input gets an RFC 7644 error body with the right status and scimType, never a 500."""

from __future__ import annotations

import pytest

from tests.e2e.scim_bodies import ERROR, okta_user, patch


def assert_scim_error(response, status: int, scim_type: str | None = None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type


@pytest.mark.parametrize(
    "content, content_type",
    [(b"{not json", "application/scim+json"), (b"", "application/json"), (b"[1, 2]", "application/json")],
)
def test_malformed_bodies_are_invalid_syntax(scim, content, content_type):
    response = scim.post("/Users", content=content, headers={"Content-Type": content_type})
    assert_scim_error(response, 400, "invalidSyntax")


def test_wrong_content_type_is_415(scim):
    response = scim.post("/Users", content=b"userName=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_scim_error(response, 415)


def test_oversized_body_is_413(scim):
    body = okta_user("big@example.com")
    body["displayName"] = "x" * 2_000_000
    assert_scim_error(scim.post("/Users", json=body), 413)


def test_unknown_attribute_is_400(scim):
    body = okta_user("unknown.attr@example.com")
    body["favouriteColour"] = "green"
    assert_scim_error(scim.post("/Users", json=body), 400, "invalidValue")


def test_missing_user_name_is_400(scim):
    body = okta_user("x@example.com")
    del body["userName"]
    assert_scim_error(scim.post("/Users", json=body), 400, "invalidValue")


def test_bad_filter_is_invalid_filter(scim):
    assert_scim_error(scim.get("/Users", params={"filter": 'userName eq "unterminated'}), 400, "invalidFilter")
    assert_scim_error(scim.get("/Users", params={"filter": 'nosuchattr eq "x"'}), 400, "invalidFilter")


def test_bad_patch_path_and_op(scim):
    user = scim.post("/Users", json=okta_user("patchme@example.com")).json()
    assert_scim_error(
        scim.patch(f"/Users/{user['id']}", json=patch({"op": "replace", "path": "name[[", "value": "x"})),
        400,
        "invalidPath",
    )
    assert_scim_error(scim.patch(f"/Users/{user['id']}", json=patch({"op": "remove"})), 400, "noTarget")
    response = scim.patch(f"/Users/{user['id']}", json=patch({"op": "frobnicate", "path": "title", "value": "x"}))
    assert response.status_code == 400 and response.json()["schemas"] == [ERROR]


def test_unknown_endpoints_and_methods(scim):
    assert_scim_error(scim.get("/Nope"), 404)
    assert_scim_error(scim.get("/Me"), 501)
    assert_scim_error(scim.request("PATCH", "/Users"), 405)


def test_bad_paging_parameters(scim):
    assert_scim_error(scim.get("/Users", params={"count": "ten"}), 400, "invalidValue")
    ok = scim.get("/Users", params={"startIndex": "-5", "count": "-1"})
    assert ok.status_code == 200
    assert ok.json()["startIndex"] == 1 and ok.json()["Resources"] == []


def test_if_match_mismatch_is_412(scim):
    user = scim.post("/Users", json=okta_user("etag@example.com")).json()
    response = scim.patch(
        f"/Users/{user['id']}",
        json=patch({"op": "replace", "path": "title", "value": "x"}),
        headers={"If-Match": 'W/"999"'},
    )
    assert_scim_error(response, 412)
    fresh = scim.get(f"/Users/{user['id']}")
    assert scim.get(f"/Users/{user['id']}", headers={"If-None-Match": fresh.headers["ETag"]}).status_code == 304
    ok = scim.patch(
        f"/Users/{user['id']}",
        json=patch({"op": "replace", "path": "title", "value": "x"}),
        headers={"If-Match": fresh.headers["ETag"]},
    )
    assert ok.status_code == 200
