"""Operational endpoints: /healthz, /readyz (store, Redis, live workers), /metrics."""

from __future__ import annotations

import time

import httpx


def test_readyz_counts_live_workers(stack):
    deadline = time.monotonic() + 10
    while True:
        body = httpx.get(f"{stack.url}/readyz").json()
        if body["workers"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body["status"] == "ok" and body["checks"] == {"store": "ok", "redis": "ok"}
    assert body["workers"] >= 1
    assert httpx.get(f"{stack.url}/healthz").json() == {"status": "ok"}
    assert "scimgate_http_requests_total" in httpx.get(f"{stack.url}/metrics").text
