"""Secrets never leave the ingress (issue 10): a password sent in any spelling, through PATCH,
POST, PUT or Bulk, is nowhere after the fact: not in anything Redis was sent (watched with
MONITOR, base64 runs decoded, since kombu encodes message bodies so), not in Redis's
append-only file, not in any file or log the processes wrote, not in the store and not in the
audit stream. Nor is the bearer token. A control value sent in an ordinary attribute is found
by the same scans, so they would see the marker if it were there."""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import MetaData, select

from tests.e2e.scim_bodies import GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, okta_group
from tests.support.stack import Stack

CORE = USER_SCHEMA
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

MARKER = f"pw-{uuid.uuid4().hex}"  # the password, in every spelling
CONTROL = f"ctl-{uuid.uuid4().hex}"  # an ordinary attribute value: it does travel and is stored
BOGUS_TOKEN = f"sgt{uuid.uuid4().hex}{uuid.uuid4().hex}"  # a token no organization has

# Every key of a POST/PUT body that normalize reads as the password.
BODY_KEYS = ["password", "Password", "PASSWORD", "password.", f"{CORE}:password", f"{CORE.upper()}:PassWord",
             f"{CORE.lower()}:password."]
# Every PATCH path that the patcher applies as the password, and every key of a path-less value.
PATCH_PATHS = ["password", "Password", "PASSWORD", "  password ", f"{CORE}:password", f"{CORE.upper()}:PASSWORD",
               'password[value eq "x"]', 'password[value eq "x"].value', f"{CORE}:password[value pr]"]
PATCH_KEYS = ["password", "Password", "PASSWORD", "password.", f"{CORE}:password", f"{CORE.lower()}:Password",
              f"{CORE}:password.", 'password[value eq "x"]']
MEMBER_CASES = [("op", "path", "value"), ("Op", "Path", "Value"), ("OP", "PATH", "VALUE")]
OPERATIONS_KEYS = ["Operations", "operations", "OPERATIONS"]
# Spellings the patcher refuses: refused at the ingress, so never queued either.
REFUSED_PATCH_OPERATIONS = [
    {"op": "replace", "path": CORE, "value": {"password": MARKER}},
    {"op": "replace", "value": {CORE: {"password": MARKER}}},
    {"op": "replace", "value": {ENT: {"password": MARKER}}},
    {"op": "replace", "path": ENT, "value": {"Password": MARKER}},
    {"op": "replace", "path": f"{ENT}:password", "value": MARKER},
    {"op": "replace", "path": "password.value", "value": MARKER},
    {"op": "replace", "value": {"password.value": MARKER}},
    {"op": "replace", "path": "password", "value": {"value": MARKER}},
]
REFUSED_BODIES = [{CORE: {"password": MARKER}}, {ENT: {"password": MARKER}}, {f"{ENT}:password": MARKER},
                  {"password": {"value": MARKER}}, {"password": [MARKER]}]


@pytest.fixture(scope="module")
def persistent(tmp_path_factory):
    """A stack of its own with an embedded Redis that writes an append-only file."""
    running = Stack(tmp_path_factory.mktemp("secrets"), persistent_redis=True).start()
    yield running
    running.stop()


class RedisMonitor:
    """Everything Redis is sent while it runs (MONITOR on a connection of its own)."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.stop_word = f"monitor-stop-{uuid.uuid4().hex}"
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = threading.Event()

    def start(self) -> "RedisMonitor":
        self.thread.start()
        assert self.started.wait(10), "MONITOR did not start"
        return self

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self.started.set()
            while True:
                command = monitor.next_command()["command"]
                self.lines.append(command)
                if self.stop_word in command:
                    return

    def stop(self) -> str:
        self.client.echo(self.stop_word)
        self.thread.join(15)
        assert not self.thread.is_alive(), "MONITOR did not see the stop word"
        self.client.close()
        return "\n".join(self.lines)


_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{16,}")


def base64_decoded(data: bytes) -> bytes:
    """The decoding of every base64 run in ``data`` (at each alignment), joined."""
    parts = []
    for match in _BASE64_RUN.finditer(data):
        run = match.group()
        for shift in range(4):
            piece = run[shift:]
            piece = piece[: len(piece) // 4 * 4]
            try:
                parts.append(base64.b64decode(piece))
            except (binascii.Error, ValueError):
                pass
    return b"\n".join(parts)


def holds(data: bytes, secret: bytes) -> bool:
    """Whether ``data`` holds ``secret``, as is or base64-encoded."""
    return secret in data or secret in base64_decoded(data)


def store_dump(stack: Stack) -> str:
    metadata = MetaData()
    metadata.reflect(stack.engine)
    with stack.engine.connect() as conn:
        return "\n".join(f"{table.name}: {list(conn.execute(select(table)))}" for table in metadata.sorted_tables)


def _operation(names, op, path, value):
    op_key, path_key, value_key = names
    out = {op_key: op, value_key: value}
    if path is not None:
        out[path_key] = path
    return out


def send_every_spelling(scim, other_org_url: str) -> int:
    """Send the marker in every spelling; return how many writes were applied (audited)."""
    applied = 0

    def new_user(**extra) -> dict:
        body = {"schemas": [CORE], "userName": f"u-{uuid.uuid4().hex[:10]}@example.com", **extra}
        response = scim.post("/Users", json=body)
        assert response.status_code == 201, response.text
        assert "password" not in response.json()
        return response.json()

    # POST: every spelling, one user each; and the control value in an ordinary attribute.
    users = [new_user(**{key: MARKER}) for key in BODY_KEYS]
    applied += len(users)
    new_user(title=CONTROL, password=MARKER)
    applied += 1
    for extra in REFUSED_BODIES:
        refused = scim.post("/Users", json={"schemas": [CORE], "userName": f"r-{uuid.uuid4().hex[:8]}", **extra})
        assert refused.status_code == 400, (extra, refused.text)
    user = users[0]

    # PUT: every spelling.
    for key in BODY_KEYS:
        response = scim.put(f"/Users/{user['id']}", json={"schemas": [CORE], "userName": user["userName"],
                                                           "displayName": "Ada", key: MARKER})
        assert response.status_code == 200, response.text
        applied += 1
    for extra in REFUSED_BODIES:
        refused = scim.put(f"/Users/{user['id']}", json={"schemas": [CORE], "userName": user["userName"], **extra})
        assert refused.status_code == 400, (extra, refused.text)

    # PATCH: every path in every member case, every path-less key, alone and together.
    def patch(body: dict, status: int = 200) -> None:
        nonlocal applied
        response = scim.patch(f"/Users/{user['id']}", json=body)
        assert response.status_code == status, (body, response.text)
        applied += status < 400

    for index, path in enumerate(PATCH_PATHS):
        for names in MEMBER_CASES:
            ops_key = OPERATIONS_KEYS[index % len(OPERATIONS_KEYS)]
            patch({"schemas": [PATCH_OP], ops_key: [_operation(names, ("add", "Replace")[index % 2], path, MARKER),
                                                     {"op": "replace", "path": "title", "value": f"t{index}"}]})
    for key in PATCH_KEYS:
        for names in MEMBER_CASES:
            patch({"schemas": [PATCH_OP], "Operations": [
                _operation(names, "replace", None, {"nickName": "Ada", key: MARKER})]})
    patch({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {key: MARKER for key in PATCH_KEYS}}]})
    patch({"Operations": [{"op": "replace", "value": {"password": MARKER}}]})  # Okta's password sync
    patch({"schemas": [PATCH_OP], "password": MARKER, "Operations": [
        {"op": "replace", "path": "title", "value": "Boss", "Value": MARKER, "password": MARKER}]})
    for operation in REFUSED_PATCH_OPERATIONS:
        patch({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}, operation]},
              status=400)
    group = scim.post("/Groups", json=okta_group(f"T {uuid.uuid4().hex[:8]}"))
    assert group.status_code == 201
    applied += 1
    for operation in ({"op": "replace", "path": "password", "value": MARKER},
                      {"op": "replace", "value": {"Password": MARKER}},
                      {"op": "replace", "value": {GROUP_SCHEMA: {"password": MARKER}}}):
        refused = scim.patch(f"/Groups/{group.json()['id']}", json={"schemas": [PATCH_OP], "Operations": [operation]})
        assert refused.status_code == 400, refused.text

    # Bulk: the same builders, every kind of write.
    operations = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}",
                   "data": {"schemas": [CORE], "userName": f"b-{uuid.uuid4().hex[:10]}", key: MARKER}}
                  for i, key in enumerate(BODY_KEYS)]
    operations += [{"method": "PUT", "path": f"/Users/{user['id']}",
                    "data": {"schemas": [CORE], "userName": user["userName"], "PassWord": MARKER}}]
    operations += [{"method": "PATCH", "path": f"/Users/{user['id']}",
                    "data": {"schemas": [PATCH_OP], "Operations": [_operation(names, "replace", path, MARKER)]}}
                   for path, names in zip(PATCH_PATHS, MEMBER_CASES * 3)]
    operations += [{"method": "PATCH", "path": f"/Users/{user['id']}",
                    "data": {"schemas": [PATCH_OP], "operations": [{"Op": "replace", "Value": {key: MARKER}}]}}
                   for key in PATCH_KEYS]
    refused_ops = [{"method": "PATCH", "path": f"/Users/{user['id']}",
                    "data": {"schemas": [PATCH_OP], "Operations": [operation]}} for operation in REFUSED_PATCH_OPERATIONS]
    refused_ops += [{"method": "POST", "path": "/Users", "bulkId": "bad",
                     "data": {"schemas": [CORE], "userName": f"x-{uuid.uuid4().hex[:8]}", **REFUSED_BODIES[0]}}]
    response = scim.post("/Bulk", json={"schemas": [BULK_REQUEST], "Operations": operations + refused_ops})
    assert response.status_code == 200, response.text
    statuses = [result["status"] for result in response.json()["Operations"]]
    assert all(s.startswith("2") for s in statuses[: len(operations)]), statuses
    assert all(s == "400" for s in statuses[len(operations):]), statuses
    applied += len(operations)

    # The token: used on another organization's URL, and a token nobody has: refused (audited).
    assert scim.get(f"{other_org_url}/Users").status_code in (401, 403)
    assert scim.get("/Users", headers={"Authorization": f"Bearer {BOGUS_TOKEN}"}).status_code == 401
    return applied


def wait_for_aof(redis_dir: Path, client: redis.Redis, timeout: float = 15.0) -> bytes:
    """The append-only file's bytes, once everything written before now is in it."""
    sentinel = f"aof-sentinel-{uuid.uuid4().hex}"
    client.set(sentinel, "1")
    deadline = time.monotonic() + timeout
    while True:
        data = b"".join(path.read_bytes() for path in redis_dir.rglob("*.aof*") if path.is_file())
        if sentinel.encode() in data or time.monotonic() > deadline:
            assert sentinel.encode() in data, "the append-only file never caught up"
            return data
        time.sleep(0.1)


def test_no_password_in_any_spelling_and_no_token_leaves_the_ingress(persistent):
    stack = persistent
    org, other = stack.new_org(), stack.new_org()
    monitor = RedisMonitor(stack.redis_url).start()
    try:
        with stack.scim(org) as scim:
            applied = send_every_spelling(scim, f"{stack.url}/scim/v2/{other.id}")
        events = stack.audit_events(org.id, wait_for=applied, timeout=30)
    finally:
        sent_to_redis = monitor.stop().encode()
    secrets = {"the password": MARKER.encode(), "the token": org.token.encode(),
               "an unknown token": BOGUS_TOKEN.encode()}

    # 1. Nothing Redis was sent holds a secret. The control value, an ordinary attribute, is
    #    found inside the base64 bodies of the queued messages: the scan would see the marker.
    assert CONTROL.encode() in base64_decoded(sent_to_redis)
    for name, secret in secrets.items():
        assert not holds(sent_to_redis, secret), f"{name} was sent to Redis"

    # 2. Nor Redis's append-only file.
    client = redis.Redis.from_url(stack.redis_url)
    try:
        aof = wait_for_aof(stack.workdir / "redis", client)
    finally:
        client.close()
    assert CONTROL.encode() in base64_decoded(aof)
    for name, secret in secrets.items():
        assert not holds(aof, secret), f"{name} is in Redis's append-only file"

    # 3. Nor any log, nor any file the stack wrote (logs, Redis's files, an SQLite store).
    logs = stack.logs()
    assert "command_decided" in logs and "http_request" in logs
    for name, secret in secrets.items():
        assert secret.decode() not in logs, f"{name} is in a log"
    for path in stack.workdir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for name, secret in secrets.items():
                assert not holds(data, secret), f"{name} is in {path}"

    # 4. Nor the store, any table.
    dump = store_dump(stack)
    assert CONTROL in dump
    for name, secret in secrets.items():
        assert secret.decode() not in dump, f"{name} is in the store"

    # 5. Nor the audit stream, which names the password as changed, never its value.
    assert len(events) >= applied
    text = repr(events) + repr(stack.audit_events())
    for name, secret in secrets.items():
        assert secret.decode() not in text, f"{name} is in the audit stream"
    creates = [e for e in events if e["action"] == "scim:user:create"]
    assert creates and all("password" in e["changed"] for e in creates)
    updates = [e for e in events if e["action"].startswith("scim:user:") and e["action"] != "scim:user:create"]
    # Every update sent a password, except the one whose password sat in members no parser reads.
    assert len(updates) > 50 and [e["changed"] for e in updates if "password" not in e["changed"]] == [["title"]]
