"""The command-line contract of ARCHITECTURE.md: run, org, token, scim, audit tail, migrate."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time

import httpx

from infra.store.engine import make_sync_engine
from tests.e2e.scim_bodies import okta_user
from tests.support.scimgate_run import ScimgateProcess, clean_env
from tests.support.stack import REPO


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


def test_token_create_shows_the_token_id_too(stack, org):
    made = scimgate(stack, "token", "create", "--org", org.id, "--role", "owner")
    token = made.stdout.strip()  # stdout holds only the token: TOKEN=$(scimgate token create …)
    token_id = re.fullmatch(r"token id: (\S+)", made.stderr.strip()).group(1)
    url = f"{stack.url}/scim/v2/{org.id}/Users"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    scimgate(stack, "token", "revoke", token_id)
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401


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
        # Ctrl-C at a terminal: the default SIGINT, even when this suite runs as a background job
        # (which inherits SIGINT ignored, and Python then never raises KeyboardInterrupt).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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


def _post_until_applied(url: str, body: dict, token: str, timeout: float = 90) -> httpx.Response:
    """POST, again while the worker is (re)starting (503: never applied), until it is answered."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.post(url, json=body, headers=headers, timeout=60)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response


class _PtyReader:
    """Everything written to a pseudo-terminal's other side, read as it comes (so it never fills)."""

    def __init__(self, master: int):
        self.master, self.output, self._done = master, b"", threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: every writer closed its side
                    return
                if not chunk:
                    return
                self.output += chunk

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output.decode(errors="replace"))
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not on the terminal: {self.output[-2000:]!r}")

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        os.close(self.master)


def test_run_first_start_on_a_terminal_shows_the_token_there_and_nowhere_else(tmp_path):
    """The README's first command typed at a terminal: the owner token is shown on it, once."""
    master, terminal = pty.openpty()
    service = ScimgateProcess(["run"], clean_env(), tmp_path, stdout=terminal).start()
    os.close(terminal)
    screen = _PtyReader(master)
    try:
        shown = screen.wait_for(r"SCIM base URL: (\S+)\s+Owner token: +(sgt\S+)\s+Token id: +(\S+)")
        base, token, token_id = shown.groups()
        assert base.startswith(f"{service.url}/scim/v2/")
        assert "shown only this once" in screen.wait_for(r"The token is shown[^\r\n]*").group(0)
        service.wait_ready()
        created = _post_until_applied(f"{base}/Users", okta_user("first@example.com"), token)
        assert created.status_code == 201, created.text
        # The printed id is the token's (the organization's only one).
        org_id = base.rsplit("/", 1)[1]
        engine = make_sync_engine(f"sqlite:///{service.data_dir / 'scimgate.db'}")
        with engine.connect() as conn:
            ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM api_tokens WHERE org_id = ?", (org_id,))]
        engine.dispose()
        assert ids == [token_id]
    finally:
        service.stop()
        screen.close()
    # Never logged, never stored: not in the service's log (stderr), nor in any file of the data dir.
    assert token not in service.log()
    for path in service.data_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_run_first_start_into_a_log_prints_no_token_but_how_to_make_one(tmp_path):
    """Under a service manager or a redirect, the output is a log: no token in it, ever."""
    service = ScimgateProcess(["run"], clean_env(), tmp_path).start()  # stdout and stderr: one file
    try:
        command = service.wait_for_log(r"Make one with: ([^\n]+)").group(1)
        output = service.log()
        base = re.search(r"SCIM base URL: (\S+)", output).group(1)
        assert base.startswith(f"{service.url}/scim/v2/")
        assert "Owner token" in output and not re.search(r"sgt[A-Za-z0-9_-]{16,}", output)
        org_id = base.rsplit("/", 1)[1]
        assert f"--org {org_id} --role owner" in command
        # The printed command works as printed (from another directory, too) and shows the id.
        argv = shlex.split(command)
        assert argv[0] == "scimgate"
        made = subprocess.run([sys.executable, "-m", "scimgate", *argv[1:]], env=clean_env(), cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=True)
        token = made.stdout.strip()
        assert token.startswith("sgt") and re.fullmatch(r"token id: \S+", made.stderr.strip())
        service.wait_ready()
        created = _post_until_applied(f"{base}/Users", okta_user("first@example.com"), token)
        assert created.status_code == 201, created.text
        # The data dir and everything scimgate and its Redis keep there are private to this user.
        assert stat.S_IMODE(service.data_dir.stat().st_mode) == 0o700
        names = {path.name for path in service.data_dir.iterdir()}
        assert {"scimgate.db", "scimgate.db-wal", "scimgate.db-shm", "redis.sock", "redis.log"} <= names
        assert "appendonly.aof" in names or "appendonlydir" in names
        loose = {str(p): oct(p.stat().st_mode) for p in service.data_dir.rglob("*") if p.stat().st_mode & 0o077}
        assert not loose
        # The worker child is supervised: killed, it comes back, and writes work again.
        os.kill(service.children("scimgate worker")[0], signal.SIGKILL)
        again = _post_until_applied(f"{base}/Users", okta_user("second@example.com"), token)
        assert again.status_code == 201, again.text
    finally:
        service.stop()
    # A second start keeps the organization and shows no new token.
    second = ScimgateProcess(["run"], clean_env(), tmp_path).start()
    try:
        listing = second.wait_for_log(r"scimgate is starting\. SCIM base URLs:\n([^\n]+)").group(1)
        assert listing.endswith(f"{second.url}/scim/v2/{org_id}  (SCIM on)")
        assert "Owner token" not in second.log()
    finally:
        second.stop()


def test_migrate(stack):
    assert "migrations applied" in scimgate(stack, "migrate").stdout

