"""A private PostgreSQL cluster for tests that kill the store: ``initdb`` + ``pg_ctl`` in a temp dir.

Never the machine's shared server (other test runs use it): a cluster of its own, on a free port
of 127.0.0.1 with its unix socket in its own directory, so it can be stopped hard
(``pg_ctl stop -m immediate``: every server process aborts, the next start runs crash
recovery, as after ``kill -9``) and started again. The binaries come from
``/usr/lib/postgresql/<newest>/bin`` (or ``SCIMGATE_PG_BIN``). PostgreSQL refuses to run as root,
so when we are root every command runs as the ``postgres`` OS user (``runuser``) and the
cluster's directory belongs to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.stack import free_port

PG_ROOT = Path("/usr/lib/postgresql")
OS_USER = "postgres"


def postgres_bin_dir() -> Path:
    configured = os.environ.get("SCIMGATE_PG_BIN")
    if configured:
        return Path(configured)
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: tuple(int(x) for x in p.parent.name.split(".") if x.isdigit()),
    )
    if not versions:
        raise RuntimeError(f"no PostgreSQL binaries under {PG_ROOT} (set SCIMGATE_PG_BIN)")
    return versions[-1]


class PrivatePostgres:
    def __init__(self, *, database: str = "scimgate"):
        self.bin = postgres_bin_dir()
        # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="scimgate-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.database = database
        self._as_other_user = os.geteuid() == 0
        if self._as_other_user:
            entry = pwd.getpwnam(OS_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_other_user:
            command = ["runuser", "-u", OS_USER, "--", *command]
        return subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=check, timeout=120,
                              stdin=subprocess.DEVNULL)

    # -- lifecycle ------------------------------------------------------------------------------

    def create(self) -> "PrivatePostgres":
        """initdb, start, and create the database."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# scimgate fault-injection cluster\n"
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 200\n"
                "shared_buffers = 32MB\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
            )
        self.start()
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.database}"'))
        finally:
            admin.dispose()
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (crash recovery included)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def kill(self) -> None:
        """Abort every server process at once: no checkpoint, no goodbye to the clients."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def destroy(self) -> None:
        """Stop the server (if it runs) and remove the cluster."""
        try:
            if self.data.exists() and self.running():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""
