"""Reading a whole tenant by index (what Okta's import does) gives exactly what offsets give, page
after page, while each page after the first starts where the one before it ended instead of
walking an offset; a deletion, anywhere, makes the next page find its place afresh."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from domain.listing import ListParams
from domain.provisioning import UserRecord
from infra.store import anchors, queries
from infra.store.engine import make_async_engine
from infra.store.listing import list_page
from infra.store.repositories import SqlUsers
from tests.support.seed import create_organization

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
USERS = 23


@pytest.fixture
def tenant(sync_engine):
    with sync_engine.begin() as conn:
        org = create_organization(conn, "Imported").id
        other = create_organization(conn, "Other").id
        for n in range(USERS):
            SqlUsers(conn).insert(UserRecord(f"u{n:02d}", org, {"userName": f"user{n:02d}"}, 1, NOW, NOW))
            SqlUsers(conn).insert(UserRecord(f"x{n:02d}", other, {"userName": f"user{n:02d}"}, 1, NOW, NOW))
    return sync_engine, org


@pytest.fixture
def async_engine(tenant):
    sync_engine, _ = tenant
    url = sync_engine.url.render_as_string(hide_password=False)
    schema = getattr(sync_engine, "test_schema", None)
    kwargs = {"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}
    return make_async_engine(url, **kwargs)


@pytest.fixture(autouse=True)
def fresh_anchors(monkeypatch):
    monkeypatch.setattr("infra.store.listing.ANCHORS", anchors.Anchors())


def by_index(start_index: int, count: int) -> ListParams:
    return ListParams(filter=None, start_index=start_index, count=count, sort_by=None, descending=False)


@pytest.fixture
def offsets(monkeypatch) -> list[int]:
    """The offsets that index pages walked (an OFFSET query with offset > 0)."""
    walked: list[int] = []
    page = queries.page

    async def spy(conn, table, org_id, where, order, offset, limit, total=None):
        if offset > 0:
            walked.append(offset)
        return await page(conn, table, org_id, where, order, offset, limit, total)

    monkeypatch.setattr(queries, "page", spy)
    return walked


async def read_all(engine, org_id: str, count: int) -> tuple[list[str], list[int]]:
    ids, totals, start = [], [], 1
    while True:
        async with engine.connect() as conn:
            page = await list_page(conn, org_id, ["User"], by_index(start, count),
                                   cursor_key=None, cursor_timeout=60)
        totals.append(page.total)
        ids += [row.id for _, row in page.rows]
        if not page.rows:
            return ids, totals
        start += len(page.rows)


async def test_a_sequential_read_is_exact_and_never_walks_an_offset(tenant, async_engine, offsets):
    _, org = tenant
    try:
        ids, totals = await read_all(async_engine, org, 5)
    finally:
        await async_engine.dispose()
    assert ids == [f"u{n:02d}" for n in range(USERS)]
    assert set(totals) == {USERS}
    assert offsets == []


async def test_a_page_asked_out_of_order_is_found_by_its_offset(tenant, async_engine, offsets):
    _, org = tenant
    try:
        async with async_engine.connect() as conn:
            page = await list_page(conn, org, ["User"], by_index(11, 3),
                                   cursor_key=None, cursor_timeout=60)
    finally:
        await async_engine.dispose()
    assert [row.id for _, row in page.rows] == ["u10", "u11", "u12"] and page.total == USERS
    assert offsets == [10]


async def test_a_page_asked_again_walks_no_offset_the_second_time(tenant, async_engine, offsets):
    _, org = tenant
    pages = []
    try:
        for _ in range(3):
            async with async_engine.connect() as conn:
                pages.append(await list_page(conn, org, ["User"], by_index(11, 3), cursor_key=None, cursor_timeout=60))
    finally:
        await async_engine.dispose()
    assert [[row.id for _, row in page.rows] for page in pages] == [["u10", "u11", "u12"]] * 3
    assert offsets == [10]  # walked once, then started where it began


async def test_after_a_deletion_the_next_page_is_what_offsets_give(tenant, async_engine, offsets):
    sync_engine, org = tenant
    try:
        async with async_engine.connect() as conn:
            first = await list_page(conn, org, ["User"], by_index(1, 5),
                                    cursor_key=None, cursor_timeout=60)
        assert [row.id for _, row in first.rows][-1] == "u04"
        with sync_engine.begin() as conn:
            SqlUsers(conn).delete(org, "u02")  # before the page's end: every later row moves up one
        async with async_engine.connect() as conn:
            second = await list_page(conn, org, ["User"], by_index(6, 5),
                                     cursor_key=None, cursor_timeout=60)
    finally:
        await async_engine.dispose()
    assert [row.id for _, row in second.rows] == ["u06", "u07", "u08", "u09", "u10"]
    assert second.total == USERS - 1
    assert offsets == [5]  # the anchor from before the deletion was not used


def test_the_table_of_anchors_is_bounded():
    table = anchors.Anchors(size=3)
    for position in range(5):
        table.remember("org", "User", 0, position, 100 + position)
    assert [table.seq_at("org", "User", 0, p) for p in range(5)] == [None, None, 102, 103, 104]
    assert table.seq_at("org", "User", 1, 4) is None  # after a deletion: forgotten
