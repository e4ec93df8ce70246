"""Live products and in-stock products per category, directly and with all subcategories."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.categories import CategoryId


@dataclass(frozen=True)
class CategoryCount:
    category_id: CategoryId
    products: int  # live products directly in the category
    in_stock: int  # of those, with stock > 0
    subtree_products: int  # live products in the category or any category below it
    subtree_in_stock: int


# One scan of live products per category, then every category summed with its descendants
# (each category paired with itself and every ancestor by a walk up the tree).
_COUNTS = text(
    """
    WITH RECURSIVE direct AS (
        SELECT c.id,
               count(p.id) AS products,
               count(p.id) FILTER (WHERE p.stock > 0) AS in_stock
        FROM categories c
        LEFT JOIN products p ON p.category_id = c.id AND p.deleted_at IS NULL
        GROUP BY c.id
    ), up(id, ancestor, parent_id) AS (
        SELECT c.id, c.id, c.parent_id FROM categories c
        UNION
        SELECT up.id, a.id, a.parent_id
        FROM up JOIN categories a ON a.id = up.parent_id
    )
    SELECT d.id, d.products, d.in_stock,
           sum(s.products)::bigint AS subtree_products,
           sum(s.in_stock)::bigint AS subtree_in_stock
    FROM direct d
    JOIN up ON up.ancestor = d.id
    JOIN direct s ON s.id = up.id
    GROUP BY d.id, d.products, d.in_stock
    ORDER BY d.id
    """
)


async def category_counts(conn: AsyncConnection) -> list[CategoryCount]:
    """Counts for every category, by id."""
    rows = (await conn.execute(_COUNTS)).all()
    return [
        CategoryCount(
            category_id=CategoryId(row.id),
            products=int(row.products),
            in_stock=int(row.in_stock),
            subtree_products=int(row.subtree_products),
            subtree_in_stock=int(row.subtree_in_stock),
        )
        for row in rows
    ]
