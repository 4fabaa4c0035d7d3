"""How live the ops dashboard is, and what fanning out costs. Prints numbers, never asserts.

1. ``lag``: a real stack (ingress + worker, embedded default or SCIMGATE_TEST_* servers), an
   operator's event stream read by one client, and ``--writers`` concurrent SCIM creates
   (``--writes`` in all); for each create, the time from its audit event's ``time`` (stamped in the
   worker's transaction) and from the client receiving its 201, to the SSE message carrying it.
   ``--stalled`` more streams are opened and never read (slow browsers), ``--watchers`` more are
   read and discarded.
2. ``fanout``: ``LiveFeed.broadcast`` in-process for ``--subscribers`` browsers (one in ten an
   operator, the rest spread over 100 organizations) and 250 new events per tick (1,000 events/s
   at the 250 ms tick): CPU time per tick.

Run: ``PYTHONPATH=. .venv/bin/python bench/dashboard_live.py [lag|fanout|all]``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import orjson


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    if not values:
        return "no samples"
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return (f"n={len(values)} p50={pick(0.5) * 1000:.0f} ms p95={pick(0.95) * 1000:.0f} ms "
            f"max={values[-1] * 1000:.0f} ms mean={statistics.mean(values) * 1000:.0f} ms")


def lag(args) -> None:
    from tests.e2e.scim_bodies import okta_user
    from tests.support.dashboard import new_operator, signed_in
    from tests.support.stack import Stack

    stack = Stack(Path(tempfile.mkdtemp(prefix="dash-bench-"))).start()
    try:
        org = stack.new_org()
        operator = new_operator(stack)
        arrived: dict[str, float] = {}
        stamped: dict[str, float] = {}
        stop = threading.Event()
        ready = threading.Event()

        def read(client: httpx.Client, record: bool) -> None:
            with client.stream("GET", "/dashboard/events", timeout=None) as response:
                ready.set()
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    if record and line.startswith("data: "):
                        now = time.time()
                        for event in orjson.loads(line[6:])["events"]:
                            name = event.get("resource_name")
                            if name and name not in arrived:
                                arrived[name] = now
                                stamped[name] = datetime.fromisoformat(event["time"][:-1] + "+00:00").timestamp()

        stalled = []
        with signed_in(stack, operator["token"]) as client:
            cookie = client.cookies["scimgate_dash"]
            for _ in range(args.stalled):  # a browser that never reads: its socket buffer fills
                sock = socket.create_connection(("127.0.0.1", stack.port))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.sendall(f"GET /dashboard/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: scimgate_dash={cookie}"
                             f"\r\n\r\n".encode())
                stalled.append(sock)
            watchers = [httpx.Client(base_url=stack.url, cookies={"scimgate_dash": cookie}) for _ in range(args.watchers)]
            threads = [threading.Thread(target=read, args=(client, True), daemon=True)]
            threads += [threading.Thread(target=read, args=(w, False), daemon=True) for w in watchers]
            for thread in threads:
                thread.start()
            ready.wait(10)
            time.sleep(1.0)
            answered: dict[str, float] = {}
            prefix = uuid.uuid4().hex[:6]

            def create(n: int) -> None:
                name = f"b{prefix}-{n}@example.com"
                with stack.scim(org) as scim:
                    if scim.post("/Users", json=okta_user(name)).status_code == 201:
                        answered[name] = time.time()

            started = time.time()
            with ThreadPoolExecutor(args.writers) as pool:
                list(pool.map(create, range(args.writes)))
            elapsed = time.time() - started
            deadline = time.time() + 10
            while len(arrived) < len(answered) and time.time() < deadline:
                time.sleep(0.05)
            stop.set()
            from_event = [arrived[n] - stamped[n] for n in answered if n in arrived]
            from_answer = [arrived[n] - answered[n] for n in answered if n in arrived]
            print(f"lag: {len(answered)} creates in {elapsed:.1f} s ({len(answered) / elapsed:.0f}/s) by "
                  f"{args.writers} writers; {args.watchers} more streams read, {args.stalled} stalled")
            print(f"  event time -> on the stream client: {percentiles(from_event)}")
            print(f"  201 at the IdP -> on the stream client: {percentiles(from_answer)}")
            print(f"  missing on the stream: {len(answered) - len(from_event)}")
            for sock in stalled:
                sock.close()
            for w in watchers:
                w.close()
    finally:
        stack.stop()


def fanout(args) -> None:
    from api.dashboard.live import LiveFeed
    from domain.viewers import OPERATOR, ORGANIZATION, Viewer

    async def run() -> None:
        feed = LiveFeed(client=None, stream="bench", queue_size=10**6)  # type: ignore[arg-type]
        orgs = [f"{n:025d}" for n in range(100)]
        for n in range(args.subscribers):
            viewer = Viewer(OPERATOR, "op", "ops") if n % 10 == 0 else \
                Viewer(ORGANIZATION, f"t{n}", "org", orgs[n % 100], "owner")
            feed.subscribe(viewer)
        now = datetime.utcnow().isoformat(timespec="microseconds") + "Z"
        ticks, costs = 40, []
        for tick in range(ticks):
            batch = [(f"{tick}-{i}", {"event_id": str(uuid.uuid4()), "time": now, "org_id": orgs[i % 100],
                                      "idp": "okta", "action": "scim:user:create", "outcome": "success",
                                      "status": 201, "resource_type": "User", "resource_id": str(uuid.uuid4()),
                                      "resource_name": f"u{i}@example.com", "request_id": uuid.uuid4().hex})
                     for i in range(250)]
            feed.note(batch)
            started = time.perf_counter()
            feed.broadcast(counters=tick % 4 == 0)
            costs.append(time.perf_counter() - started)
        print(f"fanout: {args.subscribers} browsers, 250 events per tick: broadcast {percentiles(costs)} "
              f"(of a 250 ms tick)")

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", default="all", choices=["lag", "fanout", "all"])
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--stalled", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=500)
    args = parser.parse_args()
    if args.what in ("fanout", "all"):
        fanout(args)
    if args.what in ("lag", "all"):
        lag(args)


if __name__ == "__main__":
    main()
