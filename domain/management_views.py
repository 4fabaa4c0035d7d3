"""The management read model: its port (``ManagementViews``, SQL in
``infra.store.management_views``) and its paging (``Page``, checked by ``page_of``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.management_errors import InvalidRequest

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_PAGE = 2**40  # keeps (page - 1) * pageSize inside a 64-bit OFFSET


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_of(page, page_size) -> Page:
    try:
        number = 1 if page in (None, "") else int(page)
        size = DEFAULT_PAGE_SIZE if page_size in (None, "") else int(page_size)
    except (TypeError, ValueError):
        raise InvalidRequest("page and pageSize must be integers") from None
    if not 1 <= number <= MAX_PAGE:
        raise InvalidRequest(f"page must be between 1 and {MAX_PAGE}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
    return Page(number, size)


FIRST_PAGE = Page(1, DEFAULT_PAGE_SIZE)


class ManagementViews(Protocol):
    """The read model: what the API and the CLI show (one page at a time, counts in the store)."""

    def counts(self, org_id: str) -> dict: ...
    def users(self, org_id: str, page: Page) -> dict: ...
    def user(self, org_id: str, user_id: str) -> dict | None: ...
    def teams(self, org_id: str, page: Page) -> dict: ...
    def team(self, org_id: str, team_id: str, members: Page) -> dict | None: ...
