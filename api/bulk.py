"""``POST /Bulk`` (RFC 7644 §3.7).

Each operation becomes exactly the command its single endpoint would send (the builders on
``ResourceEndpoints``), goes through the same dispatcher and worker, and so is applied once
(the command id fences redelivery) or not at all. Operations run in request order, one at a time,
because later ones may reference what earlier ones created:

- ``bulkId:<id>`` anywhere in ``data`` (including Team ``members[].value``) or as the id in
  ``path`` (``/Users/bulkId:<id>``) is replaced by the id the ``POST`` with that ``bulkId``
  created. An operation that references a ``POST`` later in the request waits for it (§3.7.2:
  the client's intent is preserved); references that can never resolve, because the ``POST``
  failed or the references are circular, fail with 409 (§3.7.1); a ``bulkId`` that no ``POST``
  of the request declares fails with 400 ``invalidValue``.
- ``failOnErrors: N`` stops after the N-th failed operation; the response lists only the
  operations processed until then (§3.7.3).
- More operations than ``maxOperations`` or a body larger than ``maxPayloadSize`` is 413 with
  the RFC's error body (§3.7.4), before anything is applied.

The response lists the processed operations in request order, each with ``method``, ``bulkId``
(when given), ``location`` (absent for a failed POST), ``version`` and ``status`` (an HTTP status
code as a string, as in the RFC's examples), and ``response`` (the SCIM error) when it failed.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field, replace

from aiohttp import web

from api import context, origin
from api.keys import SETTINGS
from api.requests import Projection, json_object, read_json
from api.resources import GROUP, USER, ResourceEndpoints, submit_command
from api.responses import scim_response
from domain.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError
from domain.names import get_member

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = ("POST", "PUT", "PATCH", "DELETE")
_REFERENCE = re.compile(r"^bulkId:(.+)$", re.IGNORECASE)
_NO_PROJECTION = Projection(None, None)


@dataclass
class _Operation:
    index: int
    method: str
    bulk_id: str | None
    path: str
    data: object
    version: str | None
    refs: set[str] = field(default_factory=set)
    error: ScimError | None = None  # found while reading the request


def _references(value, found: set[str]) -> set[str]:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        if match:
            found.add(match.group(1))
    elif isinstance(value, dict):
        for item in value.values():
            _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)
    return found


def _resolve(value, ids: dict[str, str]):
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return ids[match.group(1)] if match else value
    if isinstance(value, dict):
        return {key: _resolve(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, ids) for item in value]
    return value


def _parse_operation(index: int, raw) -> _Operation:
    if not isinstance(raw, dict):
        op = _Operation(index, "", None, "", None, None)
        op.error = InvalidSyntax(f"Operations[{index}] must be a JSON object")
        return op
    method, bulk_id, path, version = (get_member(raw, name) for name in ("method", "bulkId", "path", "version"))
    op = _Operation(
        index, method.strip().upper() if isinstance(method, str) else "",
        bulk_id if isinstance(bulk_id, str) else None, path if isinstance(path, str) else "",
        get_member(raw, "data"), version if isinstance(version, str) else None,
    )
    if op.method not in METHODS:
        op.error = InvalidSyntax(f"Operations[{index}].method must be one of {', '.join(METHODS)}")
    elif not isinstance(path, str) or not path.strip():
        op.error = InvalidSyntax(f"Operations[{index}].path is required")
    elif bulk_id is not None and not isinstance(bulk_id, str):
        op.error = InvalidSyntax(f"Operations[{index}].bulkId must be a string")
    elif version is not None and not isinstance(version, str):
        op.error = InvalidSyntax(f"Operations[{index}].version must be a string (an ETag)")
    elif op.method in ("POST", "PUT", "PATCH") and not isinstance(op.data, dict):
        op.error = InvalidSyntax(f"Operations[{index}].data must be a JSON object for {op.method}")
    else:
        op.refs = _references(op.data, set())
        parts = _path_parts(op.path)
        if len(parts) == 2:  # /Users/bulkId:<id>
            _references(parts[1], op.refs)
    return op


def _path_parts(path: str) -> list[str]:
    return [part for part in path.strip().split("/") if part]


def _target(op: _Operation, ids: dict[str, str]) -> tuple[ResourceEndpoints, str | None]:
    """The endpoints and the resource id an operation's ``path`` names."""
    parts = _path_parts(op.path)
    endpoint = parts[0].lower() if parts else ""
    endpoints = {"users": ResourceEndpoints(USER), "groups": ResourceEndpoints(GROUP)}.get(endpoint)
    if endpoints is None or len(parts) > 2:
        raise InvalidValue(f"Operations[{op.index}].path {op.path!r} must be /Users or /Groups[/id]")
    if op.method == "POST":
        if len(parts) != 1:
            raise InvalidValue(f"Operations[{op.index}]: POST takes a resource type endpoint path such as /Users")
        return endpoints, None
    if len(parts) != 2:
        raise InvalidValue(f"Operations[{op.index}]: {op.method} needs a resource path such as /Users/<id>")
    return endpoints, _resolve(parts[1], ids)


async def bulk(request: web.Request) -> web.Response:
    grant = context.grant(request)
    settings = request.config_dict[SETTINGS]
    max_bytes, max_operations = settings.max_body_bytes, settings.bulk_max_operations
    too_large = PayloadTooLarge(f"The size of the bulk operation exceeds the maxPayloadSize ({max_bytes}).")
    try:
        body = json_object(await read_json(request, max_bytes))
    except PayloadTooLarge:
        raise too_large from None
    schemas = get_member(body, "schemas")
    if schemas is not None and (
        not isinstance(schemas, list) or BULK_REQUEST.lower() not in [str(s).lower() for s in schemas]
    ):
        raise InvalidSyntax(f"A bulk request must carry the schema {BULK_REQUEST}")
    raw_operations = get_member(body, "Operations")
    if not isinstance(raw_operations, list):
        raise InvalidSyntax("A bulk request needs an Operations array")
    if len(raw_operations) > max_operations:
        raise PayloadTooLarge(
            f"The number of operations ({len(raw_operations)}) exceeds the maxOperations ({max_operations})."
        )
    fail_on_errors = get_member(body, "failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int) or fail_on_errors < 1
    ):
        raise InvalidValue("failOnErrors must be a positive integer")

    operations = [_parse_operation(index, raw) for index, raw in enumerate(raw_operations)]
    declared: dict[str, int] = {}
    for op in operations:
        if op.error is None and op.method == "POST" and op.bulk_id is not None:
            if op.bulk_id in declared:
                op.error = InvalidValue(f"bulkId {op.bulk_id!r} is used by more than one operation")
            else:
                declared[op.bulk_id] = op.index

    results: dict[int, dict] = {}
    ids: dict[str, str] = {}  # bulkId → created resource id
    errors = 0
    schedule = _Schedule(operations, declared)
    while fail_on_errors is None or errors < fail_on_errors:
        picked = schedule.next()
        if picked is None:
            break
        op, circular = picked
        if circular:  # every remaining operation waits on another: circular references
            op.error = ScimError(
                f"Operations[{op.index}] references bulkIds that cannot be resolved (circular): "
                f"{', '.join(sorted(op.refs - ids.keys()))}",
                status=409,
                scim_type="invalidValue",
            )
        result = await _run(request, grant, op, ids, declared)
        results[op.index] = result
        failed = int(result["status"]) >= 400
        errors += failed
        if op.method == "POST" and op.bulk_id is not None and declared.get(op.bulk_id) == op.index:
            if failed:
                schedule.failed(op.bulk_id)
            else:
                schedule.resolved(op.bulk_id)
    return scim_response({"schemas": [BULK_RESPONSE], "Operations": [results[i] for i in sorted(results)]})


class _Schedule:
    """The order operations run in: always the first, in request order, that can run or fail
    now; one that references a later ``POST`` waits for it. Each operation is looked at a
    bounded number of times (when it is read and when each bulkId it waits on is decided), so a
    request of ``bulk.maxOperations`` operations full of references costs the ingress in
    proportion to its size, never its square."""

    def __init__(self, operations: list[_Operation], declared: dict[str, int]):
        self.operations = operations
        self.ready: list[int] = []  # heap of indices that can run (or fail) now
        self.pending = list(range(len(operations)))  # heap of every index not yet taken
        self.done: set[int] = set()
        self.missing: dict[int, set[str]] = {}  # index → the bulkIds it still waits on
        self.waiters: dict[str, list[int]] = {}  # bulkId → the indices waiting on it
        for op in operations:
            waits = set(op.refs)
            if op.error is not None or not waits or any(
                ref not in declared or declared[ref] == op.index for ref in waits
            ):
                self.ready.append(op.index)  # in index order: already a heap
                continue
            self.missing[op.index] = waits
            for ref in waits:
                self.waiters.setdefault(ref, []).append(op.index)

    def next(self) -> tuple[_Operation, bool] | None:
        """The next operation, and whether it was taken only to break a cycle of references."""
        for heap, circular in ((self.ready, False), (self.pending, True)):
            while heap:
                index = heapq.heappop(heap)
                if index not in self.done:
                    self.done.add(index)
                    self.missing.pop(index, None)
                    return self.operations[index], circular
        return None

    def resolved(self, bulk_id: str) -> None:
        """The POST declaring ``bulk_id`` created its resource."""
        for index in self.waiters.pop(bulk_id, ()):
            waits = self.missing.get(index)
            if waits is not None:
                waits.discard(bulk_id)
                if not waits:
                    del self.missing[index]
                    heapq.heappush(self.ready, index)

    def failed(self, bulk_id: str) -> None:
        """The POST declaring ``bulk_id`` failed: what waits on it can fail now."""
        for index in self.waiters.pop(bulk_id, ()):
            if self.missing.pop(index, None) is not None:
                heapq.heappush(self.ready, index)


async def _run(request, grant, op: _Operation, ids: dict, declared: dict) -> dict:
    result: dict = {"method": op.method or None}
    if op.bulk_id is not None:
        result["bulkId"] = op.bulk_id
    try:
        if op.error is not None:
            raise op.error
        unknown = sorted(ref for ref in op.refs if ref not in declared)
        if unknown:
            raise InvalidValue(f"bulkId reference(s) {', '.join(unknown)} match no POST operation of this request")
        unresolved = sorted(ref for ref in op.refs if ref not in ids)
        if unresolved:
            raise ScimError(
                f"bulkId reference(s) {', '.join(unresolved)} cannot be resolved: the operation that "
                "declares them failed or did not run",
                status=409,
                scim_type="invalidValue",
            )
        endpoints, resource_id = _target(op, ids)
        data = _resolve(op.data, ids)
        if op.method == "POST":
            command = endpoints.create_command(json_object(data, "operation's data"))
        elif resource_id is None:  # _target names an id for every method but POST
            raise InvalidValue(f"Operations[{op.index}]: {op.method} needs a resource path such as /Users/<id>")
        elif op.method == "PUT":
            command = endpoints.replace_command(resource_id, json_object(data, "operation's data"))
        elif op.method == "PATCH":
            command = endpoints.patch_command(resource_id, json_object(data, "operation's data"), _NO_PROJECTION)
        else:
            command = endpoints.delete_command(resource_id)
        if endpoints.kind is GROUP:  # the response carries no body: never load a Team's members
            command = replace(command, fields={**command.fields, "members_in_reply": False})
        reply = await submit_command(request, grant, command, if_match=op.version)
    except ScimError as error:
        if op.method in ("PUT", "PATCH", "DELETE"):
            location = _location(request, op, ids)
            if location:
                result["location"] = location
        result["status"] = str(error.status)
        result["response"] = error.to_body()
        return result
    if reply.status >= 400:
        if op.method != "POST":
            location = _location(request, op, ids)
            if location:
                result["location"] = location
        result["status"] = str(reply.status)
        result["response"] = reply.body
        return result
    resource_id = resource_id or (reply.body or {}).get("id")
    if op.method == "POST" and op.bulk_id is not None:
        ids[op.bulk_id] = resource_id
    result["location"] = f"{origin.base_url(request)}/{endpoints.kind.endpoint}/{resource_id}"
    if reply.etag:
        result["version"] = reply.etag
    result["status"] = str(reply.status)
    return result


def _location(request, op: _Operation, ids: dict) -> str | None:
    parts = _path_parts(op.path)
    if len(parts) != 2 or parts[0].lower() not in ("users", "groups"):
        return None
    endpoint = "Users" if parts[0].lower() == "users" else "Groups"
    match = _REFERENCE.match(parts[1])
    if match and match.group(1) not in ids:
        return None
    return f"{origin.base_url(request)}/{endpoint}/{_resolve(parts[1], ids)}"
