"""The provisioning log's rules: what an entry's outcome is, and what a search may ask.

One entry per audit event (``domain.events``). Its ``outcome`` says what happened in the words
the log's readers use: ``applied`` (a change was stored), ``unchanged`` (applied, but nothing
differed: an IdP re-push), ``rejected`` (not applied: a SCIM error or a failure), ``expired``
(not applied before its deadline) and ``refused`` (the request was not let in, or a rule refused
a management change).

A search (``LogQuery``) is read from untrusted text (query string, CLI flags) by ``parse_query``;
anything it cannot read is an ``InvalidLogQuery`` (an HTTP 400, never a 500). Pages are newest
first and keyset-paged: the cursor is the (time, seq) of the last entry shown, opaque to clients.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain import events as ev

APPLIED = "applied"
UNCHANGED = "unchanged"
REJECTED = "rejected"
OUTCOMES = (APPLIED, UNCHANGED, REJECTED, ev.EXPIRED, ev.REFUSED)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_FILTER_CHARS = 512
FILTERS = ("user", "team", "action", "outcome", "idp", "request_id", "command_id")
# Query-string spellings of the filters (``requestId`` as in the API's JSON, ``request_id`` as in the CLI).
ALIASES = {"requestId": "request_id", "commandId": "command_id"}
RELATIVE = re.compile(r"(\d{1,6})\s*([smhdw])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class InvalidLogQuery(ValueError):
    """A search the log cannot run: its message says which parameter and why."""


def outcome_of(event: dict) -> str:
    """The log's outcome of an audit event (``AuditEvent.to_dict()``)."""
    outcome = event.get("outcome")
    if outcome == ev.SUCCESS:
        return UNCHANGED if (event.get("detail") or {}).get("unchanged") else APPLIED
    if outcome == ev.FAILURE:
        return REJECTED
    return outcome if outcome in OUTCOMES else REJECTED


@dataclass(frozen=True)
class LogCursor:
    time: datetime
    seq: int

    def encode(self) -> str:
        raw = f"{self.time.isoformat(timespec='microseconds')}|{self.seq}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> LogCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            when, seq = raw.split("|")
            return cls(datetime.fromisoformat(when), int(seq))
        except (ValueError, UnicodeDecodeError):
            raise InvalidLogQuery("cursor is not one this log gave out (use next_cursor as it was returned)") from None


@dataclass(frozen=True)
class LogQuery:
    """One search of the provisioning log. ``org_id`` None: every organization (operators only).

    ``user`` matches a User's id, userName (any case) or externalId; ``team`` a Team's id,
    displayName (any case) or externalId. ``since`` is inclusive, ``until`` exclusive (naive UTC).
    """

    org_id: str | None = None
    user: str | None = None
    team: str | None = None
    action: str | None = None
    outcome: str | None = None
    idp: str | None = None
    request_id: str | None = None
    command_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: LogCursor | None = None
    limit: int = DEFAULT_LIMIT


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (``2026-12-01T10:00:00Z``, a date, an offset) or a relative one back from
    ``now`` (``30m``, ``24h``, ``7d``, ``90s``, ``2w``), as naive UTC."""
    value = text.strip()
    relative = RELATIVE.fullmatch(value)
    if relative:
        return now - timedelta(**{UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise InvalidLogQuery(f"not a time: {ev.clean_text(value, 64)!r} (use ISO 8601, or 30m, 24h, 7d)") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidLogQuery("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidLogQuery(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def parse_query(params: Mapping[str, str], *, now: datetime, org_id: str | None, allow_org: bool = False) -> LogQuery:
    """A ``LogQuery`` from text parameters (a query string, CLI flags); ``org_id`` is the
    organization the caller may see (None: all, and ``org`` may then narrow it when ``allow_org``)."""
    known = set(FILTERS) | set(ALIASES) | {"since", "until", "cursor", "limit"} | ({"org"} if allow_org else set())
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidLogQuery(f"unknown parameter(s): {', '.join(ev.clean_text(u, 40) for u in unknown[:5])}; "
                              f"filters are {', '.join(sorted(known))}")
    values: dict[str, str] = {}
    for key, raw in params.items():
        name = ALIASES.get(key, key)
        if not isinstance(raw, str) or len(raw) > MAX_FILTER_CHARS:
            raise InvalidLogQuery(f"{name} must be text of at most {MAX_FILTER_CHARS} characters")
        if raw.strip():
            values[name] = raw.strip()
    outcome = values.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidLogQuery(f"outcome must be one of {', '.join(OUTCOMES)}")
    since = parse_when(values["since"], now) if "since" in values else None
    until = parse_when(values["until"], now) if "until" in values else None
    if since and until and since >= until:
        raise InvalidLogQuery("since must be before until")
    return LogQuery(
        org_id=values.get("org", org_id) if allow_org else org_id,
        **{name: values.get(name) for name in FILTERS},
        since=since,
        until=until,
        cursor=LogCursor.decode(values["cursor"]) if "cursor" in values else None,
        limit=_limit(values.get("limit")),
    )
