"""Parsing what a SCIM client sends: JSON bodies, content types, list and projection parameters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from api.keys import SETTINGS
from domain.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, RequestTimeout, ScimError
from domain.limits import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH
from domain.listing import ListParams
from domain.names import get_member
from domain.resource import Selection, parse_attribute_list, selection


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/octet-stream") or media.endswith("/json") or media.endswith("+json")


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds the maximum of {max_bytes} bytes")


async def read_body(request: web.Request, max_bytes: int, timeout: float) -> bytes:
    """The raw request body: at most ``max_bytes`` (413), read within ``timeout`` seconds (408).

    A client that sends its headers and then trickles the body (or stops sending it) would
    otherwise hold its connection and its handler forever."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()
    except TimeoutError:
        raise RequestTimeout(
            f"The request body was not received within {timeout:g} seconds", headers={"Connection": "close"}
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(max_bytes) from None
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    return raw


def parse_json(raw: bytes) -> object:
    """A JSON body, bounded: at most ``MAX_JSON_CONTAINERS`` objects and arrays, nested at most
    ``MAX_JSON_DEPTH`` deep; 400 invalidSyntax otherwise.

    Every body of the ingress passes here (SCIM resources, PATCH, Bulk, .search, management),
    so what is queued can always be encoded and decoded again, and a body costs the ingress
    work in proportion to its (bounded) size, never more."""
    if not raw.strip():
        raise InvalidSyntax("The request body is empty; a JSON object is required")
    # An upper bound of the containers (brackets inside strings count too), at C speed, before
    # anything is parsed.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_CONTAINERS:
        raise InvalidSyntax(f"The request body holds more than {MAX_JSON_CONTAINERS} JSON objects and arrays")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidSyntax(f"The request body is not valid JSON: {error}") from None
    check_depth(document)
    return document


def check_depth(document: object) -> None:
    """Raise InvalidSyntax if ``document`` nests deeper than ``MAX_JSON_DEPTH``. One pass, no
    recursion."""
    if type(document) is not dict and type(document) is not list:
        return
    stack = [(document, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidSyntax(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep")
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                push((child, depth + 1))


async def read_json(request: web.Request, max_bytes: int) -> object:
    """The request's JSON body. Accepts application/scim+json, application/json (and text/json)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    content_type = request.headers.get("Content-Type", "")
    if not _is_json_type(content_type):
        raise ScimError(
            f"Unsupported Content-Type {content_type!r}; send application/scim+json or application/json",
            status=415,
            scim_type="invalidSyntax",
        )
    return parse_json(await read_body(request, max_bytes, request.config_dict[SETTINGS].body_timeout))


def json_object(body: object, what: str = "request body") -> dict:
    if not isinstance(body, dict):
        raise InvalidSyntax(f"The {what} must be a JSON object")
    return body


def _int_param(raw: str | None, name: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidValue(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Projection:
    """A request's ``attributes``/``excludedAttributes`` (RFC 7644 §3.9). The names are resolved
    once per resource type (``selection``), however many resources the answer renders."""

    attributes: list[str] | None
    excluded: list[str] | None
    _selections: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def requested(self) -> bool:
        return bool(self.attributes or self.excluded)

    def wants(self, resource_type: str, name: str) -> bool:
        """Whether the top-level attribute ``name`` (e.g. ``members``) of ``resource_type`` is
        to be returned: the renderer's own decision (``Selection.returns``)."""
        return self.selection(resource_type).returns(name)

    def selection(self, resource_type: str) -> Selection:
        found = self._selections.get(resource_type)
        if found is None:
            found = self._selections[resource_type] = selection(resource_type, self.attributes, self.excluded)
        return found


def projection(request: web.Request) -> Projection:
    return Projection(
        parse_attribute_list(get_member(request.query, "attributes")),
        parse_attribute_list(get_member(request.query, "excludedAttributes")),
    )


# Past any store's size and within a 64-bit OFFSET: a larger startIndex gives the same empty page.
MAX_START_INDEX = 2**62


def list_params(source, max_results: int) -> ListParams:
    """List parameters from a query string (GET) or a SearchRequest body (POST .search).

    RFC 7644 §3.4.2.4: a startIndex below 1 is 1; a negative count is 0; count defaults to and is
    capped at ``max_results`` (``filter.maxResults`` in ServiceProviderConfig).
    RFC 9865: a ``cursor`` parameter (an empty value for the first page) selects cursor paging;
    it then takes precedence over ``startIndex``.
    """
    if isinstance(source, web.Request):
        get = lambda name: get_member(source.query, name)  # noqa: E731
    else:
        get = lambda name: _body_param(source, name)  # noqa: E731
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


# The types a SearchRequest member may have (RFC 7644 §3.4.3); numbers may also come as strings.
_SEARCH_TYPES = {"startindex": (int, str), "count": (int, str)}


def _body_param(body: dict, name: str) -> str | None:
    value = get_member(body, name)
    if value is None:
        return None
    kinds = _SEARCH_TYPES.get(name.lower(), (str,))
    if isinstance(value, bool) or not isinstance(value, kinds):
        wanted = "an integer" if int in kinds else "a string"
        raise InvalidValue(f"{name} must be {wanted}")
    return str(value)
