"""A real ``scimgate run`` (or ``serve``/``worker``) process for the tests of the processes.

Unlike ``tests.support.stack``, which starts the pieces one by one, this starts the one command
a user types, from an empty data dir, and looks at the process tree it makes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.stack import TEST_DATABASE_URL, TEST_REDIS_URL, free_port, fresh_postgres_database


def clean_env(**extra: str) -> dict:
    """The environment of a user's shell: no SCIMGATE_ variable of the test run's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def backend_env() -> tuple[dict, callable]:
    """SCIMGATE_ variables for the backend under test (none: the embedded default) and a cleanup."""
    if not TEST_DATABASE_URL.startswith("postgresql"):
        return {}, lambda: None
    database_url, drop = fresh_postgres_database(TEST_DATABASE_URL)
    suffix = uuid.uuid4().hex[:10]
    env = {"SCIMGATE_DATABASE_URL": database_url, "SCIMGATE_QUEUE": f"scimgate.test.{suffix}",
           "SCIMGATE_AUDIT_STREAM": f"scimgate:test:audit:{suffix}"}
    if TEST_REDIS_URL:
        env["SCIMGATE_REDIS_URL"] = TEST_REDIS_URL
    return env, drop


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie nobody reaped yet is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_dead(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Wait until every pid is gone; returns those still alive at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        living = [pid for pid in pids if alive(pid)]
        if not living:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def children(pid: int, pattern: str) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid), "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def scimgate_cli(env: dict, cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scimgate", *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout,
    )


@dataclass
class ScimgateProcess:
    """One ``python -m scimgate …`` process; its stdout goes to ``stdout`` (a file by default)."""

    args: list[str]
    env: dict
    workdir: Path
    stdout: object = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.args[0]}-{uuid.uuid4().hex[:6]}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def start(self) -> "ScimgateProcess":
        args = [*self.args, "--data-dir", str(self.data_dir)]
        if self.args[0] in ("run", "serve"):
            args += ["--port", str(self.port)]
        self._log = open(self.log_path, "ab")
        stdout = self.stdout if self.stdout is not None else self._log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scimgate", *args], env=self.env, cwd=self.workdir, stdout=stdout,
            stderr=self._log, stdin=subprocess.DEVNULL,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, workers: int = 1, timeout: float = 60.0) -> None:
        """Until /readyz is 200 and counts ``workers`` live workers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"scimgate exited: {self.log()[-3000:]}"
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=2)
                if ready.status_code == 200 and (ready.json()["workers"] or 0) >= workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"scimgate not ready: {self.log()[-3000:]}")

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            assert self.proc.poll() is None, f"scimgate exited: {self.log()[-3000:]}"
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not in the log: {self.log()[-3000:]}")

    def children(self, pattern: str) -> list[int]:
        return children(self.proc.pid, pattern)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
