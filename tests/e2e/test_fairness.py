"""One organization's initial sync does not starve another organization's writes.

Organization A runs a heavy initial sync (64 creates at a time, as fast as the service takes
them); meanwhile organization B's writes go into the very next batch (batches take
organizations in turn, and one organization's backlog is bounded), so B waits for at most the
batch in flight, however large A's backlog grows. The bound here is about starvation, not
speed; the test prints the latencies it saw.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import httpx
import pytest

from tests.e2e.scim_bodies import okta_user
from tests.support.stack import Stack

FLOOD_CONCURRENCY = 64  # a heavy initial sync (Entra and Okta send far fewer at once)


@pytest.fixture
def fairness_stack(tmp_path):
    stack = Stack(tmp_path / "fair", command_timeout=20.0).start()
    yield stack
    stack.stop()


async def _create(client: httpx.AsyncClient, name: str) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.post("/Users", json=okta_user(name))
    return response.status_code, time.monotonic() - started


def _client(stack: Stack, org, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{stack.url}/scim/v2/{org.id}", headers={"Authorization": f"Bearer {org.token}"}, timeout=60,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def _run(stack: Stack, big, small) -> tuple[list[int], list[tuple[int, float]], list[tuple[int, float]]]:
    async with _client(stack, big, FLOOD_CONCURRENCY) as flood, _client(stack, small, 2) as calm:
        baseline = [await _create(calm, f"base.{i}.{uuid.uuid4().hex[:6]}@b.example") for i in range(10)]
        stop = asyncio.Event()
        flood_statuses: list[int] = []

        async def flooder(n: int) -> None:
            i = 0
            while not stop.is_set():
                status, _ = await _create(flood, f"sync.{n}.{i}.{uuid.uuid4().hex[:6]}@a.example")
                flood_statuses.append(status)
                i += 1

        flooders = [asyncio.create_task(flooder(n)) for n in range(FLOOD_CONCURRENCY)]
        await asyncio.sleep(1.0)  # the flood is in full swing
        during = [await _create(calm, f"during.{i}.{uuid.uuid4().hex[:6]}@b.example") for i in range(20)]
        stop.set()
        await asyncio.gather(*flooders)
    return flood_statuses, baseline, during


def test_another_organizations_writes_keep_going_during_a_flood(fairness_stack):
    stack = fairness_stack
    big, small = stack.new_org(), stack.new_org()
    flood, baseline, during = asyncio.run(_run(stack, big, small))
    assert [status for status, _ in baseline + during] == [201] * 30
    assert set(flood) <= {201, 429} and flood.count(201) > 0
    typical = statistics.median(elapsed for _, elapsed in baseline)
    worst = max(elapsed for _, elapsed in during)
    print(f"\nB alone: median {typical * 1000:.0f} ms; B during A's flood ({len(flood)} writes): "
          f"median {statistics.median(e for _, e in during) * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
    assert worst < 5.0  # never starved behind A's backlog (the deadline is 20 s)
