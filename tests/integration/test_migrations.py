from __future__ import annotations

import psycopg

from catalog.store import migrate


def test_migrations_reach_head_and_are_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)  # already at head: a no-op, not an error
    with psycopg.connect(database_url) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert version
    assert {"products", "categories", "change_log", "procrastinate_jobs"} <= tables
