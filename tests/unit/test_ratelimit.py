"""Token buckets, their bounded per-key map, source keys and the throttled-refusal tally (no I/O)."""

from __future__ import annotations

import pytest

from domain.ratelimit import OTHER_SOURCES, Budget, Buckets, RefusalTally, TokenBucket, retry_after, source_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_bucket_allows_its_burst_then_its_rate():
    bucket = TokenBucket.full(Budget(rate=2, burst=5), now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token comes back every 0.5 s
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) > 0


def test_a_bucket_never_holds_more_than_its_burst():
    bucket = TokenBucket.full(Budget(rate=10, burst=3), now=0.0)
    assert bucket.take(0.0) == 0.0
    # An hour idle refills it to 3, not 36,000.
    assert [bucket.take(3600.0) for _ in range(3)] == [0.0] * 3
    assert bucket.take(3600.0) > 0


def test_a_refused_take_costs_nothing():
    bucket = TokenBucket.full(Budget(rate=1, burst=1), now=0.0)
    assert bucket.take(0.0) == 0.0
    for _ in range(100):
        assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(1.0) == 0.0


def test_rate_zero_is_off():
    clock = Clock()
    buckets = Buckets(Budget(rate=0, burst=1), clock=clock)
    assert all(buckets.take("org") == 0.0 for _ in range(10_000))
    assert len(buckets) == 0


def test_keys_have_separate_buckets():
    clock = Clock()
    buckets = Buckets(Budget(rate=1, burst=2), clock=clock)
    assert [buckets.take("a") for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0  # another key is unaffected
    clock.advance(1.0)
    assert buckets.take("a") == 0.0


def test_the_map_is_bounded_and_forgets_the_least_recently_used():
    clock = Clock()
    buckets = Buckets(Budget(rate=1, burst=1), clock=clock, capacity=3)
    for key in ["a", "b", "c"]:
        assert buckets.take(key) == 0.0
    assert buckets.take("a") > 0  # "a" is now the most recently used
    assert buckets.take("d") == 0.0  # evicts "b"
    assert len(buckets) == 3
    assert buckets.take("a") > 0 and buckets.take("c") > 0 and buckets.take("d") > 0
    assert buckets.take("b") == 0.0  # forgotten: starts full again (lenient, never harsher)
    for i in range(10_000):
        buckets.take(f"k{i}")
    assert len(buckets) == 3


@pytest.mark.parametrize(("wait", "seconds"), [(0.0001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (59.9, 60)])
def test_retry_after_is_whole_seconds_at_least_one(wait, seconds):
    assert retry_after(wait) == seconds


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # the same /64: the same budget
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("", "unknown"),
        (None, "unknown"),
        ("not-an-ip" * 20, ("not-an-ip" * 20)[:64]),
    ],
)
def test_source_keys(address, key):
    assert source_key(address) == key


def test_the_tally_reports_each_source_once_per_interval_with_its_count():
    clock = Clock()
    tally = RefusalTally(10.0, clock=clock)
    assert tally.next_due() is None
    for _ in range(5):
        tally.note("198.51.100.7", "org-a")
    clock.advance(4)
    tally.note("198.51.100.7", "org-b")
    tally.note("203.0.113.9")
    assert tally.next_due() == pytest.approx(1010.0)
    assert tally.due() == []  # nothing closed yet
    clock.advance(6)
    (first,) = tally.due()
    assert (first.source, first.count, first.org_ids) == ("198.51.100.7", 6, ["org-a", "org-b"])
    tally.note("198.51.100.7")  # a new window opens for it
    clock.advance(4)
    assert [(w.source, w.count) for w in tally.due()] == [("203.0.113.9", 1)]
    clock.advance(6)
    assert [(w.source, w.count) for w in tally.due()] == [("198.51.100.7", 1)]
    assert tally.next_due() is None and len(tally) == 0


def test_the_tally_is_bounded_too():
    clock = Clock()
    tally = RefusalTally(10.0, clock=clock, capacity=3)
    for i in range(1000):
        tally.note(f"10.0.{i // 256}.{i % 256}")
    assert len(tally) == 4  # three sources and everyone else together
    clock.advance(10)
    windows = {w.source: w.count for w in tally.due()}
    assert windows[OTHER_SOURCES] == 997 and sum(windows.values()) == 1000


def test_the_tally_lists_a_few_organizations_only():
    clock = Clock()
    tally = RefusalTally(1.0, clock=clock)
    for i in range(100):
        tally.note("s", f"org-{i}")
    clock.advance(1)
    (window,) = tally.due()
    assert window.count == 100 and len(window.org_ids) == 5
