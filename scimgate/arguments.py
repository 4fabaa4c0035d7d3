"""What every command takes from its arguments: the settings (flags over the environment), and
how it prints."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from infra.config import Settings
from scimgate import processes


def settings_from(args) -> Settings:
    settings = Settings()
    if getattr(args, "data_dir", None):
        settings = replace(settings, data_dir=Path(args.data_dir))
    if getattr(args, "database_url", None):
        settings = replace(settings, database_url=args.database_url)
    if getattr(args, "redis_url", None):
        settings = replace(settings, redis_url=args.redis_url)
    if getattr(args, "port", None):
        settings = replace(settings, port=args.port)
    if getattr(args, "ingresses", None):
        settings = replace(settings, ingresses=args.ingresses)
    if getattr(args, "host", None):
        settings = replace(settings, host=args.host)
    return settings.resolved()


def embedded_redis(settings: Settings):
    """Start the embedded Redis when no SCIMGATE_REDIS_URL was given; returns it (or None)."""
    return processes.embedded_redis(settings)


def engine_for(settings: Settings):
    from infra.store.engine import make_sync_engine

    processes.migrate(settings)
    return make_sync_engine(settings.database_url)


def print_result(payload: dict, as_json: bool, text: str) -> None:
    print(json.dumps(payload) if as_json else text)


def print_new_token(made, as_json: bool, label: str) -> None:
    """A token just made (shown once). Without ``--json`` its id goes to stderr, so that
    ``TOKEN=$(scimgate … create …)`` still gets the token alone."""
    if not as_json:
        print(f"{label} id: {made.id}", file=sys.stderr)
    print_result({"token": made.token, "id": made.id}, as_json, made.token)


def print_revoked(revoked: bool, what: str) -> int:
    print("revoked" if revoked else f"no such live {what}")
    return 0 if revoked else 1


def print_table(rows: list[dict], as_json: bool, columns: dict[str, str]) -> None:
    """``rows`` as JSON, or as a tab-separated table of ``columns`` (heading → key; "-" for none)."""
    if as_json:
        print(json.dumps(rows))
        return
    print("\t".join(columns))
    for row in rows:
        print("\t".join("-" if row.get(key) in (None, "") else str(row[key]) for key in columns.values()))
