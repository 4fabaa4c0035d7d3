"""Identifier generation for organizations, tokens and resources.

Organization ids look like the product's (25 lower-case alphanumerics, no ``_``: Okta refuses a
base URL containing one). Resource ids are UUIDs: unique, stable, never reassigned, case-exact.
"""

from __future__ import annotations

import secrets
import string
import uuid

_ALPHABET = string.ascii_lowercase + string.digits


def new_org_id() -> str:
    return "c" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def new_token_id() -> str:
    return "tok" + "".join(secrets.choice(_ALPHABET) for _ in range(21))


def new_operator_id() -> str:
    return "op" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def new_resource_id() -> str:
    return str(uuid.uuid4())


def new_command_id() -> str:
    return uuid.uuid4().hex
