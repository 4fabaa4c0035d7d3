"""SCIM errors (RFC 7644 §3.12) as domain exceptions.

Every failure the domain can detect is a ``ScimError`` carrying the HTTP status, the
``scimType`` keyword where the RFC defines one, and a human-readable ``detail``. The API layer
turns it into the RFC error body; the worker stores it as a command's reply.
"""

from __future__ import annotations

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    status: int = 400
    scim_type: str | None = None

    def __init__(
        self, detail: str, *, status: int | None = None, scim_type: str | None = None, headers: dict | None = None
    ):
        super().__init__(detail)
        self.detail = detail
        # HTTP headers that belong with this error (WWW-Authenticate on 401, Retry-After on 503).
        self.headers = headers
        if status is not None:
            self.status = status
        if scim_type is not None:
            self.scim_type = scim_type

    def to_body(self) -> dict:
        body: dict = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{type(self).__name__}({self.status}, {self.scim_type!r}, {self.detail!r})"


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class Mutability(ScimError):
    scim_type = "mutability"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class NotFound(ScimError):
    status = 404


class PreconditionFailed(ScimError):
    status = 412


class PayloadTooLarge(ScimError):
    status = 413


class NotImplementedScim(ScimError):
    status = 501


class Unauthorized(ScimError):
    status = 401


class Forbidden(ScimError):
    status = 403


class Unavailable(ScimError):
    status = 503


class RequestTimeout(ScimError):
    status = 408


class InvalidCursor(ScimError):
    """RFC 9865: a cursor that is not one of ours for this listing."""

    scim_type = "invalidCursor"


class ExpiredCursor(ScimError):
    """RFC 9865: a cursor past its lifetime."""

    scim_type = "expiredCursor"
