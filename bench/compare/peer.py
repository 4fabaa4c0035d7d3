"""The peer: scim2-server's ASGI application over its in-memory storage, under uvicorn.

``python -m bench.compare.peer --port P`` serves what the ``scim2-server`` command serves (the
default schemas, resource types and service provider configuration of RFC 7643, no token, nothing
durable) at ``/v2``, as an ASGI app (``scim2_server.applications.asgi.ASGIApplication`` over
``AsyncInMemoryStorage``) instead of the command's threaded WSGI server.

For seeding only, the bench adds ``POST /_bench/users`` and ``POST /_bench/members`` beside it:
they put users, and members into a Group, straight into the storage, each through the same
validation a ``POST /Users`` body gets (``ScimService.read_creation``) and the storage's own
``create`` / ``update``, so a large tenant need not be built over HTTP. No workload uses them.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from typing import Any

CONTENT_TYPE = "application/scim+json"


def build_app() -> Any:
    from scim2_models import ScimProvider

    from scim2_server.applications.asgi import ASGIApplication
    from scim2_server.memory import AsyncInMemoryStorage
    from scim2_server.service import ScimService
    from scim2_server.utils import (
        load_default_resource_types,
        load_default_schemas,
        load_default_service_provider_config,
    )

    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(),
        config=load_default_service_provider_config(),
    )
    service = ScimService(provider, secret=os.environ.get("SCIM2_SERVER_SECRET") or secrets.token_urlsafe(32))
    storage = AsyncInMemoryStorage()
    return BenchSeeding(ASGIApplication(storage, provider, service=service), service, storage.storage)


class BenchSeeding:
    """The ASGI app, plus the bench's two seeding routes under ``/_bench/``."""

    def __init__(self, app: Any, service: Any, storage: Any):
        self.app = app
        self.service = service
        self.storage = storage

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/_bench/"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        started = time.perf_counter()
        payload = json.loads(body)
        if scope["path"] == "/_bench/users":
            answer: Any = self.seed_users(payload["users"])
        elif scope["path"] == "/_bench/members":
            answer = self.add_members(payload["group_id"], payload["user_ids"])
        else:
            await _reply(send, 404, {"detail": "no such bench route"})
            return
        await _reply(send, 200, {"result": answer, "seconds": round(time.perf_counter() - started, 3)})

    def seed_users(self, bodies: list[dict]) -> list[str]:
        """Each body as a ``POST /Users`` would store it; returns the ids."""
        user_type = self.service.get_resource_type("User")
        ids = []
        for body in bodies:
            resource = self.service.read_creation(user_type, json.dumps(body).encode(), CONTENT_TYPE)
            ids.append(self.storage.create(user_type, resource).id)
        return ids

    def add_members(self, group_id: str, user_ids: list[str]) -> int:
        """Append members to a stored Group in one update; returns its member count."""
        group_type = self.service.get_resource_type("Group")
        group = self.storage.get(group_type, group_id)
        member = type(group).get_field_root_type("members")
        group.members = [*(group.members or []), *(member(value=uid, type="User") for uid in user_ids)]
        return len(self.storage.update(group_type, group).members or [])


async def _reply(send, status: int, document: dict) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvicorn

    # uvicorn's defaults (uvloop and httptools when installed, as here), without the access log, and
    # idle connections kept as long as aiohttp's server keeps scimgate's (75 s; uvicorn's 5 s would
    # close a pooled connection while the client is sending on it, between two workloads).
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                timeout_keep_alive=75)


if __name__ == "__main__":
    main()
