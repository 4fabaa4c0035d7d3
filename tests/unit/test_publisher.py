"""The worker's publisher sends each batch's replies after commit, in commit order, tries a failed
send again within its patience, and sends what is queued before the process stops."""

from __future__ import annotations

import threading
import time

from worker.publisher import Publisher, send_patiently


def test_sends_leave_in_the_order_they_were_submitted_and_stop_drains_them():
    sent: list[int] = []
    publisher = Publisher()
    gate = threading.Event()
    publisher.submit(lambda: (gate.wait(2), sent.append(0)), until=time.time() + 5)
    for n in range(1, 50):
        publisher.submit(lambda n=n: sent.append(n), until=time.time() + 5)
    gate.set()
    publisher.stop()
    assert sent == list(range(50))


def test_a_failed_send_is_tried_again_until_it_succeeds():
    attempts: list[float] = []

    def flaky():
        attempts.append(time.time())
        if len(attempts) < 3:
            raise ConnectionError("Redis away for a moment")

    assert send_patiently(flaky, until=time.time() + 5) is True
    assert len(attempts) == 3


def test_a_send_that_keeps_failing_is_given_up_at_its_deadline():
    attempts: list[float] = []

    def down():
        attempts.append(time.time())
        raise ConnectionError("Redis down")

    started = time.time()
    assert send_patiently(down, until=started + 0.3) is False
    assert attempts and attempts[-1] - started < 1.0  # never past the deadline (plus one pause)


def test_a_failing_send_does_not_stop_the_ones_after_it():
    sent: list[str] = []
    publisher = Publisher()
    publisher.submit(lambda: (_ for _ in ()).throw(ConnectionError("down")), until=time.time())
    publisher.submit(lambda: sent.append("next"), until=time.time() + 5)
    publisher.stop()
    assert sent == ["next"]
