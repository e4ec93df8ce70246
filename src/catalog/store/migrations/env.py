"""Alembic environment: run migrations on the URL handed over by `catalog.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from catalog.store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "catalog.store.migrate sets sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            # Several processes may start at once (three workers, say); one migrates at a time.
            context.execute("SELECT pg_advisory_xact_lock(727271)")
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `catalog migrate`")
run_migrations_online()
