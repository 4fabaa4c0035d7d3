"""What a client asks of a listing (RFC 7644 §3.4.2, RFC 9865): filter, paging and sort."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListParams:
    filter: str | None
    start_index: int
    count: int
    sort_by: str | None
    descending: bool
    # RFC 9865: None when the client pages by index; "" asks for the first page by cursor.
    cursor: str | None = None
