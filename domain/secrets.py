"""Keeping IdP-sent passwords out of everything scimgate stores, queues, logs or audits.

scimgate authenticates nobody by password (users sign in through the IdP), so a ``password`` an
IdP sends (Okta sends a random one on every create) is accepted and dropped at the door.
"""

from __future__ import annotations

import copy


def _is_password_path(path) -> bool:
    if not isinstance(path, str):
        return False
    name = path.strip().rsplit(":", 1)[-1]
    return name.lower() == "password"


def strip_patch_passwords(body) -> tuple[object, bool]:
    """A PatchOp body without password operations or password keys; and whether one was sent."""
    if not isinstance(body, dict) or not isinstance(body.get("Operations"), list):
        return body, False
    supplied = False
    cleaned = copy.copy(body)
    operations = []
    for operation in body["Operations"]:
        if isinstance(operation, dict):
            if _is_password_path(operation.get("path")):
                supplied = True
                continue
            value = operation.get("value")
            if operation.get("path") is None and isinstance(value, dict):
                keys = [key for key in value if _is_password_path(key)]
                if keys:
                    supplied = True
                    operation = dict(operation, value={k: v for k, v in value.items() if k not in keys})
        operations.append(operation)
    cleaned["Operations"] = operations
    return cleaned, supplied
