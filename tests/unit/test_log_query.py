"""Reading a provisioning-log search from text (``domain.provisioning_log``): every filter, times
absolute and relative, cursors, limits; anything unreadable is an ``InvalidLogQuery``."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain import events as ev
from domain.provisioning_log import InvalidLogQuery, LogCursor, outcome_of, parse_query, parse_when

NOW = datetime(2026, 12, 1, 12, 0, 0)
ORG = "c" + "a" * 24


def q(**params):
    return parse_query(params, now=NOW, org_id=ORG)


def test_every_filter_is_read():
    query = q(user="ada@example.com", team="Astro", action="scim:user:create", outcome="rejected", idp="okta",
              requestId="req-1", command_id="cmd-1", limit="7")
    assert (query.org_id, query.user, query.team, query.action, query.outcome, query.idp, query.request_id,
            query.command_id, query.limit) == (ORG, "ada@example.com", "Astro", "scim:user:create", "rejected",
                                               "okta", "req-1", "cmd-1", 7)
    assert q().limit == 50 and q(user="  ").user is None


@pytest.mark.parametrize("text, expected", [
    ("30m", NOW - timedelta(minutes=30)), ("24h", NOW - timedelta(hours=24)), ("7d", NOW - timedelta(days=7)),
    ("90s", NOW - timedelta(seconds=90)), ("2w", NOW - timedelta(weeks=2)),
    ("2026-11-30T08:00:00Z", datetime(2026, 11, 30, 8)), ("2026-11-30T09:00:00+01:00", datetime(2026, 11, 30, 8)),
    ("2026-11-30", datetime(2026, 11, 30)), ("2026-11-30T08:00:00.5", datetime(2026, 11, 30, 8, 0, 0, 500000)),
])
def test_times_absolute_and_relative(text, expected):
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("params", [
    {"since": "yesterday"}, {"until": "5 parsecs"}, {"since": "1h", "until": "2h"}, {"outcome": "success"},
    {"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"cursor": "not-a-cursor"}, {"cursor": "!!!"},
    {"colour": "blue"}, {"org": ORG}, {"user": "x" * 513},
])
def test_what_cannot_be_read_is_an_invalid_query(params):
    with pytest.raises(InvalidLogQuery):
        q(**params)


def test_operators_may_narrow_to_one_organization():
    assert parse_query({}, now=NOW, org_id=None, allow_org=True).org_id is None
    assert parse_query({"org": ORG}, now=NOW, org_id=None, allow_org=True).org_id == ORG


def test_cursors_round_trip():
    cursor = LogCursor(datetime(2026, 12, 1, 11, 59, 59, 123456), 42)
    assert LogCursor.decode(cursor.encode()) == cursor
    assert q(cursor=cursor.encode()).cursor == cursor


@pytest.mark.parametrize("event, outcome", [
    ({"outcome": ev.SUCCESS}, "applied"), ({"outcome": ev.SUCCESS, "detail": {"unchanged": True}}, "unchanged"),
    ({"outcome": ev.FAILURE}, "rejected"), ({"outcome": ev.EXPIRED}, "expired"), ({"outcome": ev.REFUSED}, "refused"),
])
def test_outcomes_in_the_words_of_the_log(event, outcome):
    assert outcome_of(event) == outcome
