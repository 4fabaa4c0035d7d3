"""Listing and searching in the store: index paging (RFC 7644 §3.4.2.4) and cursor paging
(RFC 9865), over one resource type (``/Users``, ``/Groups``) or several (the root ``/.search``).

Every page is one or two SQL queries; nothing is filtered, sorted or counted in Python.

Order. A listing is totally ordered: by ``sortBy`` when given (resources lacking the attribute
last, in either direction, on both backends), then by ``seq`` (creation order). A root search
lists Users, then Groups. Positions are encoded as cursors by ``infra.store.cursors``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false

from domain.errors import InvalidFilter, InvalidValue, ScimError
from domain.filter.ast import AttrPath, Compare, Filter
from domain.filter.parser import parse_filter, parse_patch_path
from domain.listing import ListParams
from infra.store import counts, queries
from infra.store.anchors import ANCHORS
from infra.store.cursors import CursorCodec, Position
from infra.store.filter_sql import compile_filter, sort_column
from infra.store.filter_sql.templates import lookup_template
from infra.store.tables import teams, users

TABLES = {"User": users, "Group": teams}
ENDPOINTS = {"User": "Users", "Group": "Groups"}  # what a cursor is bound to (with org, filter, sort)


async def list_page(conn, org_id: str, resource_types: list[str], params: ListParams, *, cursor_key: bytes | None,
                    cursor_timeout: int) -> "Page":
    """One page of the organization's resources of ``resource_types`` (in that order): by index,
    or, when ``params.cursor`` is not None, by cursor (signed with ``cursor_key``)."""
    flt = parse_filter(params.filter) if params.filter else None
    if flt is not None and params.cursor is None and not params.sort_by and len(resource_types) == 1:
        kind = resource_types[0]
        template = lookup_template(kind, flt, conn.dialect.name)
        if template is not None:  # attr eq "value": the lookups IdPs make
            assert isinstance(flt, Compare) and isinstance(flt.value, str)
            total, rows = await queries.lookup_page(conn, TABLES[kind], org_id, template, flt.value,
                                                    params.start_index - 1, params.count)
            source = Source(kind, template.where, queries.ordering(TABLES[kind]))
            return Page([(source, row) for row in rows], total=total, start_index=params.start_index)
    sources = compile_sources(resource_types, flt, params, conn.dialect.name)
    if params.cursor is None:
        return await index_page(conn, org_id, sources, params.start_index, params.count)
    assert cursor_key is not None
    codec = CursorCodec(cursor_key, org_id, "/".join(ENDPOINTS[t] for t in resource_types), params, timeout=cursor_timeout)
    return await cursor_page(conn, org_id, sources, codec, params.cursor, params.count)


# ============================================================================ sources


@dataclass(frozen=True)
class Source:
    """One resource type's part of a listing: its table, WHERE and ORDER."""

    resource_type: str  # "User" | "Group"
    where: ColumnElement | None
    order: queries.Ordering

    @property
    def table(self):
        return TABLES[self.resource_type]


def _sort_path(text: str) -> AttrPath:
    try:
        return parse_patch_path(text).attr
    except ScimError as error:
        raise InvalidValue(f"sortBy {text!r} is not an attribute path: {error.detail}") from None


def compile_sources(resource_types: list[str], flt: Filter | None, params: ListParams, dialect: str) -> list[Source]:
    """Compile the filter ``flt`` (parsed from ``params.filter``) and the sort of ``params`` for
    each resource type.

    With several types (root search), a filter or sortBy that names an attribute one type lacks
    matches nothing in (or does not sort) that type, as long as it is valid for at least one.
    A bad sortBy is 400 ``invalidValue``: RFC 7644 §3.4.2.3 names no error of its own, it is not
    a filter (``invalidFilter``) nor a PATCH path (``invalidPath``), and §3.12 has
    ``invalidValue`` for a value that does not fit the operation.
    """
    path = _sort_path(params.sort_by) if params.sort_by else None
    sources: list[Source] = []
    filter_errors: list[ScimError] = []
    sort_errors: list[ScimError] = []
    for kind in resource_types:
        where = None
        if flt is not None:
            try:
                where = compile_filter(kind, flt, dialect)
            except InvalidFilter as error:
                filter_errors.append(error)
                where = false()
        key = None
        if path is not None:
            try:
                key = sort_column(kind, path, dialect)
            except InvalidFilter as error:
                sort_errors.append(error)
        sources.append(Source(kind, where, queries.ordering(TABLES[kind], key, params.descending)))
    if filter_errors and len(filter_errors) == len(resource_types):
        raise filter_errors[0]
    if sort_errors and len(sort_errors) == len(resource_types):
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
    if len(sources) == 1 and sources[0].where is None and len(sources[0].order) == 1 and count > 0:
        return await _whole_tenant_page(conn, org_id, sources[0], start_index, count)
    offset, remaining, total, rows = start_index - 1, count, 0, []
    for source in sources:
        table = source.table
        known = (await counts.totals(conn, org_id, source.resource_type))[0] if source.where is None else None
        found, part = await queries.page(conn, table, org_id, source.where, source.order, max(0, offset - total),
                                         remaining, known)
        rows += [(source, row) for row in part]
        remaining -= len(part)
        total += found
    return Page(rows, total=total, start_index=start_index)


async def _whole_tenant_page(conn, org_id: str, source: Source, start_index: int, count: int) -> Page:
    """A page of all of one type in creation order (an IdP's import): it starts where the page
    before it ended (``anchors``) when this process served that page since the last deletion."""
    kind = source.resource_type
    total, removed = await counts.totals(conn, org_id, kind)
    after = ANCHORS.seq_at(org_id, kind, removed, start_index - 1) if start_index > 1 else None
    if start_index == 1 or after is not None:
        rows = await queries.keyset(conn, source.table, org_id, None, source.order,
                                    None if after is None else [after], count)
    else:
        _, rows = await queries.page(conn, source.table, org_id, None, source.order, start_index - 1, count, total)
    if rows:
        if after is None and start_index > 1:  # walked to: the same page asked again starts here
            ANCHORS.remember(org_id, kind, removed, start_index - 1, rows[0].seq - 1)
        ANCHORS.remember(org_id, kind, removed, start_index - 1 + len(rows), rows[-1].seq)
    return Page([(source, row) for row in rows], total=total, start_index=start_index)


async def cursor_page(conn, org_id: str, sources: list[Source], codec: CursorCodec, cursor: str, count: int) -> Page:
    """RFC 9865: ``count`` results after the position of ``cursor`` ("" for the first page)."""
    position = codec.decode(cursor, sources) if cursor else None
    if count <= 0:
        total = 0
        for source in sources:
            total += (await counts.totals(conn, org_id, source.resource_type))[0] if source.where is None else (
                await queries.count(conn, source.table, org_id, source.where))
        return Page([], total=total)
    backward = position is not None and position.backward
    found: list = []
    need = count + 1  # one more than asked tells whether there is a further page
    if not backward:
        start = position.phase if position else 0
        for phase in range(start, len(sources)):
            source = sources[phase]
            after = position.values if position and phase == start else None
            rows = await queries.keyset(conn, source.table, org_id, source.where, source.order, after, need)
            found += [(phase, row) for row in rows]
            need -= len(rows)
            if need <= 0:
                break
        more_ahead, more_behind = len(found) > count, position is not None
        found = found[:count]
    else:
        assert position is not None  # backward is only ever set from a position
        for phase in range(position.phase, -1, -1):
            source = sources[phase]
            before = position.values if phase == position.phase else None
            rows = await queries.keyset(
                conn, source.table, org_id, source.where, source.order, before, need, backward=True
            )
            found = [(phase, row) for row in rows] + found
            need -= len(rows)
            if need <= 0:
                break
        more_ahead, more_behind = True, len(found) > count
        found = found[-count:]

    def at(phase: int, row, backward: bool) -> str:
        return codec.encode(Position(phase, queries.position_of(row, sources[phase].order), backward))

    page = Page([(sources[phase], row) for phase, row in found])
    if found:
        if more_ahead:
            page.next_cursor = at(found[-1][0], found[-1][1], False)
        if more_behind:
            page.previous_cursor = at(found[0][0], found[0][1], True)
    elif position is not None:
        # Nothing on this side of the position any more: point back the way the client came.
        turned = codec.encode(Position(position.phase, position.values, not position.backward))
        if position.backward:
            page.next_cursor = turned
        else:
            page.previous_cursor = turned
    return page
