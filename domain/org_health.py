"""An organization's provisioning health, in the spirit of Entra's provisioning status.

Pure: ``assess`` turns what the provisioning log says about one organization (``OrgActivity``:
its last contact with an IdP and its counts over the last 24 hours) into a state an operator
reads at a glance:

- ``no_contact``: no IdP request for more than a day (or ever) — Entra's "absence of
  provisioning" alert; a configured IdP normally syncs every 40 minutes at most.
- ``failing``: in the last 24 hours at least ``MIN_FAILURES`` requests failed and they are at least
  ``FAILING_RATE`` of all (Entra quarantines a job past 40 % failures).
- ``healthy``: otherwise.

Counts come from a bounded query (at most ``cap`` rows per organization are counted); ``capped``
says the real numbers are higher, and the rate is then the rate within the counted rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

HEALTHY = "healthy"
FAILING = "failing"
NO_CONTACT = "no_contact"

FAILING_RATE = 0.4
MIN_FAILURES = 3
NO_CONTACT_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class OrgActivity:
    org_id: str
    name: str
    last_contact: datetime | None  # the newest IdP request (any outcome), naive UTC
    total_24h: int  # entries in the last 24 hours (bounded count)
    failed_24h: int  # of those, not applied (failure, expired, refused)
    capped: bool = False  # the counts stopped at the query's cap


@dataclass(frozen=True)
class OrgHealth:
    org_id: str
    name: str
    state: str
    reason: str
    last_contact: datetime | None
    total_24h: int
    failed_24h: int
    error_rate: float
    capped: bool

    def to_dict(self) -> dict:
        return {
            "org_id": self.org_id, "name": self.name, "state": self.state, "reason": self.reason,
            "last_contact": self.last_contact.isoformat(timespec="seconds") + "Z" if self.last_contact else None,
            "total_24h": self.total_24h, "failed_24h": self.failed_24h,
            "error_rate": round(self.error_rate, 4), "capped": self.capped,
        }


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 0)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def assess(activity: OrgActivity, now: datetime) -> OrgHealth:
    total, failed = activity.total_24h, min(activity.failed_24h, activity.total_24h)
    rate = failed / total if total else 0.0
    plus = "+" if activity.capped else ""
    if activity.last_contact is None:
        state, reason = NO_CONTACT, "No IdP has contacted this organization yet"
    elif now - activity.last_contact > NO_CONTACT_AFTER:
        state, reason = NO_CONTACT, f"No IdP contact for {_ago(now - activity.last_contact)}"
    elif failed >= MIN_FAILURES and rate >= FAILING_RATE:
        state = FAILING
        reason = f"{failed}{plus} of {total}{plus} requests failed in the last 24 h ({rate:.0%})"
    else:
        state = HEALTHY
        reason = f"{total}{plus} requests in the last 24 h, {failed}{plus} failed"
    return OrgHealth(activity.org_id, activity.name, state, reason, activity.last_contact, total, failed, rate,
                     activity.capped)
