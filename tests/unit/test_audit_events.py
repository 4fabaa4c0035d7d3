"""Audit event ids (UUIDv7, given at creation) and the bounding/escaping of client-supplied fields."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

from domain import events as ev
from domain.commands import Actor, CreateUser
from scimgate.admin import _format_event


def test_every_event_gets_a_unique_uuid7_when_it_is_created():
    ids = [ev.AuditEvent(action="a", org_id="o", outcome="success", time="t").event_id for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == ids[0]


def test_event_ids_carry_their_creation_time_and_sort_by_it():
    before = time.time_ns() // 1_000_000
    first = ev.new_event_id()
    after = time.time_ns() // 1_000_000
    assert before <= uuid.UUID(first).int >> 80 <= after
    # Later ids (a later millisecond) sort after earlier ones, as text too.
    while time.time_ns() // 1_000_000 <= after:
        pass
    assert ev.new_event_id() > first


def test_the_id_travels_with_the_event_and_unapplied_events_have_one_too():
    command = CreateUser(id="c1", org_id="o", actor=Actor("tok", "ua", "okta"), request_id="r",
                         deadline=0.0, reply_to="x", body={"userName": "x"})
    one = ev.EVENTS.unapplied(command, outcome=ev.EXPIRED, status=503)
    two = ev.EVENTS.unapplied(command, outcome=ev.EXPIRED, status=503)
    assert one.to_dict()["event_id"] == one.event_id != two.event_id


def test_control_characters_are_escaped_onto_one_line():
    assert ev.escape_control("plain text/ok") == "plain text/ok"
    assert ev.escape_control("a\nb\r\tc\x1b[31m\x00\u2028\x85\\") == "a\\nb\\r\\tc\\x1b[31m\\x00\\u2028\\x85\\\\"
    assert ev.escape_control("a\\nb\n", backslashes=False) == "a\\nb\\n"
    assert "\n" not in ev.clean_text("x\n" * 10_000, 256)


def test_client_text_is_bounded():
    cut = ev.clean_text("p" * 10_000, 256)
    assert cut.startswith("p" * 256) and cut.endswith("…[+9744 chars]") and len(cut) < 300
    assert ev.clean_text("short", 256) == "short"


def test_an_org_id_is_kept_only_when_it_has_the_shape_of_one():
    good = "c" + "a1" * 12
    assert ev.event_org_id(good) == good
    for bad in ["C" + "A1" * 12, "short", "x" * 10_000, "evil\n2026-01-01  scim:user:create  success  org=x", ""]:
        recorded = ev.event_org_id(bad)
        assert recorded.startswith("invalid:") and "\n" not in recorded and len(recorded) < 80


def test_a_refusal_event_bounds_every_client_supplied_field():
    huge = "\n" + "z" * 20_000
    event = ev.EVENTS.refusal(
        ev.AUTH_REFUSED, org_id="org" + huge, method="GET" + huge, path="/scim/v2/x" + huge,
        reason="The token is not valid for organization org" + huge, status=401,
        user_agent="agent" + huge, request_id="req",
    ).to_dict()
    assert event["event_id"] and event["outcome"] == ev.REFUSED
    assert len(repr(event)) < 1500
    assert not any("\n" in str(value) for value in [*event.values(), *event["detail"].values()])


def test_a_throttle_summary_names_its_source_and_count():
    event = ev.EVENTS.throttled(source="203.0.113.9", count=42, org_ids=["c" + "a" * 24], since=datetime(2026, 1, 1))
    assert event.action == ev.AUTH_THROTTLED and event.status == 429 and event.org_id == "c" + "a" * 24
    assert event.detail["count"] == 42 and event.detail["source"] == "203.0.113.9"
    assert ev.EVENTS.throttled(source="s", count=1, org_ids=["a", "b"], since=datetime(2026, 1, 1)).org_id == ""


def test_audit_tail_prints_one_line_per_event_whatever_its_fields_hold():
    forged = "x\n2026-11-28T21:48:11Z  scim:user:delete  success  org=victim"
    event = {"time": "2026-11-28T21:48:10Z", "action": "scim:auth:refused", "outcome": "refused", "org_id": forged,
             "resource_type": "User\r", "resource_id": "\x1b[2J", "idp": "okta\n", "status": 401,
             "changed": ["a\nb"]}
    line = _format_event(event)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "org=x\\n2026-11-28T21:48:11Z" in line


def test_audit_tail_shows_a_throttle_summary_with_its_count():
    event = ev.EVENTS.throttled(source="198.51.100.7", count=17, org_ids=[], since=datetime(2026, 1, 1)).to_dict()
    assert "source=198.51.100.7 count=17" in _format_event(event)


def test_every_event_has_one_time_format_from_its_factorys_clock():
    """One clock, one format: ISO 8601 UTC, always with microseconds, and a Z (also at a whole second)."""
    command = CreateUser(id="c1", org_id="o", actor=Actor("tok", "ua", "okta"), request_id="r",
                         deadline=0.0, reply_to="x", body={"userName": "x"})
    moments = iter([datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, 60),
                    datetime(2026, 1, 2, 4, 4, 5, 7, tzinfo=timezone(timedelta(hours=1)))])
    events = ev.AuditEvents(clock=lambda: next(moments))
    made = [
        events.unapplied(command, outcome=ev.EXPIRED, status=503),
        events.refusal(ev.AUTH_REFUSED, org_id="o", method="GET", path="/", reason="r", status=401),
        events.throttled(source="s", count=1, org_ids=[], since=datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
    ]
    assert [e.time for e in made] == [
        "2026-01-02T03:04:05.000000Z", "2026-01-02T03:04:05.000060Z", "2026-01-02T03:04:05.000007Z"]
    assert made[2].detail["since"] == "2026-01-02T03:04:00.000000Z"
