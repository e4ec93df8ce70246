"""A category filter over several subcategories, listed per category and merged, pages right."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from catalog.bootstrap import Runtime
from tests.integration.test_api_product_list import (
    SORTS,
    every_page,
    expected_order,
    make_category,
)


async def seed_with_ties(runtime: Runtime, category_id: int, count: int) -> None:
    """`count` products of one statement (tied times) with repeating prices and names."""
    async with runtime.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO products (sku, name, category_id, price, stock) "
                "SELECT 'C' || :category || '-' || n, "
                "       (ARRAY['apple', 'Apple', 'banana'])[1 + n % 3] || (n % 2), "
                "       :category, (n % 4) * 2.50, n "
                "FROM generate_series(1, :count) AS n"
            ),
            {"category": category_id, "count": count},
        )


@pytest.mark.parametrize("sort", SORTS)
async def test_a_department_pages_every_product_of_its_subcategories_once_in_order(
    client: httpx.AsyncClient, runtime: Runtime, sort: str
) -> None:
    department = await make_category(client, "Department")
    leaves = [await make_category(client, f"Leaf {n}", department) for n in range(3)]
    elsewhere = await make_category(client, "Elsewhere")
    for n, leaf in enumerate(leaves):
        await seed_with_ties(runtime, leaf, 9 + n)  # equal prices across the leaves
    await seed_with_ties(runtime, elsewhere, 5)

    listed = await every_page(client, category_id=department, sort=sort, limit=4)

    everything = await every_page(client, sort="id", limit=200)
    in_department = [p for p in everything if p["category_id"] in leaves]
    assert len(listed) == len(in_department) == 9 + 10 + 11
    assert [p["id"] for p in listed] == expected_order(in_department, sort)


async def test_a_department_filtered_by_price_uses_the_price_window(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    department = await make_category(client, "Department")
    leaves = [await make_category(client, f"Leaf {n}", department) for n in range(2)]
    for leaf in leaves:
        await seed_with_ties(runtime, leaf, 10)
    listed = await every_page(
        client, category_id=department, sort="-price", min_price="2.5", max_price="7.5", limit=3
    )
    prices = [float(p["price"]) for p in listed]
    assert prices == sorted(prices, reverse=True)
    assert set(prices) == {2.5, 5.0, 7.5}
