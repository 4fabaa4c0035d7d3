"""Metrics from every process: after SCIM writes under a real `scimgate run` (two ingresses, a
worker), /metrics on the port shows the worker's series, the commands by kind and outcome, and the
pipeline's snapshot gauges; a `scimgate worker` run apart serves its own; Celery events reach the
worker when asked for."""

from __future__ import annotations

import concurrent.futures
import os
import signal

import httpx

from tests.e2e.run_helpers import samples, scim_base, settled, value
from tests.e2e.scim_bodies import okta_user
from tests.support.scimgate_run import ScimgateProcess, clean_env
from tests.support.stack import free_port


def test_metrics_of_run_carry_the_worker_and_the_queue(tmp_path, backend):
    service = ScimgateProcess(["run", "--ingresses", "2"], clean_env(**backend), tmp_path).start()
    try:
        service.wait_ready()
        base, headers = scim_base(service, backend)
        for i in range(6):  # a fresh connection each: both ingresses take some
            created = httpx.post(f"{base}/Users", json=okta_user(f"m{i}@example.com"),
                                 headers={**headers, "Connection": "close"}, timeout=60)
            assert created.status_code == 201, created.text
        rejected = httpx.post(f"{base}/Users", json=okta_user("m0@example.com"), headers=headers, timeout=60)
        assert rejected.status_code == 409

        metrics = samples(f"{service.url}/metrics")
        assert value(metrics, "scimgate_worker_batch_seconds_count") >= 1
        assert value(metrics, "scimgate_worker_batch_size_sum") == 7
        assert value(metrics, "scimgate_worker_commands_total", kind="user.create", outcome="applied") == 6
        assert value(metrics, "scimgate_worker_commands_total", kind="user.create", outcome="rejected") == 1
        assert value(metrics, "scimgate_worker_queue_wait_seconds_count") == 7
        # The ingresses' own series, summed over both processes.
        assert value(metrics, "scimgate_commands_total", kind="user.create", status="201") == 6
        # The snapshot gauges: nothing waits now; both ingresses report; the worker is live.
        metrics = settled(f"{service.url}/metrics", "scimgate_queue_depth", 0)
        assert value(metrics, "scimgate_oldest_queued_seconds") == 0
        assert value(metrics, "scimgate_outbox_pending") is not None
        assert value(metrics, "scimgate_outbox_lag_seconds") is not None
        assert value(metrics, "scimgate_workers_live") == 1
        assert value(metrics, "scimgate_dead_letters") == 0
        assert value(metrics, "scimgate_organizations_failing") == 0  # one 409 of seven writes
        assert value(metrics, "scimgate_snapshot_up", source="store") == 1
        settled(f"{service.url}/metrics", "scimgate_ingresses", 2)

        # A write waiting for a stopped worker is counted, and ages.
        [worker] = service.children("scimgate worker")
        os.kill(worker, signal.SIGSTOP)
        try:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(httpx.post, f"{base}/Users", json=okta_user("waits@example.com"),
                                      headers=headers, timeout=60)
                metrics = settled(f"{service.url}/metrics", "scimgate_queue_depth", 1)
                assert value(metrics, "scimgate_oldest_queued_seconds") > 0
                os.kill(worker, signal.SIGCONT)
                assert waiting.result().status_code in (201, 503)  # 503: never applied
        finally:
            os.kill(worker, signal.SIGCONT)
    finally:
        service.stop()


def test_a_worker_run_apart_serves_its_metrics_and_sends_celery_events(tmp_path):
    port = free_port()
    env = clean_env(SCIMGATE_WORKER_METRICS_PORT=str(port), SCIMGATE_CELERY_EVENTS="1")
    service = ScimgateProcess(["worker"], env, tmp_path).start()
    try:
        service.wait_for_log("worker_ready")
        assert "task events: ON" in service.log()  # Celery's own banner: Flower sees the tasks
        metrics = samples(f"http://127.0.0.1:{port}/metrics")
        assert value(metrics, "scimgate_worker_batch_seconds_count") == 0
        assert value(metrics, "scimgate_ledger_pruned_total") == 0
    finally:
        service.stop()


def test_celery_events_are_off_by_default(tmp_path):
    service = ScimgateProcess(["worker"], clean_env(), tmp_path).start()
    try:
        service.wait_for_log("worker_ready")
        assert "task events: OFF" in service.log()
    finally:
        service.stop()
