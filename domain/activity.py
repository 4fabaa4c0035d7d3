"""Live activity counters of the ops dashboard: writes and errors per minute, per organization and IdP.

Pure: ``ActivityWindow`` counts the audit events it is shown into one bucket per minute (the
event's own time), keeps the last ``minutes`` of them and answers, for one organization or for
all, the per-minute series and the busiest organizations and IdPs of the window. Memory is
bounded by minutes × the (organization, IdP) pairs active in each minute, each at most
``max_keys_per_minute`` (past it, the rest of that minute counts under ``OTHER``).

A *write* is an event of a change someone asked for (a SCIM command, a management change); an
*error* is any event whose outcome is not success (rejected, expired, refused: refusals are errors,
not writes; a throttle summary counts each request it stands for).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from domain.events import AUTH_THROTTLED, SUCCESS

OTHER = "(other)"


def minute_of(time_text: str) -> int:
    """The Unix minute of an event time (``2026-12-01T11:50:00.123456Z``)."""
    return int(datetime.fromisoformat(time_text[:16]).replace(tzinfo=UTC).timestamp()) // 60


def is_error(event: dict) -> bool:
    return event.get("outcome") != SUCCESS


def weight(event: dict) -> int:
    """How many requests an event stands for (a throttle summary: its count)."""
    if event.get("action") == AUTH_THROTTLED:
        count = (event.get("detail") or {}).get("count", 1)
        return count if isinstance(count, int) and count > 0 else 1
    return 1


def is_write(event: dict) -> bool:
    return event.get("outcome") != "refused"


class ActivityWindow:
    def __init__(self, minutes: int = 60, max_keys_per_minute: int = 5000):
        self.minutes = minutes
        self.max_keys = max_keys_per_minute
        # minute → (org, idp) → [writes, errors]
        self._buckets: dict[int, dict[tuple[str, str], list[int]]] = {}
        # org → minute → idp → the same [writes, errors] lists: one organization's summary reads
        # only its own counts, however many organizations are active
        self._by_org: dict[str, dict[int, dict[str, list[int]]]] = {}
        self._newest = 0

    def add(self, event: dict) -> None:
        try:
            minute = minute_of(str(event["time"]))
        except (KeyError, ValueError):
            return
        if minute <= self._newest - self.minutes:
            return  # older than the window
        if minute > self._newest:
            self._newest = minute
            self._forget_before(minute - self.minutes + 1)
        bucket = self._buckets.setdefault(minute, {})
        key = (str(event.get("org_id") or ""), str(event.get("idp") or "unknown"))
        counts = bucket.get(key)
        if counts is None:
            if len(bucket) >= self.max_keys:
                key = (OTHER, OTHER)
            counts = bucket.get(key)
            if counts is None:
                counts = bucket[key] = [0, 0]
                self._by_org.setdefault(key[0], {}).setdefault(minute, {})[key[1]] = counts
        if is_write(event):
            counts[0] += 1
        if is_error(event):
            counts[1] += weight(event)

    def _forget_before(self, first: int) -> None:
        for old in [m for m in self._buckets if m < first]:
            del self._buckets[old]
        for org in list(self._by_org):
            minutes = self._by_org[org]
            for old in [m for m in minutes if m < first]:
                del minutes[old]
            if not minutes:
                del self._by_org[org]

    def _rows(self, org_id: str | None):
        """``(minute, org, idp, counts)`` of everyone, or of one organization only."""
        if org_id is None:
            for minute, bucket in self._buckets.items():
                for (org, idp), counts in bucket.items():
                    yield minute, org, idp, counts
        else:
            for minute, idps in self._by_org.get(org_id, {}).items():
                for idp, counts in idps.items():
                    yield minute, org_id, idp, counts

    def summary(self, org_id: str | None, now_minute: int, *, top: int = 10) -> dict:
        """The window for ``org_id`` (None: every organization) ending at ``now_minute``:
        ``minutes`` (Unix seconds of each minute), ``writes``, ``errors``, and the busiest
        ``orgs`` and ``idps`` as ``[name, writes, errors]``."""
        first = now_minute - self.minutes + 1
        writes = [0] * self.minutes
        errors = [0] * self.minutes
        orgs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        idps: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for minute, org, idp, (w, e) in self._rows(org_id):
            if not first <= minute <= now_minute:
                continue
            slot = minute - first
            writes[slot] += w
            errors[slot] += e
            orgs[org][0] += w
            orgs[org][1] += e
            idps[idp][0] += w
            idps[idp][1] += e

        def ranked(counts: dict[str, list[int]]) -> list[list]:
            rows = sorted(counts.items(), key=lambda item: (-(item[1][0] + item[1][1]), item[0]))
            return [[name, w, e] for name, (w, e) in rows[:top]]

        return {
            "minutes": [(first + i) * 60 for i in range(self.minutes)],
            "writes": writes,
            "errors": errors,
            "orgs": ranked(orgs) if org_id is None else [],
            "idps": ranked(idps),
        }
