"""Listing and searching: index paging (RFC 7644 §3.4.2.4) and cursor paging (RFC 9865), over
one resource type (``/Users``, ``/Groups``) or several (the root ``/.search``).

Every page is one or two SQL queries; nothing is filtered, sorted or counted in Python.

Order. A listing is totally ordered: by ``sortBy`` when given (resources lacking the attribute
last, in either direction, on both backends), then by ``seq`` (creation order). A root search
lists Users, then Groups.

Cursors (RFC 9865). A cursor is a keyset position: the ordering values of the row it continues
after (or before, for ``previousCursor``), so a client paging while resources are deleted or
created never skips one that existed the whole time and never sees one twice. It is opaque and
tamper-evident (base64url JSON plus a truncated HMAC-SHA256, only RFC 3986 unreserved
characters), bound to the organization, the endpoint, the filter and the sort, and expires after
``cursor_timeout`` seconds (``expiredCursor``). Anything else is ``invalidCursor``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import orjson
from aiohttp import web
from sqlalchemy import ColumnElement, false

from api.keys import REDIS, SETTINGS
from domain.errors import InvalidFilter, InvalidValue, ScimError, Unavailable
from domain.limits import MAX_CURSOR_LENGTH
from domain.filter.ast import AttrPath
from domain.filter.parser import parse_filter, parse_patch_path
from infra.config import Settings
from infra.logging import get_logger
from infra.store import queries
from infra.store.filter_sql import compile_filter, sort_column


log = get_logger(__name__)


class InvalidCursor(ScimError):
    scim_type = "invalidCursor"


class ExpiredCursor(ScimError):
    scim_type = "expiredCursor"


#: The Redis key of the random cursor secret shared by every ingress of a deployment.
CURSOR_SECRET_KEY = "scimgate:cursor-secret"


class CursorKey:
    """The HMAC key of cursors: from ``SCIMGATE_CURSOR_SECRET`` when set; otherwise a random
    32-byte secret kept in Redis (``SET … NX`` by whichever ingress starts first, then ``GET``),
    so that every ingress process of one deployment accepts the others' cursors and nobody can
    forge one from what they know of the deployment. Fetched once and cached for the process.
    (Integrity, not confidentiality: a cursor only ever positions a listing the caller's token
    may read anyway, and it is checked against the URL's organization.)"""

    def __init__(self, settings: Settings, redis):
        self._redis = redis
        self._key = _derive(settings.cursor_secret.encode()) if settings.cursor_secret else None

    async def get(self) -> bytes:
        if self._key is None:
            try:
                async with asyncio.timeout(5):
                    self._key = _derive(await _shared_secret(self._redis))
            except Exception as exc:  # Redis down: no cursor can be checked or made right now
                log.warning("cursor_secret_unavailable", error=str(exc)[:200])
                raise Unavailable(
                    "Cursor paging is unavailable for a moment; retry the request", headers={"Retry-After": "5"}
                ) from None
        return self._key


def _derive(secret: bytes) -> bytes:
    return hashlib.sha256(b"scimgate-cursor:" + secret).digest()


async def _shared_secret(redis) -> bytes:
    for _ in range(3):
        await redis.set(CURSOR_SECRET_KEY, secrets.token_hex(32), nx=True)
        value = await redis.get(CURSOR_SECRET_KEY)
        if value:
            return value if isinstance(value, bytes) else value.encode()
    raise RuntimeError(f"{CURSOR_SECRET_KEY} could not be read back from Redis")


CURSOR_KEY = web.AppKey("cursor_key", CursorKey)


async def cursor_key_context(app: web.Application):
    """aiohttp ``cleanup_ctx``: fetch the cursor key at ingress start (or on first use, if Redis
    is not reachable yet)."""
    holder = CursorKey(app[SETTINGS], app[REDIS])
    try:
        await holder.get()
    except Unavailable:
        pass  # logged; the first cursor request tries again
    app[CURSOR_KEY] = holder
    yield


# ============================================================================ sources


@dataclass(frozen=True)
class Source:
    """One resource type's part of a listing: its table, WHERE and ORDER."""

    kind: object  # api.resources.ResourceKind (name, endpoint, table, …)
    where: ColumnElement | None
    order: queries.Ordering


def _sort_path(text: str) -> AttrPath:
    try:
        return parse_patch_path(text).attr
    except ScimError as error:
        raise InvalidValue(f"sortBy {text!r} is not an attribute path: {error.detail}") from None


def compile_sources(kinds: list, params, dialect: str) -> list[Source]:
    """Compile the filter and sort of ``params`` for each resource type.

    With several types (root search), a filter or sortBy that names an attribute one type lacks
    matches nothing in (or does not sort) that type, as long as it is valid for at least one.
    A bad sortBy is 400 ``invalidValue``: RFC 7644 §3.4.2.3 names no error of its own, it is not
    a filter (``invalidFilter``) nor a PATCH path (``invalidPath``), and §3.12 has
    ``invalidValue`` for a value that does not fit the operation.
    """
    flt = parse_filter(params.filter) if params.filter else None
    path = _sort_path(params.sort_by) if params.sort_by else None
    sources: list[Source] = []
    filter_errors: list[ScimError] = []
    sort_errors: list[ScimError] = []
    for kind in kinds:
        where = None
        if flt is not None:
            try:
                where = compile_filter(kind.name, flt, dialect)
            except InvalidFilter as error:
                filter_errors.append(error)
                where = false()
        key = None
        if path is not None:
            try:
                key = sort_column(kind.name, path, dialect)
            except InvalidFilter as error:
                sort_errors.append(error)
        sources.append(Source(kind, where, queries.ordering(kind.table, key, params.descending)))
    if filter_errors and len(filter_errors) == len(kinds):
        raise filter_errors[0]
    if sort_errors and len(sort_errors) == len(kinds):
        raise InvalidValue(f"Cannot sort by {params.sort_by}: {sort_errors[0].detail}")
    return sources


# ============================================================================ pages


@dataclass
class Page:
    rows: list  # [(Source, row)]
    total: int | None = None
    start_index: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None


async def index_page(conn, org_id: str, sources: list[Source], start_index: int, count: int) -> Page:
    """RFC 7644 §3.4.2.4: the ``count`` results from the 1-based ``start_index`` on."""
    offset, remaining, total, rows = start_index - 1, count, 0, []
    for source in sources:
        table = source.kind.table
        found, part = await queries.page(conn, table, org_id, source.where, source.order, max(0, offset - total), remaining)
        rows += [(source, row) for row in part]
        remaining -= len(part)
        total += found
    return Page(rows, total=total, start_index=start_index)


@dataclass(frozen=True)
class _Position:
    phase: int  # index of the source
    values: list  # the ordering values of a row of that source
    backward: bool


class CursorCodec:
    def __init__(self, key: bytes, org_id: str, scope: str, params, *, timeout: int):
        self.key = key
        self.org_id = org_id
        self.timeout = timeout
        query = orjson.dumps([scope, params.filter or "", (params.sort_by or "").lower(), params.descending])
        self.binding = hashlib.sha256(query).hexdigest()[:16]

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self.key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, position: _Position) -> str:
        data = {
            "o": self.org_id,
            "q": self.binding,
            "p": position.phase,
            "k": [_to_json(value) for value in position.values],
            "b": 1 if position.backward else 0,
            "t": int(time.time()),
        }
        payload = orjson.dumps(data)
        return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + self._mac(payload)

    def decode(self, text: str, sources: list[Source]) -> _Position:
        """The position a cursor of ours holds; ``invalidCursor`` for anything else: not ours (a
        bad MAC), for another organization, listing, filter or sort, or (if its MAC were ever
        right) a payload of the wrong shape; ``expiredCursor`` past its lifetime."""
        invalid = InvalidCursor(
            "The cursor is invalid: send an empty cursor for the first page, then the nextCursor or "
            "previousCursor of the previous page, with the same filter and sort"
        )
        if len(text) > MAX_CURSOR_LENGTH or not text.isascii():
            raise invalid
        try:
            body, mac = text.split(".")
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, TypeError):
            raise invalid from None
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise invalid
        try:
            data = orjson.loads(payload)
            position, made = self._position(data, sources)
        except (ValueError, TypeError, KeyError, AttributeError):  # orjson.JSONDecodeError is a ValueError
            raise invalid from None
        if time.time() - made > self.timeout:
            raise ExpiredCursor(
                f"The cursor has expired (cursors are valid for {self.timeout} seconds); start again "
                "with an empty cursor"
            )
        return position

    def _position(self, data, sources: list[Source]) -> tuple[_Position, float]:
        """The position and making time of a decoded payload; ValueError/TypeError/KeyError when
        it is not exactly what ``encode`` writes."""
        if not isinstance(data, dict) or data["o"] != self.org_id or data["q"] != self.binding:
            raise ValueError("not this listing's cursor")
        phase, values, backward, made = data["p"], data["k"], data["b"], data["t"]
        if type(phase) is not int or not 0 <= phase < len(sources):
            raise ValueError("phase")
        if type(values) is not list or len(values) != len(sources[phase].order):
            raise ValueError("values")
        if backward not in (0, 1) or type(backward) is not int:
            raise ValueError("direction")
        if type(made) not in (int, float):
            raise ValueError("time")
        decoded = [_from_json(value) for value in values]
        # The order ends with ``seq``; with a sortBy it starts with the "attribute missing" flag.
        if type(decoded[-1]) is not int or (len(decoded) == 3 and decoded[0] not in (0, 1)):
            raise ValueError("keys")
        return _Position(phase, decoded, bool(backward)), made


def _to_json(value):
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    return value


def _from_json(value):
    if isinstance(value, dict):
        if list(value) != ["dt"] or not isinstance(value["dt"], str):
            raise ValueError("not a dateTime")
        moment = datetime.fromisoformat(value["dt"])
        if moment.tzinfo is not None:  # the store's timestamps are naive UTC
            raise ValueError("not a stored dateTime")
        return moment
    if value is not None and type(value) not in (str, int, float, bool):
        raise TypeError("not a scalar")
    return value


async def cursor_page(conn, org_id: str, sources: list[Source], codec: CursorCodec, cursor: str, count: int) -> Page:
    """RFC 9865: ``count`` results after the position of ``cursor`` ("" for the first page)."""
    position = codec.decode(cursor, sources) if cursor else None
    if count <= 0:
        total = 0
        for source in sources:
            total += await queries.count(conn, source.kind.table, org_id, source.where)
        return Page([], total=total)
    backward = position is not None and position.backward
    found: list = []
    need = count + 1  # one more than asked tells whether there is a further page
    if not backward:
        start = position.phase if position else 0
        for phase in range(start, len(sources)):
            source = sources[phase]
            after = position.values if position and phase == start else None
            rows = await queries.keyset(conn, source.kind.table, org_id, source.where, source.order, after, need)
            found += [(phase, row) for row in rows]
            need -= len(rows)
            if need <= 0:
                break
        more_ahead, more_behind = len(found) > count, position is not None
        found = found[:count]
    else:
        for phase in range(position.phase, -1, -1):
            source = sources[phase]
            before = position.values if phase == position.phase else None
            rows = await queries.keyset(
                conn, source.kind.table, org_id, source.where, source.order, before, need, backward=True
            )
            found = [(phase, row) for row in rows] + found
            need -= len(rows)
            if need <= 0:
                break
        more_ahead, more_behind = True, len(found) > count
        found = found[-count:]

    def at(phase: int, row, backward: bool) -> str:
        return codec.encode(_Position(phase, queries.position_of(row, sources[phase].order), backward))

    page = Page([(sources[phase], row) for phase, row in found])
    if found:
        if more_ahead:
            page.next_cursor = at(*found[-1], False)
        if more_behind:
            page.previous_cursor = at(*found[0], True)
    elif position is not None:
        # Nothing on this side of the position any more: point back the way the client came.
        turned = codec.encode(_Position(position.phase, position.values, not position.backward))
        if position.backward:
            page.next_cursor = turned
        else:
            page.previous_cursor = turned
    return page
