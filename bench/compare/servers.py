"""The two servers of a side-by-side run, behind one shape: a SCIM base URL, headers, a process tree
to measure, and a seeder that puts users (and Team members) straight into the server's storage.

- scimgate: ``scimgate run`` (``bench.loadgen.stack``), seeded through its SQL layer
  (``bench.loadgen.seed.StoreSeeder``: the rows a create writes, no ledger row, no audit event).
- scim2-server: ``python -m bench.compare.peer`` (its ASGI app under uvicorn, in memory), seeded
  through its in-memory storage (the peer's ``/_bench/`` routes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson

from bench.loadgen.client import SCIM_JSON, Scim
from bench.loadgen.measure import CpuProbe
from bench.loadgen.seed import StoreSeeder
from bench.loadgen.stack import StartedService
from tests.support.stack import free_port

REPO = Path(__file__).resolve().parents[2]


class Seeder(Protocol):
    def seed_users(self, names: list[str]) -> list[tuple[str, str]]: ...  # [(id, userName)]

    def add_members(self, group_id: str, user_ids: list[str]) -> None: ...


@dataclass
class Server:
    name: str
    base_url: str
    token: str
    probe: CpuProbe
    seeder: Seeder
    durable: str
    stop: Callable[[], None]
    users: list = field(default_factory=list)  # [(id, userName)] seeded so far, in order

    @property
    def headers(self) -> dict:
        headers = {"Content-Type": SCIM_JSON, "Accept": SCIM_JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def start_scimgate(database_url: str, redis_url: str, log) -> Server:
    # The peer has no rate limit; scimgate's per-organization budgets (2,000/s each) would cap a fast
    # run, so they are off here unless set in the environment.
    extra = {name: os.environ.get(name, "0") for name in ("SCIMGATE_ORG_READ_RATE", "SCIMGATE_ORG_WRITE_RATE")}
    service = StartedService(database_url, redis_url, keep=False, log=log, extra_env=extra)
    try:
        service.start()
    except BaseException:
        service.stop()
        raise
    seeder = StoreSeeder(service.store_url, service.base_url.rsplit("/", 1)[-1], log)

    def stop() -> None:
        seeder.close()
        service.stop()

    backend = "PostgreSQL" if database_url else "SQLite (embedded)"
    return Server("scimgate", service.base_url, service.token, CpuProbe(service.pid), seeder,
                  f"durable: {backend}, Redis {'at ' + redis_url if redis_url else 'embedded'}", stop)


class PeerSeeder:
    """Users and members straight into scim2-server's in-memory storage (its ``/_bench/`` routes)."""

    def __init__(self, root: str, log):
        self.root = root
        self.log = log

    def _post(self, path: str, document: dict) -> dict:
        request = urllib.request.Request(f"{self.root}{path}", data=orjson.dumps(document), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=3600) as response:
            return orjson.loads(response.read())

    def seed_users(self, names: list[str], batch: int = 5000) -> list[tuple[str, str]]:
        started = time.perf_counter()
        seeded: list[tuple[str, str]] = []
        for start in range(0, len(names), batch):
            chunk = names[start : start + batch]
            ids = self._post("/_bench/users", {"users": [Scim.user_document(n) for n in chunk]})["result"]
            seeded.extend(zip(ids, chunk))
        elapsed = time.perf_counter() - started
        self.log(f"  seeded {len(names)} users into scim2-server's storage in {elapsed:.1f}s")
        return seeded

    def add_members(self, group_id: str, user_ids: list[str], batch: int = 20000) -> None:
        for start in range(0, len(user_ids), batch):
            self._post("/_bench/members", {"group_id": group_id, "user_ids": user_ids[start : start + batch]})

    def close(self) -> None:
        pass


def start_peer(log, ready_timeout: float = 60.0) -> Server:
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="scim2-server-bench-")) / "peer.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bench.compare.peer", "--port", str(port)], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"scim2-server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{root}/v2/ServiceProviderConfig", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"scim2-server not ready: {log_path.read_text()[-2000:]}") from None
            time.sleep(0.1)
    log(f"scim2-server ready: {root}/v2 (log: {log_path})")

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    return Server("scim2-server", f"{root}/v2", "", CpuProbe(proc.pid), PeerSeeder(root, log),
                  "in memory, nothing durable", stop)
