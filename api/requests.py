"""Parsing what a SCIM client sends: JSON bodies, content types, list and projection parameters."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

from domain.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError
from domain.resource import parse_attribute_list


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/octet-stream") or media.endswith("/json") or media.endswith("+json")


async def read_json(request: web.Request, max_bytes: int) -> object:
    """The request's JSON body. Accepts application/scim+json, application/json (and text/json)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"The request body exceeds the maximum of {max_bytes} bytes")
    content_type = request.headers.get("Content-Type", "")
    if not _is_json_type(content_type):
        raise ScimError(
            f"Unsupported Content-Type {content_type!r}; send application/scim+json or application/json",
            status=415,
            scim_type="invalidSyntax",
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as too_large:
        raise PayloadTooLarge(f"The request body exceeds the maximum of {max_bytes} bytes") from too_large
    if not raw.strip():
        raise InvalidSyntax("The request body is empty; a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidSyntax(f"The request body is not valid JSON: {error}") from None


def json_object(body: object, what: str = "request body") -> dict:
    if not isinstance(body, dict):
        raise InvalidSyntax(f"The {what} must be a JSON object")
    return body


def _query(request: web.Request, name: str) -> str | None:
    """A query parameter by case-insensitive name (``startindex`` works as ``startIndex``)."""
    lowered = name.lower()
    for key, value in request.query.items():
        if key.lower() == lowered:
            return value
    return None


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidValue(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Projection:
    attributes: list[str] | None
    excluded: list[str] | None

    @property
    def requested(self) -> bool:
        return bool(self.attributes or self.excluded)

    def wants(self, name: str) -> bool:
        """Whether the attribute ``name`` (top level, e.g. ``members``) is to be returned."""
        lowered = name.lower()
        if self.attributes:
            return any(a.lower().split(".")[0].rsplit(":", 1)[-1] == lowered for a in self.attributes)
        if self.excluded:
            return not any(a.lower().rsplit(":", 1)[-1] == lowered for a in self.excluded)
        return True


def projection(request: web.Request) -> Projection:
    return Projection(
        parse_attribute_list(_query(request, "attributes")),
        parse_attribute_list(_query(request, "excludedAttributes")),
    )


# Past any store's size and within a 64-bit OFFSET: a larger startIndex gives the same empty page.
MAX_START_INDEX = 2**62


@dataclass(frozen=True)
class ListParams:
    filter: str | None
    start_index: int
    count: int
    sort_by: str | None
    descending: bool
    # RFC 9865: None when the client pages by index; "" asks for the first page by cursor.
    cursor: str | None = None


def list_params(source, max_results: int) -> ListParams:
    """List parameters from a query string (GET) or a SearchRequest body (POST .search).

    RFC 7644 §3.4.2.4: a startIndex below 1 is 1; a negative count is 0; count defaults to and is
    capped at ``max_results`` (``filter.maxResults`` in ServiceProviderConfig).
    RFC 9865: a ``cursor`` parameter (an empty value for the first page) selects cursor paging;
    it then takes precedence over ``startIndex``.
    """
    if isinstance(source, web.Request):
        get = lambda name: _query(source, name)  # noqa: E731
    else:
        lowered = {str(k).lower(): v for k, v in source.items()}
        get = lambda name: None if lowered.get(name.lower()) is None else str(lowered[name.lower()])  # noqa: E731
    start = _int_param(get("startIndex"), "startIndex")
    count = _int_param(get("count"), "count")
    order = (get("sortOrder") or "ascending").strip().lower()
    if order not in ("ascending", "descending"):
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'")
    flt = get("filter")
    cursor = get("cursor")
    return ListParams(
        filter=flt if flt and flt.strip() else None,
        start_index=min(MAX_START_INDEX, max(1, start if start is not None else 1)),
        count=min(max_results, max(0, count)) if count is not None else max_results,
        sort_by=(get("sortBy") or "").strip() or None,
        descending=order == "descending",
        cursor=None if cursor is None else cursor.strip(),
    )
