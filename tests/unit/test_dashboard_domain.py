"""The dashboard's pure parts: who sees what, the live activity counters, an organization's health."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.activity import OTHER, ActivityWindow, minute_of
from domain.org_health import FAILING, HEALTHY, NO_CONTACT, OrgActivity, assess
from domain.viewers import OPERATOR, ORGANIZATION, Viewer

A, B = "a" * 25, "b" * 25
NOW = datetime(2026, 12, 1, 12, 0, 0)


def ev(org: str, minute: int, outcome: str = "success", idp: str = "okta", **extra) -> dict:
    return {"org_id": org, "idp": idp, "outcome": outcome, "time": f"2026-12-01T11:{minute:02d}:30.000000Z",
            "action": "scim:user:create", **extra}


# -- viewers ------------------------------------------------------------------------------------


def test_an_operator_sees_every_organization_and_events_without_one():
    operator = Viewer(OPERATOR, "op1", "ops")
    assert operator.sees({"org_id": A}) and operator.sees({"org_id": B}) and operator.sees({"org_id": ""})


def test_an_organization_sees_only_its_own_events():
    viewer = Viewer(ORGANIZATION, "tok", "Org A", A, "member")
    assert viewer.sees({"org_id": A})
    assert not viewer.sees({"org_id": B})
    assert not viewer.sees({"org_id": ""}) and not viewer.sees({})  # a cross-organization summary
    assert not viewer.sees_org(None)


def test_a_viewer_round_trips_through_its_session_record():
    viewer = Viewer(ORGANIZATION, "tok", "Org A", A, "owner")
    assert Viewer.from_dict(viewer.to_dict()) == viewer


# -- activity -------------------------------------------------------------------------------------


def test_writes_and_errors_are_counted_per_minute_and_per_scope():
    window = ActivityWindow(minutes=60)
    for item in [ev(A, 58), ev(A, 58, "failure"), ev(B, 59, idp="entra"), ev(A, 59, "expired"),
                 ev(A, 59, "refused", action="scim:auth:refused")]:
        window.add(item)
    now = minute_of("2026-12-01T11:59:00Z")
    everyone = window.summary(None, now)
    assert everyone["minutes"][-1] == now * 60 and len(everyone["writes"]) == 60
    assert everyone["writes"][-2:] == [2, 2]  # a refusal is an error, not a write
    assert everyone["errors"][-2:] == [1, 2]
    assert everyone["orgs"][0] == [A, 3, 3] and everyone["orgs"][1] == [B, 1, 0]
    assert dict((name, (w, e)) for name, w, e in everyone["idps"]) == {"okta": (3, 3), "entra": (1, 0)}
    only_a = window.summary(A, now)
    assert only_a["writes"][-2:] == [2, 1] and only_a["orgs"] == []
    assert [row[0] for row in only_a["idps"]] == ["okta"]


def test_a_throttle_summary_counts_every_request_it_stands_for():
    window = ActivityWindow()
    window.add(ev("", 59, "refused", action="scim:auth:throttled", detail={"count": 40}))
    assert window.summary(None, minute_of("2026-12-01T11:59:00Z"))["errors"][-1] == 40


def test_old_minutes_leave_the_window_and_memory_stays_bounded():
    window = ActivityWindow(minutes=5, max_keys_per_minute=3)
    window.add(ev(A, 1))
    window.add(ev(A, 30))
    assert minute_of("2026-12-01T11:01:00Z") not in window._buckets  # pruned when minute 30 came
    window.add(ev(A, 2))  # older than the window: ignored
    for n in range(10):
        window.add(ev(f"{n:025d}", 30))
    bucket = window._buckets[minute_of("2026-12-01T11:30:00Z")]
    assert len(bucket) == 4 and bucket[(OTHER, OTHER)] == [8, 0]
    assert sum(window.summary(None, minute_of("2026-12-01T11:30:00Z"))["writes"]) == 11


def test_an_event_without_a_readable_time_is_ignored():
    window = ActivityWindow()
    window.add({"org_id": A, "outcome": "success"})
    window.add({"org_id": A, "outcome": "success", "time": "yesterday"})
    assert window._buckets == {}


# -- health ---------------------------------------------------------------------------------------


def activity(last: datetime | None, total: int, failed: int, capped: bool = False) -> OrgActivity:
    return OrgActivity(A, "Org A", last, total, failed, capped)


def test_an_organization_the_idp_never_contacted_has_no_contact():
    health = assess(activity(None, 0, 0), NOW)
    assert health.state == NO_CONTACT and "yet" in health.reason and health.error_rate == 0.0


def test_more_than_a_day_without_contact_is_no_contact_whatever_the_counts():
    health = assess(activity(NOW - timedelta(days=1, minutes=1), 0, 0), NOW)
    assert health.state == NO_CONTACT and "1 days" not in health.reason and "24 h" in health.reason
    assert assess(activity(NOW - timedelta(days=3), 0, 0), NOW).reason == "No IdP contact for 3 days"
    assert assess(activity(NOW - timedelta(hours=23), 10, 0), NOW).state == HEALTHY


def test_failing_takes_both_a_rate_and_a_few_failures():
    recent = NOW - timedelta(minutes=5)
    assert assess(activity(recent, 10, 4), NOW).state == FAILING  # 40 %
    assert assess(activity(recent, 10, 3), NOW).state == HEALTHY  # 30 %
    assert assess(activity(recent, 2, 2), NOW).state == HEALTHY  # one bad retry is not a failing job
    assert assess(activity(recent, 3, 3), NOW).state == FAILING
    failing = assess(activity(recent, 1000, 900, capped=True), NOW)
    assert failing.state == FAILING and failing.reason.startswith("900+ of 1000+") and "90%" in failing.reason


def test_health_as_json():
    body = assess(activity(datetime(2026, 12, 1, 11, 59, 1, 500), 10, 1), NOW).to_dict()
    assert body == {"org_id": A, "name": "Org A", "state": HEALTHY, "reason": "10 requests in the last 24 h, 1 failed",
                    "last_contact": "2026-12-01T11:59:01Z", "total_24h": 10, "failed_24h": 1, "error_rate": 0.1,
                    "capped": False}
