"""Concurrent writes from several organizations, each request and its answer written down.

Every organization has several clients; each client owns disjoint resources (the users and the
Team it created) and sends its operations one after another, as an IdP's provisioning job does:
creates of users, PATCHes that set a user's ``displayName`` to a value never used before, a Team
create, and adds and removes of its own users in its Team. Each request carries its own
``X-Request-Id`` and goes to the next ingress in turn (round-robin, as behind a load balancer).

Each answer is recorded as a ``Request``:

- ``ok`` (2xx) or ``error`` (any other HTTP status: 503, 4xx, 500 ...);
- ``refused``: the TCP connection was refused (the ingress was down), so nothing was sent;
- ``unknown``: the connection broke or timed out after the request went out (its ingress died):
  the write may or may not have been applied.

Connections are not reused (one per request), so a dead ingress means "refused" for a new
request and "unknown" only for the requests it had received.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
import orjson

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"

CREATE_USER = "create_user"
PATCH_USER = "patch_user"
CREATE_TEAM = "create_team"
ADD_MEMBER = "add_member"
REMOVE_MEMBER = "remove_member"
WRITES = (CREATE_USER, PATCH_USER, CREATE_TEAM, ADD_MEMBER, REMOVE_MEMBER)

OK = "ok"
ERROR = "error"
REFUSED = "refused"
UNKNOWN = "unknown"

# A client patches and moves only its most recent users, so each user sees many writes.
ACTIVE_USERS = 6


@dataclass
class Request:
    """One write and what its client learnt about it."""

    request_id: str
    org_id: str
    client: str  # "<org index>.<client index>"
    op: str
    ingress: int
    sent: float  # wall clock (time.time()), comparable with command deadlines
    answered: float = 0.0
    outcome: str = ""
    status: int | None = None
    error: str = ""  # the exception's name for refused / unknown
    retry_after: str | None = None  # the Retry-After header of a 503 / 429
    user_name: str | None = None  # creates: the userName or Team displayName claimed
    value: str | None = None  # patch_user: the displayName set
    user_id: str | None = None  # patch_user / member ops: the user; create_user: the id answered
    team_id: str | None = None  # member ops: the Team; create_team: the id answered

    @property
    def latency(self) -> float:
        return self.answered - self.sent

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass
class _ClientState:
    name: str
    org_id: str
    token: str
    rng: random.Random
    users: list = field(default_factory=list)  # ids of users whose create was answered 2xx
    team: str | None = None
    team_tries: int = 0
    members: dict = field(default_factory=dict)  # user id -> believed member (True/False/None)
    counter: itertools.count = field(default_factory=itertools.count)


class LoadGenerator:
    """Runs the clients on an asyncio loop of its own thread; ``start()``, then ``stop()``."""

    def __init__(self, ingress_urls: list[str], orgs: list, *, clients_per_org: int = 3, seed: int = 1,
                 pace: float = 0.02, request_timeout: float = 60.0):
        self.ingress_urls = ingress_urls
        self.orgs = orgs
        self.clients_per_org = clients_per_org
        self.pace = pace
        self.request_timeout = request_timeout
        self.run_id = uuid.uuid4().hex[:8]
        self.requests: list[Request] = []
        self._rng = random.Random(seed)
        self._round_robin = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.started_at = 0.0
        self.stopped_at = 0.0

    # -- control (from any thread) --------------------------------------------------------------

    def start(self) -> "LoadGenerator":
        self.started_at = time.time()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="faults-load", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop sending; wait for every request in flight to be answered (or to time out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.request_timeout + 10)
        self.stopped_at = time.time()

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def answered_since(self, since: float, *, ingress: int | None = None) -> list[Request]:
        """2xx writes answered after ``since`` (through ingress ``ingress`` if given)."""
        return [
            r for r in self.snapshot()
            if r.outcome == OK and r.answered >= since and (ingress is None or r.ingress == ingress)
        ]

    # -- the clients ----------------------------------------------------------------------------

    async def _main(self) -> None:
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            clients = [
                _ClientState(f"{o}.{c}", org.id, org.token, random.Random(self._rng.random()))
                for o, org in enumerate(self.orgs)
                for c in range(self.clients_per_org)
            ]
            await asyncio.gather(*(self._client(session, state) for state in clients))

    async def _client(self, session: aiohttp.ClientSession, state: _ClientState) -> None:
        while not self._stop.is_set():
            await self._one(session, state)
            if self.pace:
                await asyncio.sleep(state.rng.uniform(0, 2 * self.pace))

    def _choose(self, state: _ClientState) -> str:
        rng = state.rng
        if not state.users:
            return CREATE_USER
        if state.team is None and state.team_tries < 20 and rng.random() < 0.3:
            return CREATE_TEAM
        roll = rng.random()
        if roll < 0.25:
            return CREATE_USER
        if roll < 0.6 or state.team is None:
            return PATCH_USER
        return ADD_MEMBER  # or remove: decided by what the client believes about the member

    async def _one(self, session: aiohttp.ClientSession, state: _ClientState) -> None:
        n = next(state.counter)
        op = self._choose(state)
        ingress = next(self._round_robin) % len(self.ingress_urls)
        base = f"{self.ingress_urls[ingress]}/scim/v2/{state.org_id}"
        request = Request(f"{self.run_id}-{state.name}-{n}", state.org_id, state.name, op, ingress, 0.0)
        if op == CREATE_USER:
            request.user_name = f"u{n}.c{state.name}.{self.run_id}@example.com"
            method, url, body = "POST", f"{base}/Users", {
                "schemas": [USER_SCHEMA], "userName": request.user_name, "active": True,
                "name": {"givenName": "Fault", "familyName": f"Client {state.name}"},
                "emails": [{"primary": True, "value": request.user_name, "type": "work"}],
                "displayName": f"initial {request.request_id}",
            }
        elif op == CREATE_TEAM:
            state.team_tries += 1
            request.user_name = f"team c{state.name} {self.run_id} {n}"
            method, url, body = "POST", f"{base}/Groups", {
                "schemas": [GROUP_SCHEMA], "displayName": request.user_name, "members": [],
            }
        elif op == PATCH_USER:
            request.user_id = state.rng.choice(state.users[-ACTIVE_USERS:])
            request.value = f"v {request.request_id}"
            method, url, body = "PATCH", f"{base}/Users/{request.user_id}", {
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "path": "displayName", "value": request.value}],
            }
        else:
            user = state.rng.choice(state.users[-ACTIVE_USERS:])
            believed = state.members.get(user, False)
            if believed is None:
                believed = state.rng.random() < 0.5
            op = request.op = REMOVE_MEMBER if believed else ADD_MEMBER
            request.user_id, request.team_id = user, state.team
            operation = (
                {"op": "remove", "path": f'members[value eq "{user}"]'} if believed
                else {"op": "add", "path": "members", "value": [{"value": user}]}
            )
            method, url, body = "PATCH", f"{base}/Groups/{state.team}", {
                "schemas": [PATCH_SCHEMA], "Operations": [operation],
            }
        headers = {
            "Authorization": f"Bearer {state.token}", "Content-Type": SCIM_JSON,
            "X-Request-Id": request.request_id, "User-Agent": "scimgate-faults/1",
        }
        with self._lock:
            self.requests.append(request)
        request.sent = time.time()
        answer: dict | None = None
        try:
            async with session.request(method, url, data=orjson.dumps(body), headers=headers) as response:
                raw = await response.read()
                request.status = response.status
                request.outcome = OK if 200 <= response.status < 300 else ERROR
                if response.status in (429, 503):
                    request.retry_after = response.headers.get("Retry-After", "")
                if raw and request.outcome == OK:
                    try:
                        answer = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        answer = None
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            request.outcome, request.error = REFUSED, type(exc).__name__
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            request.outcome, request.error = UNKNOWN, type(exc).__name__
        request.answered = time.time()
        self._learn(state, request, answer)

    @staticmethod
    def _learn(state: _ClientState, request: Request, answer: dict | None) -> None:
        """What the client believes afterwards (it only acts on what it was told)."""
        if request.op == CREATE_USER and request.outcome == OK and answer:
            request.user_id = answer.get("id")
            if request.user_id:
                state.users.append(request.user_id)
        elif request.op == CREATE_TEAM and request.outcome == OK and answer:
            request.team_id = answer.get("id")
            state.team = request.team_id or state.team
        elif request.op in (ADD_MEMBER, REMOVE_MEMBER):
            if request.outcome == OK:
                state.members[request.user_id] = request.op == ADD_MEMBER
            elif request.outcome == UNKNOWN:
                state.members[request.user_id] = None
