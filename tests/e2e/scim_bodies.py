"""Request bodies as real IdPs send them (verbatim shapes from ../shared/reference/idp-traffic.md)."""

from __future__ import annotations

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def okta_user(user_name: str, *, given: str = "Test", family: str = "User", external_id: str = "00ujl29u0le5T6Aj10h7"):
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def patch(*operations):
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def okta_group(name: str):
    return {"schemas": [GROUP_SCHEMA], "displayName": name, "members": []}
