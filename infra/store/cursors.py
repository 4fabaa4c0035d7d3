"""RFC 9865 cursors: a keyset position, opaque and tamper-evident.

A cursor holds the ordering values of the row it continues after (or before, for
``previousCursor``), so a client paging while resources are deleted or created never skips one
that existed the whole time and never sees one twice. It is base64url JSON plus a truncated
HMAC-SHA256 (only RFC 3986 unreserved characters), bound to the organization, the endpoint, the
filter and the sort, and expires after ``cursor_timeout`` seconds (``expiredCursor``). Anything
else is ``invalidCursor``. Pure: the key comes from ``infra.redis.cursor_secret``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime

import orjson

from domain.errors import ExpiredCursor, InvalidCursor
from domain.limits import MAX_CURSOR_LENGTH


@dataclass(frozen=True)
class Position:
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

    def encode(self, position: Position) -> str:
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

    def decode(self, text: str, sources: list) -> Position:
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

    def _position(self, data, sources: list) -> tuple[Position, float]:
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
        return Position(phase, decoded, bool(backward)), made


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
