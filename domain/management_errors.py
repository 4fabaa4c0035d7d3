"""What the management service (``domain.management``) refuses, and why: errors that carry
meaning (a class and a stable ``code``), never an HTTP status; the API maps them to one.

``Refused`` errors are the product's rules saying no (audited as refusals by the API);
``InvalidRequest`` and ``NotFound`` are requests that cannot be done as asked.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_OF_TRUTH = (
    "SCIM provisioning is on for this organization, so the identity provider is the source of truth for "
    "Teams and their members"
)


class ManagementError(Exception):
    """A management request that cannot be done: a stable ``code`` and a ``message`` for people."""

    code = "invalid_request"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequest(ManagementError):
    code = "invalid_request"


class UnknownUsers(InvalidRequest):
    code = "unknown_users"


class NotFound(ManagementError):
    code = "not_found"


@dataclass(frozen=True)
class Attempt:
    """The write a refusal refused, for its audit event."""

    org_id: str
    action: str
    resource_type: str | None = None
    resource_id: str | None = None


class Refused(ManagementError):
    """The product's rules refuse this change (audited as a refusal by the API)."""

    attempt: Attempt | None = None


class ScimManaged(Refused):
    code = "scim_managed"


class NameTaken(Refused):
    code = "name_taken"


class EnterpriseTierRequired(Refused):
    code = "enterprise_tier_required"


def not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"{what} {ident} not found in this organization")


def scim_managed(action: str, *, idp_team: bool = False) -> ScimManaged:
    if idp_team:
        hint = (
            "This Team was pushed by the identity provider: change it there (Okta: Push Groups; Entra: the group "
            "and its assignment to the app), or turn SCIM off first."
        )
    else:
        hint = "Make the change in the identity provider, or turn SCIM off first."
    return ScimManaged(f"Cannot {action}: {SOURCE_OF_TRUTH}. {hint}")


def name_taken(name: str) -> NameTaken:
    return NameTaken(f"A Team named {name!r} already exists in this organization")
