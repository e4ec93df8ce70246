"""The product list's queries are served by indexes, never by reading the whole table.

A compact generator fills a few tens of thousands of products (enough for the planner to
prefer indexes exactly where it would at a million) and EXPLAIN shows each query shape's plan.
Set CATALOG_PLAN_PRODUCTS to try another volume; speed targets live in bench/, not here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from catalog.bootstrap import Runtime
from catalog.domain.categories import CategoryId
from catalog.domain.products import ProductFilter, ProductSort, ProductStatus
from catalog.domain.stock import StockLevel
from catalog.settings import Settings
from catalog.store.categories import subtree_of
from catalog.store.products import Position, list_products_query
from tests.support.settings import MakeSettings

PRODUCTS = int(os.environ.get("CATALOG_PLAN_PRODUCTS", "30000"))

# 20 top-level categories with 10 subcategories each; attributes from independent hashes.
GENERATE = """
INSERT INTO categories (name, slug)
SELECT 'Top ' || n, 'top-' || n FROM generate_series(1, 20) AS n;
INSERT INTO categories (name, slug, parent_id)
SELECT 'Sub ' || n, 'sub-' || n, 1 + n % 20 FROM generate_series(1, 200) AS n;
INSERT INTO products (sku, name, category_id, brand, price, stock, status, created_at, updated_at)
SELECT 'SKU-' || n,
       (ARRAY['Alpha', 'beta', 'Gamma', 'delta', 'Omega'])[1 + abs(hashint4(n)) % 5]
           || ' ' || md5(n::text),
       21 + abs(hashint4(n + 1)) % 200,
       'Brand ' || abs(hashint4(n + 2)) % 50,
       (abs(hashint4(n + 3)) % 100000) / 100.0,
       abs(hashint4(n + 4)) % 40,
       (ARRAY['active', 'active', 'active', 'draft', 'archived'])[1 + abs(hashint4(n + 5)) % 5],
       now() - make_interval(secs => n),
       now() - make_interval(secs => abs(hashint4(n + 6)) % 1000000)
FROM generate_series(1, {count}) AS n;
UPDATE products SET deleted_at = now() WHERE id % 100 = 0;
"""


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        db_pool_size=1,
        db_max_overflow=0,
    )


@pytest.fixture
def seeded(database_url: str) -> Iterator[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(GENERATE.format(count=PRODUCTS).encode())
        conn.execute("VACUUM ANALYZE categories")
        conn.execute("VACUUM ANALYZE products")
    yield database_url


NOW = datetime.now(UTC)
PREFIX_INDEXES = frozenset({"products_sku_prefix_idx", "products_name_prefix_idx"})


@dataclass(frozen=True)
class Shape:
    label: str
    filters: ProductFilter
    sort: ProductSort
    after: Position | None = None
    indexes: frozenset[str] = frozenset()  # that the plan must use


SHAPES = [
    Shape("by id", ProductFilter(), ProductSort.ID, indexes=frozenset({"products_pkey"})),
    Shape(
        "by id, later page",
        ProductFilter(),
        ProductSort.ID_DESC,
        Position(None, 5000),
        frozenset({"products_pkey"}),
    ),
    Shape(
        "by name", ProductFilter(), ProductSort.NAME, None, frozenset({"products_name_prefix_idx"})
    ),
    Shape(
        "by name, later page",
        ProductFilter(),
        ProductSort.NAME,
        Position("gamma 5", 4000),
        frozenset({"products_name_prefix_idx"}),
    ),
    Shape(
        "by price, later page",
        ProductFilter(),
        ProductSort.PRICE,
        Position(Decimal("500.00"), 9),
        frozenset({"products_price_idx"}),
    ),
    Shape(
        "by -price",
        ProductFilter(),
        ProductSort.PRICE_DESC,
        None,
        frozenset({"products_price_idx"}),
    ),
    Shape(
        "by created_at, later page",
        ProductFilter(),
        ProductSort.CREATED_AT,
        Position(NOW, 9),
        frozenset({"products_created_idx"}),
    ),
    Shape(
        "by -created_at",
        ProductFilter(),
        ProductSort.CREATED_AT_DESC,
        None,
        frozenset({"products_created_idx"}),
    ),
    Shape(
        "by updated_at",
        ProductFilter(),
        ProductSort.UPDATED_AT,
        None,
        frozenset({"products_updated_idx"}),
    ),
    Shape(
        "by -updated_at",
        ProductFilter(),
        ProductSort.UPDATED_AT_DESC,
        None,
        frozenset({"products_updated_idx"}),
    ),
    Shape("one brand", ProductFilter(brand="Brand 7"), ProductSort.ID),
    Shape(
        "price band",
        ProductFilter(min_price=Decimal(10), max_price=Decimal("10.50")),
        ProductSort.ID,
        None,
        frozenset({"products_price_idx"}),
    ),
    Shape("out of stock", ProductFilter(stock_levels=(StockLevel.OUT,)), ProductSort.ID),
    Shape(
        "critical or low",
        ProductFilter(stock_levels=(StockLevel.CRITICAL, StockLevel.LOW)),
        ProductSort.PRICE,
    ),
    Shape("available", ProductFilter(available=True), ProductSort.NAME),
    Shape("drafts", ProductFilter(statuses=(ProductStatus.DRAFT,)), ProductSort.CREATED_AT_DESC),
    Shape("rare prefix", ProductFilter(q="sku-1234"), ProductSort.PRICE, None, PREFIX_INDEXES),
    Shape("absent prefix", ProductFilter(q="zzz"), ProductSort.ID, None, PREFIX_INDEXES),
    Shape(
        "prefix by name",
        ProductFilter(q="om"),
        ProductSort.NAME,
        None,
        frozenset({"products_name_prefix_idx"}),
    ),
    Shape("category subtree", ProductFilter(category_id=CategoryId(3)), ProductSort.ID),
    Shape(
        "leaf category by price",
        ProductFilter(category_id=CategoryId(30)),
        ProductSort.PRICE_DESC,
    ),
    Shape(
        "everything at once",
        ProductFilter(
            category_id=CategoryId(3),
            brand="Brand 3",
            available=True,
            min_price=Decimal(1),
            statuses=(ProductStatus.ACTIVE,),
            q="gamma",
        ),
        ProductSort.PRICE,
    ),
]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


@pytest.mark.slow
async def test_every_list_shape_is_served_by_indexes(seeded: str, runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        for shape in SHAPES:
            category_ids = None
            if shape.filters.category_id is not None:
                category_ids = await subtree_of(conn, shape.filters.category_id)
            query = list_products_query(
                shape.filters,
                sort=shape.sort,
                after=shape.after,
                limit=51,
                category_ids=category_ids,
            )
            compiled = query.compile(
                dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
            )
            explained = await conn.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params
            )
            plan = explained.scalar_one()[0]["Plan"]
            scans = [
                (node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
                for node in nodes(plan)
            ]
            assert ("Seq Scan", "products", None) not in scans, (shape.label, scans)
            used = {index for _, _, index in scans if index}
            assert shape.indexes <= used, (shape.label, scans)
