"""`scimgate run` and its processes: fail fast on a taken port, leave no orphans when killed hard,
keep the data files private, and replace a worker that hangs."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.run_helpers import scim_base
from tests.e2e.scim_bodies import okta_user
from tests.support.scimgate_run import (
    ScimgateProcess,
    alive,
    clean_env,
    scimgate_cli,
    wait_dead,
)


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_taken_port_fails_at_once_before_anything_is_created(tmp_path, command):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "scimgate", command, "--port", str(port), "--data-dir", str(tmp_path / "data")],
            env=clean_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "in use" in result.stderr
    assert "SCIM base URL" not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()  # no organization, no store, no Redis


def test_children_of_run_die_with_it_when_it_is_killed_hard(tmp_path):
    service = ScimgateProcess(["run"], clean_env(), tmp_path).start()
    try:
        service.wait_ready()
        worker, redis_server = service.children("scimgate worker"), service.children("redis-server")
        assert len(worker) == 1 and len(redis_server) == 1
        service.proc.kill()
        service.proc.wait()
        assert wait_dead(worker + redis_server) == []
    finally:
        service.stop()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_the_embedded_redis_of_serve_or_worker_dies_with_it(tmp_path, command):
    service = ScimgateProcess([command], clean_env(), tmp_path).start()
    try:
        if command == "serve":
            service.wait_ready(workers=0)
        else:
            service.wait_for_log("worker_ready")
        redis_server = service.children("redis-server")
        assert len(redis_server) == 1
        service.proc.kill()
        service.proc.wait()
        assert wait_dead(redis_server) == []
    finally:
        service.stop()


def test_a_supervised_worker_exits_when_its_supervisor_is_gone(tmp_path):
    """The second line of defence (where no parent-death signal exists): the worker watches."""
    not_the_parent = subprocess.Popen(["sleep", "600"])
    try:
        service = ScimgateProcess(
            ["worker"], clean_env(SCIMGATE_PARENT_PID=str(not_the_parent.pid)), tmp_path
        ).start()
        try:
            assert service.proc.wait(timeout=60) != 0
            assert "supervisor_gone_exiting" in service.log()
            # ...and its embedded Redis went with it.
            its_redis = subprocess.run(["pgrep", "-f", f"{service.data_dir}/redis.sock"], capture_output=True, text=True)
            assert wait_dead([int(pid) for pid in its_redis.stdout.split()]) == []
        finally:
            service.stop()
    finally:
        not_the_parent.kill()
        not_the_parent.wait()


def test_data_files_left_readable_are_made_private_at_start(tmp_path):
    data = tmp_path / "data"
    assert scimgate_cli(clean_env(), tmp_path, "migrate", "--data-dir", str(data)).returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "scimgate.db").stat().st_mode) == 0o600
    # As an older version (or a umask of 022) left them:
    data.chmod(0o755)
    for name in ("scimgate.db", "redis.log", "appendonly.aof"):
        (data / name).touch()
        (data / name).chmod(0o644)
    assert scimgate_cli(clean_env(), tmp_path, "migrate", "--data-dir", str(data)).returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("scimgate.db", "redis.log", "appendonly.aof"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


def test_a_hung_worker_is_killed_and_replaced(tmp_path, backend):
    """SIGSTOP the worker child of a real `scimgate run`: its heartbeat stops, it is replaced."""
    service = ScimgateProcess(["run"], clean_env(SCIMGATE_WORKER_HANG_SECONDS="3", **backend), tmp_path).start()
    try:
        service.wait_ready()
        base, headers = scim_base(service, backend)
        assert httpx.post(f"{base}/Users", json=okta_user("before@example.com"), headers=headers,
                          timeout=60).status_code == 201
        [hung] = service.children("scimgate worker")
        os.kill(hung, signal.SIGSTOP)
        service.wait_for_log(rf'"pid":{hung},[^\n]*"event":"worker_hung_restarting"')
        assert not alive(hung)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replacement = service.children("scimgate worker")
            if replacement and replacement != [hung]:
                break
            time.sleep(0.1)
        assert replacement and hung not in replacement
        # Writes work again, answered by the new worker (a 503 while it starts is never applied).
        created = None
        while time.monotonic() < deadline:
            created = httpx.post(f"{base}/Users", json=okta_user("after@example.com"), headers=headers, timeout=60)
            if created.status_code != 503:
                break
        assert created.status_code == 201, created.text
        assert "worker_exited_restarting" not in service.log()
    finally:
        service.stop()
