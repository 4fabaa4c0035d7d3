"""The scimgate under test: ``scimgate run`` in a fresh data dir on a free port, as a user starts it.

Built on the test suite's starters (``tests.support``), so the bench and the tests start scimgate
the same way: ``ScimgateProcess`` runs the command, ``fresh_postgres_database`` gives a PostgreSQL
run a database of its own, and the owner token is made straight in the store
(``tests.support.seed.create_token``: ``scimgate run`` shows one only on a terminal).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from infra.config import sync_database_url
from infra.store.engine import make_sync_engine
from tests.support.scimgate_run import ScimgateProcess
from tests.support.seed import create_token
from tests.support.stack import fresh_postgres_database

URL_LINE = r"SCIM base URL:\s*(http://\S+/scim/v2/[a-z0-9]+)"


class StartedService:
    """``scimgate run`` on the embedded default, or on ``database_url`` / ``redis_url`` (a PostgreSQL
    URL gets a fresh database on that server unless ``fresh_db`` is off; a shared Redis gets this
    run's own queue and audit stream names). ``extra_env`` adds SCIMGATE_ settings of the run."""

    def __init__(self, database_url: str, redis_url: str, keep: bool, log, fresh_db: bool = True,
                 extra_env: dict | None = None):
        self.log = log
        self.keep = keep
        self.workdir = Path(tempfile.mkdtemp(prefix="scimgate-bench-"))
        self.database_url = database_url
        self.redis_url = redis_url
        self.fresh_db = fresh_db
        self._drop_db = None
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.process: ScimgateProcess | None = None
        self.base_url = ""
        self.token = ""

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.proc is not None
        return self.process.proc.pid

    @property
    def log_path(self) -> Path:
        assert self.process is not None
        return self.process.log_path

    @property
    def store_url(self) -> str:
        """The store's URL as the service uses it (for the fast seed path)."""
        if self.database_url:
            return self.database_url
        assert self.process is not None
        return f"sqlite:///{self.process.data_dir / 'scimgate.db'}"

    def start(self, ready_timeout: float = 90.0) -> None:
        env = self.env
        if self.database_url.startswith("postgres") and self.fresh_db:
            self.database_url, self._drop_db = fresh_postgres_database(sync_database_url(self.database_url))
            self.log(f"created PostgreSQL database {self.database_url.rsplit('/', 1)[-1]}")
        for name, value in (("SCIMGATE_DATABASE_URL", self.database_url), ("SCIMGATE_REDIS_URL", self.redis_url)):
            if value:
                env[name] = value
            else:
                env.pop(name, None)
        if self.redis_url:  # a shared Redis: keep this run's queue and audit stream to itself
            suffix = uuid.uuid4().hex[:10]
            env.setdefault("SCIMGATE_QUEUE", f"scimgate.bench.{suffix}")
            env.setdefault("SCIMGATE_AUDIT_STREAM", f"scimgate:bench:audit:{suffix}")
            self.log(f"queue {env['SCIMGATE_QUEUE']}, audit stream {env['SCIMGATE_AUDIT_STREAM']}")
        self.process = ScimgateProcess(["run"], env, self.workdir).start()
        self.log(f"starting: scimgate run --port {self.process.port} (log: {self.process.log_path})")
        self.base_url = self.process.wait_for_log(URL_LINE, timeout=ready_timeout).group(1)
        self.process.wait_ready(workers=1, timeout=ready_timeout)
        engine = make_sync_engine(self.store_url)
        try:
            with engine.begin() as conn:
                self.token = create_token(conn, self.base_url.rsplit("/", 1)[-1], "owner", "bench")[1]
        finally:
            engine.dispose()
        self.log(f"ready: {self.base_url}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.log(f"scimgate exited with {self.process.proc.returncode if self.process.proc else None}")
        if self._drop_db is not None:
            try:
                self._drop_db()
                self.log("dropped the bench's PostgreSQL database")
            except Exception as error:  # noqa: BLE001 - report, keep shutting down
                self.log(f"could not drop the bench database: {error}")
        if self.keep:
            self.log(f"kept data dir {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_excerpt(self, max_lines: int = 40) -> list[str]:
        """The service log's warning/error lines (for the report when something went wrong)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except (OSError, AssertionError):
            return []
        picked = [
            line for line in lines
            if re.search(r'"level":\s*"(warning|error|critical)"|Traceback|Error|WARNING|ERROR', line)
        ]
        return picked[-max_lines:]
