"""When `scimgate run`'s supervisor calls its worker hung, from the heartbeats it reads."""

from __future__ import annotations

from scimgate.worker_supervisor import HangWatch

T0 = 1_000_000.0


def beat(**kwargs) -> HangWatch:
    return HangWatch(hang_seconds=15, start_grace=60, spawned=T0, **kwargs)


def test_a_worker_that_keeps_stamping_never_hangs():
    heartbeat = beat()
    for second in range(1, 600):
        assert heartbeat.hung_for(T0 + second - 1, T0 + second) is None


def test_a_worker_whose_stamp_stops_hangs_once_the_stamp_is_older_than_the_threshold():
    heartbeat = beat()
    assert heartbeat.hung_for(T0 + 5, T0 + 5.5) is None
    assert heartbeat.hung_for(T0 + 5, T0 + 20) is None  # 15 s old: not yet
    assert heartbeat.hung_for(T0 + 5, T0 + 20.5) == 15.5
    # The member gone from the set (pruned) changes nothing: the last stamp seen counts.
    assert heartbeat.hung_for(None, T0 + 21) == 16


def test_a_starting_worker_has_a_grace_then_hangs_if_it_never_stamped():
    heartbeat = beat()
    assert heartbeat.hung_for(None, T0 + 59) is None
    assert heartbeat.hung_for(None, T0 + 61) == 61


def test_a_stamp_seen_only_when_already_old_is_no_verdict_until_once_fresh():
    heartbeat = beat()
    assert heartbeat.hung_for(T0 - 100, T0 + 1) is None  # e.g. a stamp left by a pid reused
    assert heartbeat.hung_for(T0 + 2, T0 + 2.5) is None
    assert heartbeat.hung_for(T0 + 2, T0 + 30) is not None


def test_while_redis_cannot_be_read_there_is_no_verdict_and_after_it_a_full_threshold():
    heartbeat = beat()
    assert heartbeat.hung_for(T0 + 1, T0 + 1.2) is None
    heartbeat.unreadable()  # Redis down from T0 + 2 to T0 + 40: nobody could stamp
    assert heartbeat.hung_for(T0 + 1, T0 + 40) is None  # back: the worker reconnects
    assert heartbeat.hung_for(T0 + 1, T0 + 54) is None
    assert heartbeat.hung_for(T0 + 41, T0 + 56) is None  # it stamped again
    heartbeat.unreadable()
    assert heartbeat.hung_for(T0 + 41, T0 + 80) is None
    assert heartbeat.hung_for(T0 + 41, T0 + 95.5) is not None  # and then never again: hung
