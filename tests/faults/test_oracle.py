"""The oracle catches every violation it names, and passes what a correct service may do."""

from __future__ import annotations

import itertools

from tests.faults import oracle
from tests.faults.load import (
    ADD_MEMBER, CREATE_USER, ERROR, OK, PATCH_USER, REFUSED, REMOVE_MEMBER, UNKNOWN, Request,
)
from tests.faults.oracle import StoreSnapshot

ORG = "org1"
TIMEOUT, MARGIN = 3.0, 1.0
_ids = itertools.count()


def req(op: str, outcome: str, sent: float, answered: float | None = None, **fields) -> Request:
    status = fields.pop("status", {OK: 200, ERROR: 503}.get(outcome))
    fields.setdefault("retry_after", "5" if status == 503 else None)
    return Request(f"r{next(_ids)}", ORG, "0.0", op, 0, sent, answered if answered is not None else sent + 0.05,
                   outcome, status, **fields)


def created(user_id: str, sent: float = 0.0) -> Request:
    return req(CREATE_USER, OK, sent, user_name=f"{user_id}@example.com", user_id=user_id, status=201)


def success(r: Request, command: str | None = None) -> dict:
    command = command or f"cmd-{r.request_id}"
    return {"org_id": ORG, "outcome": "success", "request_id": r.request_id, "command_id": command,
            "event_id": f"evt-{command}"}


def store(users=None, members=(), applied=(), teams=None) -> StoreSnapshot:
    return StoreSnapshot(users=users or {}, teams=teams or {}, members=set(members),
                         applied={c: ORG for c in applied})


def check(requests, snapshot, events) -> dict:
    return oracle.check(requests, snapshot, events, command_timeout=TIMEOUT, reply_margin=MARGIN).violations


def nonzero(violations: dict) -> dict:
    return {k: v for k, v in violations.items() if v}


def consistent(requests: list[Request], snapshot: StoreSnapshot) -> list[dict]:
    """One success event per applied request, matching the ledger."""
    events = [success(r) for r in requests if r.outcome == OK]
    snapshot.applied.update({e["command_id"]: ORG for e in events})
    return events


def test_a_clean_history_has_no_violation():
    user = created("u1")
    patches = [req(PATCH_USER, OK, 1.0 + i, user_id="u1", value=f"v{i}") for i in range(3)]
    failed = req(PATCH_USER, ERROR, 5.0, user_id="u1", value="never")
    requests = [user, *patches, failed]
    snapshot = store(users={"u1": (ORG, "u1@example.com", "v2")})
    assert nonzero(check(requests, snapshot, consistent(requests, snapshot))) == {}


def test_an_acknowledged_create_missing_from_the_store_is_lost():
    user = created("u1")
    snapshot = store()
    assert nonzero(check([user], snapshot, consistent([user], snapshot))) == {"lost_acknowledged": 1}


def test_a_create_answered_503_or_refused_but_stored_was_applied_after_an_error():
    for outcome in (ERROR, REFUSED):
        failed = req(CREATE_USER, outcome, 0.0, user_name="late@example.com")
        snapshot = store(users={"u9": (ORG, "LATE@example.com", None)})
        assert nonzero(check([failed], snapshot, [])) == {"applied_after_error": 1}


def test_a_success_event_for_a_request_answered_503_is_applied_after_an_error():
    user = created("u1")
    failed = req(PATCH_USER, ERROR, 1.0, user_id="u1", value="never")
    snapshot = store(users={"u1": (ORG, "u1@example.com", f"initial {user.request_id}")})
    events = consistent([user], snapshot) + [success(failed)]
    snapshot.applied[events[-1]["command_id"]] = ORG
    found = nonzero(check([user, failed], snapshot, events))
    assert found == {"applied_after_error": 1}


def test_one_request_applied_under_two_commands_is_applied_twice():
    user = created("u1")
    snapshot = store(users={"u1": (ORG, "u1@example.com", None)})
    events = [success(user, "c1"), success(user, "c2")]
    snapshot.applied.update({"c1": ORG, "c2": ORG})
    assert nonzero(check([user], snapshot, events)) == {"applied_twice": 1}


def test_an_event_published_twice_is_a_duplicate_by_id_and_by_decision():
    user = created("u1")
    snapshot = store(users={"u1": (ORG, "u1@example.com", None)})
    events = consistent([user], snapshot) * 3
    assert nonzero(check([user], snapshot, events)) == {"duplicate_events": 2, "duplicate_event_ids": 2}
    # Two different events under one reused id (an outbox row id used again) count by id only.
    other = dict(success(user), command_id="other", outcome="expired")
    assert nonzero(check([user], snapshot, [events[0], other])) == {"duplicate_event_ids": 1}


def test_an_applied_command_or_a_2xx_without_a_success_event_is_missing_one():
    user = created("u1")
    snapshot = store(users={"u1": (ORG, "u1@example.com", None)}, applied=["c-orphan"])
    assert nonzero(check([user], snapshot, [])) == {"missing_events": 2}


def test_the_last_acknowledged_value_must_be_stored():
    user = created("u1")
    first = req(PATCH_USER, OK, 1.0, user_id="u1", value="old")
    last = req(PATCH_USER, OK, 2.0, user_id="u1", value="new")
    requests = [user, first, last]
    snapshot = store(users={"u1": (ORG, "u1@example.com", "old")})  # the later 2xx was lost
    assert nonzero(check(requests, snapshot, consistent(requests, snapshot))) == {"lost_acknowledged": 1}


def test_a_value_from_a_write_answered_503_is_applied_after_an_error():
    user = created("u1")
    ok = req(PATCH_USER, OK, 1.0, user_id="u1", value="kept")
    failed = req(PATCH_USER, ERROR, 2.0, answered=6.0, user_id="u1", value="never")
    requests = [user, ok, failed]
    snapshot = store(users={"u1": (ORG, "u1@example.com", "never")})
    assert nonzero(check(requests, snapshot, consistent(requests, snapshot))) == {"applied_after_error": 1}


def test_an_unknown_outcome_may_land_after_the_last_acknowledged_write_only_within_its_deadline():
    user = created("u1")
    unknown = req(PATCH_USER, UNKNOWN, 1.0, answered=1.1, user_id="u1", value="maybe")
    soon = req(PATCH_USER, OK, 2.0, user_id="u1", value="acknowledged")  # while "maybe" may still apply
    requests = [user, unknown, soon]
    snapshot = store(users={"u1": (ORG, "u1@example.com", "maybe")})
    assert nonzero(check(requests, snapshot, consistent(requests, snapshot))) == {}

    much_later = req(PATCH_USER, OK, 1.0 + TIMEOUT + MARGIN + oracle.INGRESS_SLACK_SECONDS + 1, user_id="u1",
                     value="acknowledged later")  # "maybe" was decided long before
    requests = [user, unknown, much_later]
    snapshot = store(users={"u1": (ORG, "u1@example.com", "maybe")})
    assert nonzero(check(requests, snapshot, consistent(requests, snapshot))) == {"lost_acknowledged": 1}


def test_without_an_acknowledged_patch_the_created_value_or_an_unknown_one_stands():
    user = created("u1")
    unknown = req(PATCH_USER, UNKNOWN, 1.0, user_id="u1", value="maybe")
    requests = [user, unknown]
    for stored in (f"initial {user.request_id}", "maybe"):
        snapshot = store(users={"u1": (ORG, "u1@example.com", stored)})
        assert nonzero(check(requests, snapshot, consistent(requests, snapshot))) == {}


def test_membership_follows_the_last_acknowledged_add_or_remove():
    user = created("u1")
    team = {"t1": (ORG, "team")}
    add = req(ADD_MEMBER, OK, 1.0, user_id="u1", team_id="t1")
    remove_failed = req(REMOVE_MEMBER, ERROR, 2.0, user_id="u1", team_id="t1")
    requests = [user, add, remove_failed]
    users = {"u1": (ORG, "u1@example.com", None)}
    member = store(users=users, teams=team, members=[("t1", "u1")])
    assert nonzero(check(requests, member, consistent(requests, member))) == {}
    gone = store(users=users, teams=team)  # the 503'd remove happened
    assert nonzero(check(requests, gone, consistent(requests, gone))) == {"applied_after_error": 1}
    remove_ok = req(REMOVE_MEMBER, OK, 3.0, user_id="u1", team_id="t1")
    requests = [user, add, remove_ok]
    still = store(users=users, teams=team, members=[("t1", "u1")])  # the 2xx remove was lost
    assert nonzero(check(requests, still, consistent(requests, still))) == {"lost_acknowledged": 1}


def test_a_500_is_a_server_error_and_a_dead_letter_is_named():
    failed = req(CREATE_USER, ERROR, 0.0, user_name="x@example.com", status=500)
    dead = {"org_id": ORG, "outcome": "failure", "command_id": "c", "event_id": "e", "request_id": failed.request_id,
            "detail": {"deadLettered": True}}
    assert nonzero(check([failed], store(), [dead])) == {"server_errors": 1, "dead_lettered": 1}


def test_a_503_or_429_without_retry_after_is_named():
    busy = req(CREATE_USER, ERROR, 0.0, user_name="x@example.com", retry_after="")
    slow_down = req(CREATE_USER, ERROR, 1.0, user_name="y@example.com", status=429)
    assert nonzero(check([busy, slow_down], store(), [])) == {"missing_retry_after": 2}
