"""`scimgate run` uses every core: several ingress processes share its one port, an IdP's pool of
connections spreads over them, each answers writes and metrics on its own, one that dies is
replaced, and all die with `scimgate run`."""

from __future__ import annotations

import os
import signal
import socket
import time

import httpx
import psutil

from tests.e2e.run_helpers import samples, scim_base, settled, value
from tests.e2e.scim_bodies import okta_user
from tests.support.scimgate_run import ScimgateProcess, alive, clean_env, wait_dead


def _wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_each_ingress_answers_on_the_shared_port(tmp_path, backend):
    service = ScimgateProcess(["run"], clean_env(SCIMGATE_INGRESSES="2", **backend), tmp_path).start()
    try:
        service.wait_ready()
        ingresses = service.children("scimgate serve")
        assert len(ingresses) == 2
        base, headers = scim_base(service, backend)
        headers["Connection"] = "close"
        for number, stopped in enumerate(ingresses):
            # With one of them stopped, the other takes every connection: each alone serves a
            # write (its own reply inbox and dispatcher) and /metrics with the worker's series.
            os.kill(stopped, signal.SIGSTOP)
            try:
                created = httpx.post(f"{base}/Users", headers=headers, timeout=60,
                                     json=okta_user(f"alone{number}@example.com"))
                assert created.status_code == 201, created.text
                metrics = samples(f"{service.url}/metrics")
                assert value(metrics, "scimgate_worker_commands_total", kind="user.create",
                             outcome="applied") == number + 1
                assert value(settled(f"{service.url}/metrics", "scimgate_queue_depth", 0), "scimgate_workers_live") == 1
            finally:
                os.kill(stopped, signal.SIGCONT)
    finally:
        service.stop()


def _held_connections(pid: int, port: int) -> int:
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


def _keep_alive_request(conn: socket.socket) -> None:
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(4096)
        assert chunk, "the ingress closed the connection"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:100]


def test_an_idps_pool_of_connections_spreads_over_the_ingresses(tmp_path):
    """An IdP opens its keep-alive connections at once; the ingresses take turns at them, so
    neither holds most of them (and saturates its core) while the other idles."""
    service = ScimgateProcess(["run", "--ingresses", "2"], clean_env(), tmp_path).start()
    pool: list[socket.socket] = []
    try:
        service.wait_ready()
        ingresses = service.children("scimgate serve")
        assert len(ingresses) == 2
        for pid in ingresses:  # both take connections (ready answers once the first one does)
            service.wait_for_log(rf'"pid":{pid},[^\n]*"event":"ingress_accepting"')
        for _ in range(3):  # three pools, one after the other, each opened all at once
            pool = [socket.create_connection(("127.0.0.1", service.port), timeout=10) for _ in range(16)]
            for conn in pool:
                _keep_alive_request(conn)
            held = _wait_for(lambda: (lambda counts: counts if sum(counts) == 16 else None)(
                [_held_connections(pid, service.port) for pid in ingresses]), timeout=10)
            assert max(held) - min(held) <= 2, f"16 connections split {held}"
            for conn in pool:
                conn.close()
            _wait_for(lambda: sum(_held_connections(pid, service.port) for pid in ingresses) == 0, timeout=10)
            time.sleep(0.2)  # each ingress republishes its count (every 50 ms)
    finally:
        for conn in pool:
            conn.close()
        service.stop()


def test_an_ingress_that_dies_is_replaced_and_all_die_with_run(tmp_path):
    service = ScimgateProcess(["run", "--ingresses", "2"], clean_env(), tmp_path).start()
    try:
        service.wait_ready()
        first, second = service.children("scimgate serve")
        os.kill(first, signal.SIGKILL)
        service.wait_for_log(rf'"pid":{first},[^\n]*"event":"ingress_exited_restarting"')
        replaced = _wait_for(lambda: (lambda now: now if len(now) == 2 and first not in now else None)(
            service.children("scimgate serve")))
        assert second in replaced
        assert httpx.get(f"{service.url}/healthz", timeout=10).status_code == 200
        everything = [*replaced, *service.children("scimgate worker"), *service.children("redis-server")]
        assert len(everything) == 4
        service.proc.kill()
        service.proc.wait()
        assert wait_dead(everything) == []
        assert not alive(first)
    finally:
        service.stop()


def test_a_stopped_run_stops_its_ingresses(tmp_path):
    service = ScimgateProcess(["run", "--ingresses", "2"], clean_env(), tmp_path).start()
    try:
        service.wait_ready()
        ingresses = service.children("scimgate serve")
        assert len(ingresses) == 2
        service.proc.send_signal(signal.SIGINT)
        assert service.proc.wait(timeout=60) == 0
        assert wait_dead(ingresses) == []
    finally:
        service.stop()
