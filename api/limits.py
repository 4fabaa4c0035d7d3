"""Request budgets of the ingress: per organization and per source address, answered 429.

Every request under ``/scim/v2/{org}`` and ``/api/v1/`` passes ``rate_limits``, an aiohttp
middleware (so no handler can skip it), before its handler runs:

- With a token of the URL's organization (any role; the same cached lookup the handler's auth
  step makes next) it takes a token from that organization's **read** or **write** budget
  (``SCIMGATE_ORG_READ_*`` / ``SCIMGATE_ORG_WRITE_*``). GET and a ``.search`` POST are reads;
  every other method is a write (a Bulk request is one).
- Without one (no token, an unknown token, another organization's: it is going to be refused)
  it takes a token from its **source address**'s refusal budget (``SCIMGATE_SOURCE_REFUSAL_*``).
  A token of the organization that is refused all the same (Member role on SCIM, SCIM off, Team
  tier) takes one when its refusal is audited (``admit_refusal``).
- Past a budget the answer is ``429`` with ``Retry-After`` (whole seconds, at least 1) and an
  RFC 7644 error body (the management API's JSON error under ``/api/v1/``) naming the budget.
  A refusal answered 429 is not audited: a source's are counted, and reported in one
  ``scim:auth:throttled`` event per source per ``SCIMGATE_REFUSAL_SUMMARY_SECONDS``, with the
  count, so nobody can flood the audit stream.

A request with a token of the organization never touches a source's budget: IdPs send many
tenants' traffic from shared addresses (Okta's egress IPs), and one tenant's stale token must not
throttle another's traffic. If the token lookup itself fails (store down), the request goes on to
its handler unlimited, whose auth step answers the outage.

The budgets live in each ingress process's memory (N ingress processes allow a client that
spreads over all of them up to N × a rate), in LRUs of buckets (``domain.ratelimit``), so memory
stays bounded whatever the number of organizations and sources. IPv6 sources are keyed by /64.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import orjson
from aiohttp import web
from prometheus_client import Counter

from api.auth import bearer_token
from api.keys import AUTHENTICATOR, REDIS, SETTINGS
from api.origin import client_ip
from api.responses import error_response
from domain import events as ev
from domain.errors import ScimError
from domain.ratelimit import Budget, Buckets, RefusalTally, RefusalWindow, retry_after, source_key
from infra.config import Settings
from infra.logging import get_logger
from infra.redis.audit_stream import AuditStream
from infra.store.clock import utcnow

log = get_logger(__name__)

RATE_LIMITED = Counter("scimgate_rate_limited_total", "Requests answered 429, by budget", ["budget"])

SCIM_PREFIX = "/scim/v2/"
API_PREFIX = "/api/v1/"
ORGS_PREFIX = "/api/v1/organizations/"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ORG_READ = "org_read"
ORG_WRITE = "org_write"
SOURCE_REFUSAL = "source_refusal"

# What the middleware leaves on the request for ``admit_refusal``: one mutable object, so that a
# request ``lenient_paths`` re-dispatches as a clone (whose state is a shallow copy) shares it.
_ADMISSION = "scimgate.limits.admission"


@dataclass
class Admission:
    limits: "Limits"
    budget: str  # the budget the request was charged to: ORG_READ | ORG_WRITE | SOURCE_REFUSAL
    throttled: float | None = None  # refused past the source's budget: seconds until it has a token


def client_address(request: web.Request) -> str:
    """The client's address (behind trusted proxies, the one they forward)."""
    return client_ip(request)


def _scope(request: web.Request) -> tuple[str, str] | None:
    """``(kind, organization id)`` of a limited request (``scim`` or ``api``), None for others."""
    path = request.path
    if path.startswith(SCIM_PREFIX):
        kind, rest = "scim", path[len(SCIM_PREFIX):]
    elif path.startswith(ORGS_PREFIX):
        kind, rest = "api", path[len(ORGS_PREFIX):]
    elif path.startswith(API_PREFIX):
        kind, rest = "api", ""
    else:
        return None
    org_id = request.match_info.get("org_id")
    if org_id is None:  # not routed yet (``lenient_paths`` re-dispatches ``//Users``) or no route
        org_id = rest.split("/", 1)[0]
    return kind, org_id


def is_write(request: web.Request) -> bool:
    if request.method in READ_METHODS:
        return False
    return not (request.method == "POST" and request.path.rstrip("/").endswith("/.search"))


class Limits:
    def __init__(self, settings: Settings, *, clock=time.monotonic):
        self.settings = settings
        self.clock = clock
        self.budgets = {
            ORG_READ: Budget(settings.org_read_rate, settings.org_read_burst),
            ORG_WRITE: Budget(settings.org_write_rate, settings.org_write_burst),
            SOURCE_REFUSAL: Budget(settings.source_refusal_rate, settings.source_refusal_burst),
        }
        self.buckets = {name: Buckets(budget, clock=clock) for name, budget in self.budgets.items()}
        # At least a second: the summaries exist to keep the stream small.
        self.tally = RefusalTally(max(1.0, settings.refusal_summary_seconds), clock=clock)
        self._app: web.Application | None = None
        self._reporter: asyncio.Task | None = None

    # -- the middleware -----------------------------------------------------------------------

    async def handle(self, request: web.Request, handler):
        scope = _scope(request)
        if scope is None:
            return await handler(request)
        kind, org_id = scope
        try:
            authorised = await self._has_org_token(request, org_id)
        except Exception:  # the store is unreachable: the handler's auth step answers that
            return await handler(request)
        if authorised:
            budget = ORG_WRITE if is_write(request) else ORG_READ
            wait = self.buckets[budget].take(org_id)
        else:
            budget = SOURCE_REFUSAL
            wait = self.buckets[budget].take(self.source(request))
            if wait:
                self._count_throttled(request, org_id)
        if wait:
            return self._too_many(kind, budget, wait)
        admission = request[_ADMISSION] = Admission(self, budget)
        try:
            response = await handler(request)
        except Exception:
            if admission.throttled is not None:
                return self._too_many(kind, SOURCE_REFUSAL, admission.throttled)
            raise
        if admission.throttled is not None:
            return self._too_many(kind, SOURCE_REFUSAL, admission.throttled)
        return response

    @staticmethod
    def source(request: web.Request) -> str:
        return source_key(client_address(request))

    @staticmethod
    async def _has_org_token(request: web.Request, org_id: str) -> bool:
        token = bearer_token(request.headers.get("Authorization"))
        if token is None or not org_id:
            return False
        grant = await request.config_dict[AUTHENTICATOR].grant_for(token)
        return grant is not None and grant.org.id == org_id

    def admit_refusal(self, request: web.Request, admission: Admission) -> bool:
        """Whether a refusal is audited on its own. A request without a token of the organization
        paid for it on the way in; one with such a token pays now, and past the source's budget
        is answered 429 and only counted."""
        if admission.budget == SOURCE_REFUSAL:
            return True
        wait = self.buckets[SOURCE_REFUSAL].take(self.source(request))
        if not wait:
            return True
        admission.throttled = wait
        self._count_throttled(request, request.match_info.get("org_id"))
        return False

    def _too_many(self, kind: str, budget: str, wait: float) -> web.Response:
        RATE_LIMITED.labels(budget).inc()
        seconds = retry_after(wait)
        limit = self.budgets[budget]
        what = {
            ORG_READ: "Too many read requests for this organization",
            ORG_WRITE: "Too many write requests for this organization",
            SOURCE_REFUSAL: "Too many unauthenticated or refused requests from this address",
        }[budget]
        message = (f"{what} (budget {budget}: {limit.rate:g}/s, bursts of {limit.size:g}, per server); "
                   f"retry after {seconds} s")
        headers = {"Retry-After": str(seconds)}
        if kind == "scim":
            return error_response(ScimError(message, status=429), headers)
        body = {"error": {"status": 429, "code": "rate_limited", "message": message}}
        return web.Response(body=orjson.dumps(body), status=429, headers=headers, content_type="application/json",
                            charset="utf-8")

    # -- summaries of throttled refusals ----------------------------------------------------------

    def _count_throttled(self, request: web.Request, org_id: str | None) -> None:
        self.tally.note(self.source(request), ev.event_org_id(org_id) if org_id else None)
        self._app = request.app
        if self._reporter is None or self._reporter.done():
            self._reporter = asyncio.get_running_loop().create_task(self._report())

    async def _report(self) -> None:
        """Publish each source's summary when its window closes; ends when no window is open."""
        while (due_at := self.tally.next_due()) is not None:
            await asyncio.sleep(max(0.0, due_at - self.clock()) + 0.01)
            for window in self.tally.due():
                await self._publish_summary(window)

    async def _publish_summary(self, window: RefusalWindow) -> None:
        opened = utcnow() - timedelta(seconds=max(0.0, self.clock() - window.opened))
        event = ev.EVENTS.throttled(source=window.source, count=window.count, org_ids=window.org_ids, since=opened)
        try:
            app = self._app
            assert app is not None, "a throttled request was seen first"
            await AuditStream.from_settings(app[SETTINGS]).publish_async(app[REDIS], event.to_dict())
        except Exception as exc:  # a lost summary must not stop the next ones
            log.warning("throttle_summary_failed", error=str(exc), source=window.source, count=window.count)


def rate_limits(settings: Settings):
    """The middleware (one ``Limits`` per application, i.e. per ingress process)."""
    limits = Limits(settings)

    @web.middleware
    async def middleware(request: web.Request, handler):
        return await limits.handle(request, handler)

    return middleware


def admit_refusal(request: web.Request) -> bool:
    """Whether to audit this refusal on its own (see ``Limits.admit_refusal``)."""
    admission = request.get(_ADMISSION)
    return True if admission is None else admission.limits.admit_refusal(request, admission)
