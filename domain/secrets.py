"""Keeping IdP-sent passwords out of everything scimgate stores, queues, logs or audits.

scimgate authenticates nobody by password (users sign in through the IdP), so a ``password`` an
IdP sends (Okta sends a random one on every create and on its password sync) is accepted and
dropped at the door: only the fact that one was sent (``password_supplied``) travels on, so the
audit event can name ``password`` among the changed attributes, never its value.

This module is the one place that says what a password is. Every spelling a client may use
(any case, URN-qualified, dotted, inside a value object, as a PATCH path with or without a
filter) reaches it as an attribute already resolved by ``domain.schema.registry`` — the same
resolution the PATCH engine and ``normalize`` use to apply attributes — so what is dropped is
exactly what would have been applied as the password:

- POST/PUT bodies: ``domain.resource.normalize`` builds the stored document from resolved
  attributes only and skips the password;
- PATCH bodies: ``domain.patch.prepare_patch`` walks every operation with the patcher's own
  target walk and rebuilds the body without the password (only what the parser read travels).
"""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidValue
from domain.schema.model import ResolvedAttr
from domain.schema.registry import resource_type

__all__ = ["is_password", "password_given"]


def is_password(resource_type_name: str, resolved: ResolvedAttr | None) -> bool:
    """Whether a resolved attribute is the core schema's ``password`` (RFC 7643 §4.1.1)."""
    if resolved is None or resolved.attr.name != "password":
        return False
    return resolved.schema == resource_type(resource_type_name).schema


def password_given(op: str, value: Any) -> bool:
    """Check a value sent for ``password`` by ``op`` (add/replace/remove; POST/PUT set it as
    ``replace``) and say whether a password was supplied. The value itself is never kept, and
    never quoted in an error."""
    if op == "remove":
        return False
    if value is not None and not isinstance(value, str):
        raise InvalidValue("'password' must be a string")
    return bool(value)
