from __future__ import annotations

import importlib
from typing import Any

import psycopg
from alembic import command
from alembic.script import ScriptDirectory
from procrastinate.schema import SchemaManager

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


def _fetch_after_a_delayed_job(conn: psycopg.Connection[Any]) -> int | None:
    """Which job the fetch takes when the lock's earlier job waits for an hour, the next is due."""
    conn.execute("DELETE FROM procrastinate_jobs")
    for delay in ("1 hour", "0 seconds"):
        conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, scheduled_at)"
            " VALUES ('default', 'locked', 'one-lock', '{}', now() + %s::interval)",
            (delay,),
        )
    row = conn.execute("SELECT id FROM procrastinate_fetch_job_v2(NULL, NULL)").fetchone()
    return row[0] if row else None


def test_the_fetch_goes_down_to_procrastinates_and_up_to_locks_only_when_due(
    database_url: str,
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert _fetch_after_a_delayed_job(conn) is not None
    config = migrate.alembic_config(database_url)
    locks_when_due = ScriptDirectory.from_config(config).get_revision("0010")
    assert locks_when_due is not None and isinstance(locks_when_due.down_revision, str)
    command.downgrade(config, locks_when_due.down_revision)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert _fetch_after_a_delayed_job(conn) is None  # upstream #1599, as shipped
    migrate.upgrade(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        due = _fetch_after_a_delayed_job(conn)
        delayed = conn.execute("SELECT min(id) FROM procrastinate_jobs").fetchone()
        assert due is not None and delayed is not None and due != delayed[0]


def test_the_fetch_restored_by_the_downgrade_is_procrastinates_verbatim() -> None:
    module = importlib.import_module("catalog.store.migrations.versions.0010_work_locks_when_due")
    shipped = SchemaManager.get_schema()
    start = shipped.index("CREATE FUNCTION procrastinate_fetch_job_v2(")
    end = shipped.index("CREATE FUNCTION", start + 1)
    restored = module.fetch_job_function(locks_when_due=False)
    assert restored.strip() == "CREATE OR REPLACE" + shipped[start:end].strip()[len("CREATE") :]


def test_popularity_scores_go_down_onto_products_and_back_without_change_log_rows(
    database_url: str,
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert "popularity" not in _columns(conn, "products")
        (category,) = conn.execute(
            "INSERT INTO categories (name, slug) VALUES ('Tools', 'tools') RETURNING id"
        ).fetchone() or (0,)
        ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO products (sku, name, category_id, price) VALUES"
                " ('A', 'A', %(c)s, 1), ('B', 'B', %(c)s, 1) RETURNING id",
                {"c": category},
            ).fetchall()
        ]
        conn.execute(
            "INSERT INTO product_popularity VALUES (%s, 2.5)", (ids[0],)
        )  # B has no row: it scores 0
        logged = conn.execute("SELECT count(*) FROM change_log").fetchone()
    config = migrate.alembic_config(database_url)
    popularity_table = ScriptDirectory.from_config(config).get_revision("0015")
    assert popularity_table is not None and isinstance(popularity_table.down_revision, str)
    command.downgrade(config, popularity_table.down_revision)
    with psycopg.connect(database_url, autocommit=True) as conn:
        scores = conn.execute("SELECT sku, popularity FROM products ORDER BY sku").fetchall()
        assert [(sku, float(score)) for sku, score in scores] == [("A", 2.5), ("B", 0.0)]
        assert conn.execute("SELECT to_regclass('products_popularity_idx')").fetchone() == (
            "products_popularity_idx",
        )
        assert conn.execute("SELECT to_regclass('product_popularity')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM change_log").fetchone() == logged
    migrate.upgrade(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert "popularity" not in _columns(conn, "products")
        rows = conn.execute("SELECT product_id, popularity FROM product_popularity").fetchall()
        assert [(pid, float(score)) for pid, score in rows] == [(ids[0], 2.5)]
        assert conn.execute("SELECT count(*) FROM change_log").fetchone() == logged
