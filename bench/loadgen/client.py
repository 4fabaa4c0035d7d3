"""The SCIM requests the load generator sends, over one shared aiohttp session."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import aiohttp
import orjson

from bench.loadgen.measure import Outcome

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


class Scim:
    def __init__(self, session: aiohttp.ClientSession, base_url: str):
        self.session = session
        self.base = base_url.rstrip("/")
        self.run_id = uuid.uuid4().hex[:8]
        self._counter = 0

    def next_user_name(self, tag: str) -> str:
        self._counter += 1
        return f"bench-{self.run_id}-{tag}-{self._counter}@example.com"

    @staticmethod
    def user_document(user_name: str, external_id: str | None = None) -> dict:
        """The body of every user the bench creates (over HTTP or straight into a store)."""
        given, family = user_name.split("@", 1)[0].rsplit("-", 1)
        return {
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            **({"externalId": external_id} if external_id else {}),
            "name": {"givenName": given, "familyName": f"N{family}"},
            "emails": [{"value": user_name, "type": "work", "primary": True}],
            "active": True,
        }

    @classmethod
    def user_body(cls, user_name: str, external_id: str | None = None) -> bytes:
        return orjson.dumps(cls.user_document(user_name, external_id))

    async def create_user(self, user_name: str, external_id: str | None = None) -> tuple[Outcome, str | None]:
        async with self.session.post(f"{self.base}/Users", data=self.user_body(user_name, external_id)) as response:
            body = await response.read()
            if response.status == 201:
                return Outcome(201, True), orjson.loads(body)["id"]
            return Outcome(response.status, False), None

    async def lookup(self, user_name: str) -> Outcome:
        flt = quote(f'userName eq "{user_name}"', safe="")
        async with self.session.get(f"{self.base}/Users?filter={flt}") as response:
            body = await response.read()
            if response.status != 200:
                return Outcome(response.status, False)
            total = orjson.loads(body).get("totalResults")
            return Outcome(200, True) if total == 1 else Outcome(f"200 totalResults={total}", False)

    async def count_by_external_id(self, external_id: str) -> tuple[Outcome, int | None]:
        """``GET /Users?filter=externalId eq "…"``: Entra's "does this user exist yet" probe."""
        flt = quote(f'externalId eq "{external_id}"', safe="")
        async with self.session.get(f"{self.base}/Users?filter={flt}") as response:
            body = await response.read()
            if response.status != 200:
                return Outcome(response.status, False), None
            return Outcome(200, True), orjson.loads(body).get("totalResults")

    async def list_page(self, query: str) -> tuple[Outcome, dict]:
        """``GET /Users?<query>`` (a page by ``startIndex`` or by ``cursor``); the ListResponse ({} if not 200)."""
        async with self.session.get(f"{self.base}/Users?{query}") as response:
            body = await response.read()
            if response.status != 200:
                return Outcome(response.status, False), {}
            return Outcome(200, True), orjson.loads(body)

    async def create_group(self, display_name: str) -> str:
        body = orjson.dumps({"schemas": [GROUP_SCHEMA], "displayName": display_name})
        async with self.session.post(f"{self.base}/Groups", data=body) as response:
            text = await response.read()
            if response.status != 201:
                raise RuntimeError(f"POST /Groups answered {response.status}: {text[:300]!r}")
            return orjson.loads(text)["id"]

    async def patch_members(self, group_id: str, op: str, user_id: str | list[str]) -> Outcome:
        """Add one user (or a list of users) to a Group, or remove one by valuePath."""
        if op == "add":
            ids = [user_id] if isinstance(user_id, str) else user_id
            operation = {"op": "add", "path": "members", "value": [{"value": uid} for uid in ids]}
        else:
            operation = {"op": "remove", "path": f'members[value eq "{user_id}"]'}
        body = orjson.dumps({"schemas": [PATCH_SCHEMA], "Operations": [operation]})
        async with self.session.patch(f"{self.base}/Groups/{group_id}", data=body) as response:
            await response.read()
            return Outcome(response.status, response.status in (200, 204))

    async def group_member_ids(self, group_id: str) -> tuple[int, set[str] | None]:
        async with self.session.get(f"{self.base}/Groups/{group_id}") as response:
            body = await response.read()
            if response.status != 200:
                return response.status, None
            return 200, {member["value"] for member in orjson.loads(body).get("members", [])}
