"""Alembic environment: runs migrations on the synchronous engine for the configured URL."""

from __future__ import annotations

from alembic import context

from infra.store.engine import make_sync_engine
from infra.store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic needs sqlalchemy.url (infra.store.migrate.upgrade sets it)")
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
