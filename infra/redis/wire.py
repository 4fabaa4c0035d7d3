"""How commands travel in a Celery message: each command encoded on its own, the batch by orjson.

A batch message carries the commands of many requests, often of several organizations. So that
one request can never spoil the message of the others, the ingress encodes every command by
itself when it is submitted (``encode_command``); a command that cannot be encoded fails alone,
at once, before anything is queued. The batch message then only splices the already encoded
commands together (``orjson.Fragment``), which cannot fail and costs almost nothing.

The message body is (de)serialised by orjson, registered with kombu as ``scimgate-orjson``. A
body that cannot be decoded is handed to the task as an empty, marked batch instead of raising:
Celery would otherwise log the whole body (other tenants' user documents) with its error.
"""

from __future__ import annotations

import orjson
from kombu.serialization import register

from domain.commands import Command

SERIALIZER = "scimgate-orjson"
CONTENT_TYPE = "application/x-scimgate-orjson"
_UNDECODABLE = ((), {"undecodable": True}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})


class UnencodableCommand(Exception):
    """The command's content cannot travel (too deep, or not JSON); nothing was queued."""


def encode_command(command: Command) -> orjson.Fragment:
    """The command as a JSON fragment for a batch message, or UnencodableCommand."""
    try:
        return orjson.Fragment(orjson.dumps(command.to_wire()))
    except (orjson.JSONEncodeError, TypeError) as error:
        raise UnencodableCommand(str(error)) from None


def _dumps(body) -> bytes:
    return orjson.dumps(body)


def _loads(payload):
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return _UNDECODABLE


def register_codec() -> None:
    """Make the codec known to kombu (idempotent; both the ingress and the worker call it)."""
    register(SERIALIZER, _dumps, _loads, content_type=CONTENT_TYPE, content_encoding="binary")


register_codec()
