"""What the ops dashboard reads from the store beyond the provisioning log's search.

``credential_active``: whether the token a dashboard session was opened with is still valid (not
revoked, still there), by id, one primary-key lookup: sessions never hold the token itself.
``organizations_page``: one page of organizations by id (keyset), for the health list.
``org_activity``: one organization's last IdP contact and 24-hour counts, from the provisioning
log (a newest-first index range per organization, capped: see ``ACTIVITY_CAP``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.org_health import OrgActivity
from domain.viewers import Viewer
from infra.store.tables import api_tokens, operators, organizations, provisioning_log


async def credential_active(conn: AsyncConnection, viewer: Viewer) -> bool:
    if viewer.is_operator:
        query = select(operators.c.revoked_at).where(operators.c.id == viewer.subject_id)
    else:
        query = select(api_tokens.c.revoked_at).where(
            api_tokens.c.id == viewer.subject_id, api_tokens.c.org_id == viewer.org_id
        )
    row = (await conn.execute(query)).first()
    return row is not None and row.revoked_at is None


async def organizations_page(conn: AsyncConnection, *, after: str | None, limit: int,
                             only: str | None = None) -> list[tuple[str, str]]:
    """``(id, name)`` of at most ``limit`` organizations with ids after ``after`` (or just ``only``)."""
    query = select(organizations.c.id, organizations.c.name).order_by(organizations.c.id).limit(limit)
    if only is not None:
        query = query.where(organizations.c.id == only)
    elif after:
        query = query.where(organizations.c.id > after)
    return [(row.id, row.name) for row in await conn.execute(query)]


# The 24-hour counts of one organization stop at this many entries (then shown as "N+"): a
# bounded index range scan per organization, whatever its traffic.
ACTIVITY_CAP = 5_000
FAILED_OUTCOMES = ("rejected", "expired", "refused")


def _idp_requests(org_id: str):
    """An organization's entries of IdP requests (SCIM commands and SCIM refusals; management
    changes by people are not IdP contact), on the (org_id, time, seq) index."""
    t = provisioning_log.c
    return (t.org_id == org_id) & t.action.like("scim:%")


async def org_activity(conn: AsyncConnection, org_id: str, name: str, *, now: datetime) -> OrgActivity:
    """What the health line of one organization needs: two bounded, indexed statements."""
    t = provisioning_log.c
    last = (await conn.execute(
        select(t.time).where(_idp_requests(org_id)).order_by(t.time.desc(), t.seq.desc()).limit(1)
    )).scalar_one_or_none()
    if last is None or now - last > timedelta(days=1):
        return OrgActivity(org_id, name, last, 0, 0)
    window = (
        select(t.outcome).where(_idp_requests(org_id), t.time >= now - timedelta(days=1))
        .order_by(t.time.desc(), t.seq.desc()).limit(ACTIVITY_CAP).subquery()
    )
    failed = func.sum(case((window.c.outcome.in_(FAILED_OUTCOMES), 1), else_=0))
    total, failures = (await conn.execute(select(func.count(), failed).select_from(window))).one()
    return OrgActivity(org_id, name, last, int(total), int(failures or 0), capped=int(total) >= ACTIVITY_CAP)


async def recently_active(conn: AsyncConnection, *, limit: int) -> list[tuple[str, str]]:
    """``(id, name)`` of the organizations with the newest IdP requests, newest first: the distinct
    organizations among the newest ``ACTIVITY_CAP`` log entries (a bounded scan of the time index)."""
    t = provisioning_log.c
    newest = (select(t.org_id, t.time).where(t.action.like("scim:%"), t.org_id != "")
              .order_by(t.time.desc(), t.seq.desc()).limit(ACTIVITY_CAP).subquery())
    latest = func.max(newest.c.time)
    ranked = (select(newest.c.org_id, latest.label("latest")).group_by(newest.c.org_id)
              .order_by(latest.desc()).limit(limit).subquery())
    query = (select(organizations.c.id, organizations.c.name)
             .join(ranked, ranked.c.org_id == organizations.c.id).order_by(ranked.c.latest.desc()))
    return [(row.id, row.name) for row in await conn.execute(query)]
