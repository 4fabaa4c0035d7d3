"""The service's files are private to the user it runs as.

A process umask of ``0o077`` makes every file and directory scimgate (or a child it starts:
the embedded Redis, SQLite's WAL and SHM files) creates readable by its own user only. Files and
directories left looser by an older version are tightened at start: the data dir to ``0700``,
the files scimgate keeps in it (and a SQLite database configured elsewhere) to their owner's bits.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
# What scimgate and its embedded Redis keep in a data dir (Redis 6 writes one AOF file, Redis 7
# a directory of them).
REDIS_FILES = ("redis.sock", "redis.log", "appendonly.aof", "appendonlydir", "dump.rdb")
DATA_DIR_ENTRIES = ("scimgate.db", *REDIS_FILES)
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def use_private_umask() -> None:
    os.umask(PRIVATE_UMASK)


def _tighten(path: Path) -> None:
    """Drop the group and other bits of ``path`` (a symlink is left alone)."""
    try:
        mode = stat.S_IMODE(path.lstat().st_mode)
    except FileNotFoundError:
        return
    if not path.is_symlink() and mode & 0o077:
        path.chmod(mode & ~0o077)


def tighten(path: Path) -> None:
    """``_tighten`` a file, or a directory and what it holds (one level: Redis's AOF directory)."""
    _tighten(path)
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _tighten(child)


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) private to this user, or make an existing one private."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL, or None (another backend, or in memory)."""
    try:
        url = make_url(database_url)
    except Exception:
        return None
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def secure_data_files(data_dir: Path, database_url: str, *, create: bool) -> None:
    """Make the data dir (created when ``create``) and the store's SQLite files private."""
    data_dir = Path(data_dir)
    if create or data_dir.exists():
        make_private_dir(data_dir)
        for name in DATA_DIR_ENTRIES:
            tighten(data_dir / name)
    database = sqlite_path(database_url)
    if database is not None:
        for suffix in SQLITE_COMPANIONS:
            _tighten(database.with_name(database.name + suffix))
