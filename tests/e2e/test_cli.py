"""The command-line contract of ARCHITECTURE.md: run, org, token, scim, audit tail, migrate."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.e2e.scim_bodies import okta_user
from tests.support.stack import REPO, free_port


def scimgate(stack, *args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scimgate", *args], env=stack.env, cwd=REPO, capture_output=True, text=True,
        timeout=60, check=check,
    )


def test_org_token_and_scim_commands(stack):
    org = json.loads(scimgate(stack, "org", "create", "Acme", "--tier", "enterprise", "--json").stdout)
    assert set(org) >= {"id"} and "_" not in org["id"]
    token = json.loads(scimgate(stack, "token", "create", "--org", org["id"], "--role", "owner", "--json").stdout)
    assert set(token) >= {"token", "id"}
    url = f"{stack.url}/scim/v2/{org['id']}/Users"
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert httpx.get(url, headers=headers).status_code == 403  # SCIM starts off
    assert "enabled" in scimgate(stack, "scim", "enable", "--org", org["id"]).stdout
    assert httpx.get(url, headers=headers).status_code == 200
    deadline = time.monotonic() + 15
    while True:
        toggles = [e for e in stack.audit_events(org["id"]) if e["action"] == "org:scim:enable"]
        if toggles or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert toggles and toggles[0]["outcome"] == "success"
    scimgate(stack, "scim", "disable", "--org", org["id"])
    assert httpx.get(url, headers=headers).status_code == 403
    # The token is stored only as a hash.
    with stack.engine.connect() as conn:
        assert token["token"] not in str(list(conn.exec_driver_sql("SELECT * FROM api_tokens")))


def test_scim_cannot_be_enabled_below_the_enterprise_tier(stack):
    org = json.loads(scimgate(stack, "org", "create", "Small", "--tier", "team", "--json").stdout)
    result = scimgate(stack, "scim", "enable", "--org", org["id"], check=False)
    assert result.returncode != 0
    assert "Enterprise" in result.stderr


def test_token_revoke(stack, org):
    token = json.loads(scimgate(stack, "token", "create", "--org", org.id, "--role", "owner", "--json").stdout)
    url = f"{stack.url}/scim/v2/{org.id}/Users"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token['token']}"}).status_code == 200
    scimgate(stack, "token", "revoke", token["id"])
    assert httpx.get(url, headers={"Authorization": f"Bearer {token['token']}"}).status_code == 401


def test_audit_tail(stack, org):
    with stack.scim(org) as client:
        client.post("/Users", json=okta_user(f"tail.{org.id}@example.com"))
    stack.audit_events(org.id, wait_for=1)
    lines = scimgate(stack, "audit", "tail", "--org", org.id, "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["action"] for e in events] == ["scim:user:create"]
    assert all(e["org_id"] == org.id for e in events)
    text = scimgate(stack, "audit", "tail", "--org", org.id).stdout
    assert "scim:user:create" in text and "success" in text


def test_audit_tail_follow_prints_new_events(stack, org):
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimgate", "audit", "tail", "--org", org.id, "--follow", "--json"],
        env=stack.env, cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(1.5)
        with stack.scim(org) as client:
            client.post("/Users", json=okta_user(f"follow.{org.id}@example.com"))
        line = proc.stdout.readline()
        assert json.loads(line)["action"] == "scim:user:create"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_run_first_start_prints_the_url_and_a_working_token(tmp_path):
    """The README's first command: `scimgate run` on the embedded default, from an empty data dir."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimgate", "run", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        output = ""
        deadline = time.monotonic() + 60
        while "Owner token" not in output and time.monotonic() < deadline:
            output += proc.stdout.readline()
        base = re.search(r"SCIM base URL: (\S+)", output).group(1)
        token = re.search(r"Owner token: +(\S+)", output).group(1)
        assert base.startswith(f"http://127.0.0.1:{port}/scim/v2/")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        created = None
        while time.monotonic() < deadline:  # the worker may still be starting
            created = httpx.post(f"{base}/Users", json=okta_user("first@example.com"), headers=headers, timeout=30)
            if created.status_code != 503:
                break
        assert created.status_code == 201, created.text
        assert (tmp_path / "data" / "scimgate.db").exists()
        # The worker child is supervised: killed, it comes back, and writes work again.
        worker_pid = int(subprocess.check_output(["pgrep", "-P", str(proc.pid), "-f", "scimgate worker"]).split()[0])
        os.kill(worker_pid, signal.SIGKILL)
        again = None
        while time.monotonic() < deadline + 60:
            again = httpx.post(f"{base}/Users", json=okta_user("second@example.com"), headers=headers, timeout=60)
            if again.status_code != 503:
                break
        assert again.status_code == 201, again.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    # A second start keeps the organization and shows no new token.
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimgate", "run", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        first_line = proc.stdout.readline()
        second = proc.stdout.readline()
        assert "Owner token" not in first_line + second
        assert base.rsplit("/", 1)[1] in second
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_migrate(stack):
    assert "migrations applied" in scimgate(stack, "migrate").stdout

