"""Building commands in tests: a kind name and what it carries, the envelope filled in."""

from __future__ import annotations

import itertools
import time

from domain.commands import BY_KIND, Actor, Command, _Patches, _Writes

_ids = itertools.count()


def make_command(kind: str, body=None, *, id: str | None = None, org_id: str = "org", actor: Actor | None = None,
                 request_id: str = "req", deadline: float | None = None, reply_to: str = "r", **fields) -> Command:
    """A command of ``kind`` (``user.create``…): ``body`` is the resource for a create or a
    replace, the PatchOp for a patch; ``fields`` are the kind's other fields."""
    command_type = BY_KIND[kind]
    if body is not None:
        if issubclass(command_type, _Patches):
            fields["operations"] = body
        elif issubclass(command_type, _Writes):
            fields["body"] = body
    return command_type(
        id=id or f"cmd-{next(_ids)}-{time.time_ns()}", org_id=org_id, actor=actor or Actor("tok"),
        request_id=request_id, deadline=time.time() + 30 if deadline is None else deadline, reply_to=reply_to,
        **fields,
    )
