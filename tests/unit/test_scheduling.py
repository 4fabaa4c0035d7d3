"""Which waiting commands go into the next batch: order per resource, fairness, suspects alone."""

from __future__ import annotations

from tests.support.commands import make_command
from infra.redis.scheduling import DROPPED, Flight, Schedule


def flight(n: int, resource_id: str | None = None, user_name: str | None = None, org: str = "org") -> Flight:
    body = {"userName": user_name} if user_name else None
    kind = "user.patch" if resource_id else "user.create"
    command = make_command(kind, body or {"Operations": []}, id=f"c{n}", org_id=org, deadline=0, resource_id=resource_id)
    return Flight(command, None, None)


def ids(flights) -> list[str]:
    return [f.command.id for f in flights]


def queued(schedule: Schedule, *flights: Flight) -> Schedule:
    for f in flights:
        schedule.push(f)
    return schedule


def test_a_resource_busy_in_an_earlier_batch_waits_for_it():
    s = queued(Schedule(128), flight(1, "u1"), flight(2, "u2"), flight(3, "u1"), flight(4, user_name="a@x"),
               flight(5, user_name="A@X"))
    # One batch may hold several commands for one resource, in arrival order (applied in order).
    first = s.take()
    assert ids(first) == ["c1", "c2", "c3", "c4", "c5"]
    c6, c7, c8 = flight(6, "u1"), flight(7, "u9"), flight(8, user_name="a@X")
    queued(s, c6, c7, c8)
    assert ids(s.take()) == ["c7"]  # c6 waits for c1 and c3, c8 for c4 and c5
    assert s.busy("org:User:u1") == 2 and s.busy("org:User:a@x") == 2
    for f in first:
        if f.command.resource_id == "u1":
            s.release(f)
    assert s.busy("org:User:u1") == 0
    assert ids(s.take()) == ["c6"]
    for f in first:
        s.release(f)
    assert ids(s.take()) == ["c8"]


def test_batches_are_capped_and_keep_arrival_order():
    s = queued(Schedule(2), *(flight(n, f"u{n}") for n in range(5)))
    assert ids(s.take()) == ["c0", "c1"]
    assert ids(s.take()) == ["c2", "c3"]
    assert ids(s.take()) == ["c4"]
    assert s.take() == []


def test_a_command_whose_request_stopped_waiting_is_never_taken():
    a, b = flight(1, "u1"), flight(2, "u2")
    s = queued(Schedule(128), a, b)
    a.state = DROPPED
    assert ids(s.take()) == ["c2"]
    assert len(s) == 0


def test_organizations_take_turns_so_a_bulk_sync_cannot_starve_another():
    s = Schedule(4)
    queued(s, *(flight(n, f"u{n}", org="big") for n in range(100)))
    queued(s, flight(900, "x1", org="small"), flight(901, "x2", org="small"))
    batch = s.take()
    assert {f.command.org_id for f in batch} == {"big", "small"}
    assert ids([f for f in batch if f.command.org_id == "small"]) == ["c900", "c901"]
    # Within one organization, arrival order holds.
    assert ids([f for f in batch if f.command.org_id == "big"]) == ["c0", "c1"]
    assert s.waiting("big") == 98 and s.waiting("small") == 0


def test_the_organization_served_first_is_served_last_next_time():
    s = Schedule(1)
    queued(s, flight(1, "a1", org="a"), flight(2, "a2", org="a"), flight(3, "b1", org="b"), flight(4, "b2", org="b"))
    assert ids(s.take()) == ["c1"]
    assert ids(s.take()) == ["c3"]
    assert ids(s.take()) == ["c2"]
    assert ids(s.take()) == ["c4"]


def test_a_taken_back_command_goes_alone_and_first_keeping_its_resource_order():
    s = Schedule(128)
    lost_1, lost_2, later = flight(1, "g1"), flight(2, "g1"), flight(3, "g1")
    queued(s, lost_1, lost_2)
    assert ids(s.take()) == ["c1", "c2"]  # in flight; then their worker is lost
    queued(s, later, flight(4, "u4"))
    for f in (lost_1, lost_2):
        f.state, f.resubmitted = "pending", True
    s.push_front([lost_1, lost_2])
    assert ids(s.take()) == ["c1"]  # alone, although its key is busy (it holds it)
    assert ids(s.take()) == ["c2"]
    assert ids(s.take()) == ["c4"]  # c3 still waits behind the keys the taken-back ones hold
    s.release(lost_1)
    s.release(lost_2)
    assert ids(s.take()) == ["c3"]


def test_while_a_suspect_is_in_flight_the_others_wait_but_other_resources_go():
    s = Schedule(128)
    suspect, same_key, other = flight(1, "g1"), flight(2, "g1"), flight(3, "u3")
    queued(s, suspect)
    s.take()
    suspect.state, suspect.resubmitted = "pending", True
    s.push_front([suspect])
    queued(s, same_key, other)
    assert ids(s.take(allow_suspect=False)) == ["c3"]  # g1's commands wait behind the suspect
    assert ids(s.take(allow_suspect=True)) == ["c1"]
    s.release(suspect)
    assert ids(s.take()) == ["c2"]
