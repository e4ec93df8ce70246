from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from typer.testing import CliRunner

from catalog.cli.main import app as cli_app
from catalog.domain.stock import StockLevel, level_of
from catalog.store import seed


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def _one(url: str, sql: str) -> Any:
    return _query(url, sql)[0][0]


def _secondary_indexes(url: str) -> set[str]:
    rows = _query(
        url,
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid IN ('products'::regclass, 'product_popularity'::regclass)"
        " UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'product_popularity'::regclass",
    )
    return {row[0] for row in rows}


async def test_seed_loads_a_catalogue_with_unique_skus_and_every_stock_level(
    database_url: str,
) -> None:
    indexes = _secondary_indexes(database_url)
    assert any("FOREIGN KEY" in definition for definition in indexes)

    report = await seed.seed_products(database_url, products=2000, seed=1)

    assert (report.products, report.categories, report.indexes_rebuilt) == (2000, 30, True)
    assert _one(database_url, "SELECT count(*) FROM products") == 2000
    assert _one(database_url, "SELECT count(DISTINCT sku) FROM products") == 2000
    assert _one(database_url, "SELECT count(*) FROM categories WHERE parent_id IS NULL") == 5
    assert _one(database_url, "SELECT count(*) FROM categories WHERE parent_id IS NOT NULL") == 25
    # Products sit in subcategories, every one of which gets some.
    assert (
        _one(
            database_url,
            "SELECT count(DISTINCT category_id) FROM products p"
            " JOIN categories c ON c.id = p.category_id WHERE c.parent_id IS NOT NULL",
        )
        == 25
    )
    stocks = [row[0] for row in _query(database_url, "SELECT stock FROM products")]
    assert {level_of(s) for s in stocks} == set(StockLevel)
    assert _one(database_url, "SELECT count(*) FROM products WHERE brand IS NULL") == 0
    assert _one(database_url, "SELECT min(price) FROM products") > 0
    assert _one(database_url, "SELECT count(*) FROM products WHERE tags = '{}'") == 0
    assert _one(database_url, "SELECT count(*) FROM products WHERE attributes = '{}'") == 0
    # Every product has a synthetic popularity score, skewed towards low ones, from 0 to 100.
    assert _one(database_url, "SELECT count(*) FROM product_popularity") == 2000
    low, median, high = _query(
        database_url,
        "SELECT min(popularity), percentile_disc(0.5) WITHIN GROUP (ORDER BY popularity),"
        " max(popularity) FROM product_popularity",
    )[0]
    assert 0 <= low < median < 25 < high <= 100
    # Every write is in the change log, COPY included, in one statement per batch.
    assert _query(
        database_url, "SELECT entity, op, count(*) FROM change_log GROUP BY 1, 2 ORDER BY 1"
    ) == [("category", "insert", 30), ("product", "insert", 2000)]
    assert (
        _one(
            database_url,
            "SELECT count(*) FROM products p"
            " WHERE NOT EXISTS (SELECT 1 FROM change_log c"
            "                   WHERE c.entity = 'product' AND c.entity_id = p.id)",
        )
        == 0
    )
    # The indexes and the scores' foreign key dropped for the load are all back, as they were.
    assert _secondary_indexes(database_url) == indexes


async def test_seeding_again_appends_to_the_catalogue(database_url: str) -> None:
    first = await seed.seed_products(database_url, products=300, seed=2)
    second = await seed.seed_products(database_url, products=300, seed=2, batch_rows=120)

    assert not second.indexes_rebuilt
    assert first.sku_prefix != second.sku_prefix
    assert _one(database_url, "SELECT count(DISTINCT sku) FROM products") == 600
    assert _one(database_url, "SELECT count(*) FROM categories") == 30  # reused, not doubled
    assert _one(database_url, "SELECT count(*) FROM change_log WHERE entity = 'product'") == 600
    # Same seed, same products but for their SKUs.
    names = _query(
        database_url,
        "SELECT array_agg(name ORDER BY id) FROM products GROUP BY split_part(sku, '-', 2)",
    )
    assert names[0] == names[1]


async def test_seed_reuses_categories_created_by_hand(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO categories (name, slug) VALUES ('electronics', 'my-electronics')")
    await seed.seed_products(database_url, products=50, categories=2)
    assert _query(database_url, "SELECT slug, parent_id IS NULL FROM categories ORDER BY id") == [
        ("my-electronics", True),
        ("headphones", False),
    ]


def _with_host(url: str) -> str:
    """`url` with a host, which Settings insists on; libpq still takes a socket from ?host=."""
    parts = urlsplit(url)
    return url if parts.hostname else urlunsplit(parts._replace(netloc=f"{parts.netloc}localhost"))


def test_seed_command_prints_a_summary(database_url: str) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["seed", "--products", "500", "--categories", "12", "--seed", "9"],
        env={"CATALOG_DATABASE_URL": _with_host(database_url)},
    )
    assert result.exit_code == 0, result.output
    assert "seeded 500 products in 12 categories" in result.output
    assert "rows/s" in result.output
    assert _one(database_url, "SELECT count(*) FROM products") == 500
