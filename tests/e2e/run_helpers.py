"""Helpers for tests of a real `scimgate run`: an owner token straight in its store, its metrics."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from infra.store.engine import make_sync_engine
from tests.support.seed import create_token, list_organizations


def owner_token(database_url: str) -> tuple[str, str]:
    """``(organization id, owner token)`` of the first organization (the one first start made)."""
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            org = list_organizations(conn)[0]
            return org.id, create_token(conn, org.id, "owner")[1]
    finally:
        engine.dispose()


def scim_base(service, backend: dict) -> tuple[str, dict]:
    """The SCIM base URL of the first organization of a running `scimgate run` (``service``, a
    ``ScimgateProcess``) and the headers of a fresh owner token of it."""
    database_url = backend.get("SCIMGATE_DATABASE_URL") or f"sqlite:///{service.data_dir / 'scimgate.db'}"
    org_id, token = owner_token(database_url)
    return f"{service.url}/scim/v2/{org_id}", {"Authorization": f"Bearer {token}"}


def samples(url: str) -> dict[tuple[str, tuple], float]:
    """``GET url`` (a /metrics) on a fresh connection: {(sample name, sorted labels): value}."""
    response = httpx.get(url, timeout=10, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels) -> float | None:
    return metrics.get((name, tuple(sorted(labels.items()))))


def settled(url: str, name: str, expected: float, timeout: float = 10.0, **labels) -> dict:
    """The samples of ``url`` once ``name`` reads ``expected`` (the snapshot gauges trail the
    pipeline by the ingresses' report interval, half a second)."""
    import time

    deadline = time.monotonic() + timeout
    metrics = samples(url)
    while value(metrics, name, **labels) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        metrics = samples(url)
    assert value(metrics, name, **labels) == expected, (name, value(metrics, name, **labels))
    return metrics
