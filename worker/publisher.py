"""After commit, the replies and audit events of a batch leave on a thread of their own.

The task that applied a batch hands its replies and events over and returns, so the worker takes
its next batch while this round trip to Redis is made (it was a fifth of a batch's time on the
embedded default, where one worker thread is the store's only writer). Nothing about what a reply
means changes: it is sent only after its commit. If the process dies before sending, the ingress
learns the batch's worker is gone and its fence finds each command decided (the stored reply is
the answer), and the outbox sweeper relays the events, as for a crash just after commit before.

One thread, first in first out: replies and events leave in the order their batches committed. A
failed send is tried again (``PUBLISH_PATIENCE_SECONDS``, never past the batch's deadline) before
the next one is; on shutdown what is queued is sent first (``stop``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from infra.logging import get_logger

log = get_logger(__name__)

# After a commit, a failed publish is tried again for up to this long, so a Redis blip does not
# leave the requests waiting for their deadline (the fence answers them then).
PUBLISH_PATIENCE_SECONDS = 2.0
RETRY_PAUSE_SECONDS = 0.1

Send = Callable[[], None]


def send_patiently(send: Send, *, until: float) -> bool:
    """``send()`` until it succeeds or ``until`` (epoch seconds, capped by the patience) passes."""
    give_up = min(until, time.time() + PUBLISH_PATIENCE_SECONDS)
    while True:
        try:
            send()
            return True
        except Exception as exc:  # committed: the ingress fence answers, the sweeper relays the events
            if time.time() >= give_up:
                log.warning("publish_after_commit_failed", error=str(exc)[:200])
                return False
            time.sleep(RETRY_PAUSE_SECONDS)


class Publisher:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Send, float] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, send: Send, *, until: float) -> None:
        """Run ``send`` after everything submitted before it (patiently, until ``until``)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
                self._thread.start()
        self._queue.put((send, until))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            send, until = item
            send_patiently(send, until=until)

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
