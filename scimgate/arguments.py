"""What every command takes from its arguments: the settings (flags over the environment), and
how it prints."""

from __future__ import annotations

import json
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
