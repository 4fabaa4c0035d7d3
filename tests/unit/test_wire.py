"""How commands travel: each encoded alone (one that cannot be encoded fails alone), the batch
spliced from the encoded commands, a body that cannot be decoded handed over as a marked batch."""

from __future__ import annotations

import pytest
from kombu.serialization import dumps, loads

from domain.commands import Command
from tests.support.commands import make_command
from infra.redis.wire import CONTENT_TYPE, SERIALIZER, UnencodableCommand, encode_command


def command(n: int, body) -> Command:
    return make_command("user.patch", body, id=f"c{n}", deadline=0.0, reply_to="inbox", resource_id="u")


def nested(depth: int):
    value: object = "x"
    for _ in range(depth):
        value = {"v": value}
    return value


def test_a_batch_is_the_encoded_commands_spliced_together():
    commands = [command(1, {"Operations": [{"op": "add", "value": nested(20)}]}), command(2, {"a": "é"})]
    content_type, encoding, body = dumps(((([encode_command(c) for c in commands]),), {"batch_id": "b"}, {}),
                                         serializer=SERIALIZER)
    assert content_type == CONTENT_TYPE
    args, kwargs, _ = loads(body, content_type, encoding)
    assert [Command.from_wire(item) for item in args[0]] == commands
    assert kwargs == {"batch_id": "b"}


def test_a_command_too_deep_to_encode_fails_alone_before_anything_is_queued():
    with pytest.raises(UnencodableCommand):
        encode_command(command(1, nested(1000)))
    encode_command(command(2, nested(30)))  # its neighbours are unaffected


def test_a_body_that_cannot_be_decoded_becomes_a_marked_empty_batch_not_a_logged_error():
    args, kwargs, _ = loads(b'[[["tenant document", ', CONTENT_TYPE, "binary")
    assert args == () and kwargs == {"undecodable": True}
