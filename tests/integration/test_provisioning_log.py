"""The provisioning log on a real store (both backends) and a real Redis: written once per event
whatever dies when, every filter, keyset paging, retention pruning, refusals from the feed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from domain import events as ev
from domain.commands import Actor, PatchUser
from domain.provisioning_log import LogQuery, parse_query
from infra.redis.audit_stream import AuditStream
from infra.store import outbox, provisioning_log
from infra.store.clock import utcnow
from infra.store.tables import provisioning_log as log_table
from tests.integration.test_audit_relay import (  # noqa: F401  (fixtures)
    age_outbox, client, creates, new_runtime, org_id, outbox_count, settings,
)
from worker import relay as relay_module
from worker.apply import BatchApplier

NOW = datetime(2026, 12, 1, 12, 0, 0)


def logged_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return [row.event_id for row in conn.execute(select(log_table.c.event_id))]


def log_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(log_table)).scalar_one()


def search(engine, **filters) -> list[dict]:
    with engine.connect() as conn:
        return provisioning_log.search(conn, LogQuery(**filters)).entries


# -- written exactly once -----------------------------------------------------------------------


def test_each_event_is_logged_once_across_a_relay_crash_and_a_redelivery(sync_engine, org_id, new_runtime):
    commands = creates(org_id, 5)
    applier = BatchApplier(sync_engine, command_timeout=30)
    decided, events = applier.apply(commands)
    written = sorted(event["event_id"] for _seq, event in events)
    crashed = new_runtime()
    crashed.relay.publish([], events)  # published after commit; the process dies before its delete
    assert log_count(sync_engine) == 0
    again, more = applier.apply(commands)  # Celery redelivers the batch: nothing new is decided
    assert [d.outcome for d in again] == ["duplicate"] * 5 and more == []
    age_outbox(sync_engine)
    assert new_runtime().relay.sweep() == 5  # another worker's sweeper finds the rows
    assert sorted(logged_ids(sync_engine)) == written and outbox_count(sync_engine) == 0
    crashed.relay.sweep()  # the crashed relay's memory, forgotten once more: still once each
    assert sorted(logged_ids(sync_engine)) == written
    entry = search(sync_engine, org_id=org_id, command_id=commands[0].id)[0]
    assert entry["outcome"] == "applied" and entry["queueWaitMs"] is not None and entry["applyMs"] is not None
    assert entry["resource"]["name"] == commands[0].body["userName"]


def test_a_log_write_that_never_committed_is_written_once_later(sync_engine, org_id, new_runtime, monkeypatch):
    BatchApplier(sync_engine).apply(creates(org_id, 3))
    age_outbox(sync_engine)

    def dies(conn, events):
        provisioning_log.write_entries(conn, events)
        raise RuntimeError("the sweeper died after writing the log, before its commit")

    monkeypatch.setattr(outbox, "forget_events", dies)
    with pytest.raises(RuntimeError):
        new_runtime().relay.sweep()
    assert log_count(sync_engine) == 0 and outbox_count(sync_engine) == 3  # rolled back together
    monkeypatch.undo()
    new_runtime().relay.sweep()
    assert log_count(sync_engine) == 3 and outbox_count(sync_engine) == 0


def test_the_next_batch_logs_what_the_previous_one_relayed(sync_engine, org_id, new_runtime):
    rt = new_runtime()
    rt.applier = BatchApplier(sync_engine)
    _decided, first = rt.applier.apply(creates(org_id, 2))
    rt.relay.publish([], first)
    relayed = rt.relay.take_relayed()
    _decided, second = rt.applier.apply(creates(org_id, 1), forget=relayed)
    assert sorted(logged_ids(sync_engine)) == sorted(event["event_id"] for _s, event in first)
    assert outbox_count(sync_engine) == len(second)


def test_refusals_reach_the_log_once_from_the_ingress_feed(sync_engine, new_runtime, client, settings, redis_url):
    import redis.asyncio as aioredis

    stream = AuditStream.from_settings(settings)
    event = ev.EVENTS.refusal(ev.AUTH_REFUSED, org_id="c" + "1" * 24, method="GET", path="/scim/v2/x/Users",
                              reason="The token is not valid", status=401, request_id="req-refused").to_dict()

    async def publish_twice():
        connection = aioredis.from_url(redis_url)
        try:
            await stream.publish_async(connection, event)
            await stream.publish_async(connection, event)  # a retried publish
        finally:
            await connection.aclose()

    asyncio.run(publish_twice())
    rt = new_runtime()
    assert rt.relay.log_refusals() == 2
    assert rt.relay.log_refusals() == 0  # the feed was emptied
    [entry] = search(sync_engine, request_id="req-refused")
    assert entry["outcome"] == "refused" and entry["status"] == 401 and entry["suggestedFix"]


# -- search -------------------------------------------------------------------------------------


def _event(org: str, n: int, **fields) -> dict:
    base = {
        "event_id": str(uuid.uuid4()), "org_id": org, "action": ev.USER_UPDATE, "outcome": ev.SUCCESS,
        "time": ev.format_time(NOW + timedelta(minutes=n)), "resource_type": "User", "resource_id": f"u-{n}",
        "resource_name": f"User{n}@Example.com", "external_id": f"ext-{n}", "idp": "okta", "status": 200,
        "request_id": f"req-{n}", "command_id": f"cmd-{n}", "changed": ["active"], "values": {"active": False},
    }
    return {**base, **fields}


@pytest.fixture
def seeded(sync_engine):
    orgs = ["c" + "a" * 24, "c" + "b" * 24]
    events = [_event(orgs[0], n) for n in range(6)] + [
        _event(orgs[0], 10, action=ev.TEAM_MEMBER_ADD, resource_type="Group", resource_id="t-1",
               resource_name="Astro", external_id="grp-astro", detail={"members_added": 1}),
        _event(orgs[0], 11, action="scim:team:patch", outcome=ev.FAILURE, status=400, resource_type="Group",
               resource_id="t-1", resource_name=None, external_id=None, idp="entra",
               detail={"detail": "members must be users of this organization; unknown user id(s): x",
                       "scimType": "invalidValue"}),
        _event(orgs[0], 12, outcome=ev.EXPIRED, status=503, detail={"detail": "deadline"}),
        _event(orgs[0], 13, detail={"unchanged": True}),
        _event(orgs[1], 3, resource_id="u-3", resource_name="User3@Example.com"),  # same ids, other org
    ]
    with sync_engine.begin() as conn:
        provisioning_log.write_entries(conn, events)
        provisioning_log.write_entries(conn, events[:3])  # written again: ignored
    return orgs


def test_every_filter(sync_engine, seeded):
    org = seeded[0]

    def names(**filters) -> list[str]:
        return [e["requestId"] for e in search(sync_engine, org_id=org, **filters)]

    assert len(names()) == 10 and names()[0] == "req-13"  # newest first, this organization only
    assert names(user="u-3") == names(user="user3@example.COM") == names(user="ext-3") == ["req-3"]
    assert names(team="t-1") == ["req-11", "req-10"]
    assert names(team="astro") == names(team="grp-astro") == ["req-10"]
    assert names(user="t-1") == [] and names(team="u-3") == []
    assert names(action=ev.TEAM_MEMBER_ADD) == ["req-10"]
    assert names(outcome="rejected") == ["req-11"] and names(outcome="expired") == ["req-12"]
    assert names(outcome="unchanged") == ["req-13"] and len(names(outcome="applied")) == 7
    assert names(idp="entra") == ["req-11"]
    assert names(request_id="req-4") == ["req-4"] and names(command_id="cmd-5") == ["req-5"]
    assert names(since=NOW + timedelta(minutes=4), until=NOW + timedelta(minutes=11)) == ["req-10", "req-5", "req-4"]
    assert len(search(sync_engine, user="u-3")) == 2  # across organizations (operators)
    rejected = search(sync_engine, org_id=org, outcome="rejected")[0]
    assert rejected["error"] == {"scimType": "invalidValue",
                                 "detail": "members must be users of this organization; unknown user id(s): x"}
    assert "does not exist" not in rejected["summary"] and "Assign" in rejected["suggestedFix"]


def test_filters_parsed_from_text_run_the_same(sync_engine, seeded):
    query = parse_query({"user": "USER2@example.com", "since": "2026-12-01T11:00:00Z", "limit": "5"},
                        now=NOW, org_id=seeded[0])
    with sync_engine.connect() as conn:
        assert [e["requestId"] for e in provisioning_log.search(conn, query).entries] == ["req-2"]


def test_cursor_paging_is_newest_first_without_gaps_or_repeats(sync_engine):
    org = "c" + "p" * 24
    same_time = ev.format_time(NOW)
    events = [_event(org, n, time=same_time if n % 3 == 0 else ev.format_time(NOW + timedelta(seconds=n)))
              for n in range(23)]
    with sync_engine.begin() as conn:
        provisioning_log.write_entries(conn, events)
    seen, cursor, pages = [], None, 0
    while True:
        with sync_engine.connect() as conn:
            page = provisioning_log.search(conn, parse_query({"limit": "10", **({"cursor": cursor} if cursor else {})},
                                                             now=NOW, org_id=org))
        seen += [e["id"] for e in page.entries]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 23
    times = [e["time"] for e in search(sync_engine, org_id=org, limit=100)]
    assert times == sorted(times, reverse=True)
    assert seen == [e["id"] for e in search(sync_engine, org_id=org, limit=100)]


# -- retention ----------------------------------------------------------------------------------


def test_pruning_deletes_only_what_is_past_the_retention_in_small_batches(sync_engine, new_runtime, monkeypatch):
    org = "c" + "r" * 24
    now = utcnow()
    old = [_event(org, n, time=ev.format_time(now - timedelta(days=40, minutes=n))) for n in range(25)]
    recent = [_event(org, 100 + n, time=ev.format_time(now - timedelta(days=29, minutes=n))) for n in range(3)]
    with sync_engine.begin() as conn:
        provisioning_log.write_entries(conn, old + recent)
    monkeypatch.setattr(provisioning_log, "PRUNE_BATCH", 10)
    monkeypatch.setattr(relay_module, "LOG_PRUNE_BATCHES", 2)
    rt = new_runtime()
    assert rt.relay.prune_log() == 20  # bounded per call: two batches of ten
    assert rt.relay.prune_log() == 5
    assert sorted(logged_ids(sync_engine)) == sorted(e["event_id"] for e in recent)


def test_the_log_never_holds_a_password_sent_in_a_patch(sync_engine, org_id):
    applier = BatchApplier(sync_engine)
    [created] = creates(org_id, 1)
    decided, _ = applier.apply([created])
    user_id = decided[0].reply.body["id"]
    patch = PatchUser(id=f"p-{uuid.uuid4().hex}", org_id=org_id, actor=Actor("tok", "ua", "okta"), request_id="r",
                      deadline=created.deadline, reply_to="r", resource_id=user_id, password_supplied=True,
                      operations={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                  "Operations": [{"op": "replace", "path": "displayName", "value": "Ada"}]})
    _decided, events = applier.apply([patch])
    with sync_engine.begin() as conn:
        outbox.forget_events(conn, events)
    [entry] = search(sync_engine, command_id=patch.id)
    assert entry["changed"] == ["displayName", "password"]
    assert entry["newValues"] == {"displayName": "Ada"} and "password" not in entry["newValues"]
