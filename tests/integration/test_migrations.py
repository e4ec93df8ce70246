from __future__ import annotations

from typing import Any

import psycopg
from alembic import command

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


def _columns(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
        (table,),
    ).fetchall()
    return {name: data_type for name, data_type in rows}


def test_service_lag_columns_go_down_to_one_lag_and_up_to_two(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert {"lag_rows": "bigint", "lag_s": "double precision"}.items() <= _columns(
            conn, "work_services"
        ).items()
        conn.execute(
            "INSERT INTO work_services (name, interval_s, lag_rows, lag_s)"
            " VALUES ('counts-rows', 60, 12, 3.5), ('counts-time', 60, NULL, 2.5)"
        )
    command.downgrade(migrate.alembic_config(database_url), "0006")
    with psycopg.connect(database_url, autocommit=True) as conn:
        columns = _columns(conn, "work_services")
        assert "lag_rows" not in columns and "lag_s" not in columns
        lags = conn.execute("SELECT name, lag FROM work_services ORDER BY name").fetchall()
        assert lags == [("counts-rows", 12.0), ("counts-time", 2.5)]
    migrate.upgrade(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        columns = _columns(conn, "work_services")
        assert "lag" not in columns and {"lag_rows", "lag_s"} <= columns.keys()
        lags = conn.execute("SELECT lag_rows, lag_s FROM work_services").fetchall()
        assert lags == [(None, None), (None, None)]  # the old number's unit is unknown
