"""Known catalogue contents written with SQL, for the catalogue jobs' exact-number tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


async def add_category(conn: AsyncConnection, name: str, *, parent_id: int | None = None) -> int:
    category_id = await conn.scalar(
        sa.text(
            "INSERT INTO categories (name, slug, parent_id) VALUES (:name, :slug, :parent)"
            " RETURNING id"
        ),
        {"name": name, "slug": name.lower().replace(" ", "-"), "parent": parent_id},
    )
    return int(category_id)


async def add_product(
    conn: AsyncConnection,
    sku: str,
    *,
    category_id: int,
    stock: int = 0,
    price: Decimal | int | str = 1,
    currency: str = "USD",
    status: str = "active",
    deleted_at: datetime | None = None,
    created_at: datetime | None = None,
) -> int:
    product_id = await conn.scalar(
        sa.text(
            "INSERT INTO products (sku, name, category_id, price, currency, stock, status,"
            " deleted_at, created_at)"
            " VALUES (:sku, :sku, :category, :price, :currency, :stock, :status, :deleted,"
            " coalesce(:created, now())) RETURNING id"
        ),
        {
            "sku": sku,
            "category": category_id,
            "price": Decimal(str(price)),
            "currency": currency,
            "stock": stock,
            "status": status,
            "deleted": deleted_at,
            "created": created_at,
        },
    )
    return int(product_id)


async def add_movement(
    conn: AsyncConnection, product_id: int, *, delta: int, at: datetime, stock_after: int = 100
) -> None:
    """A stock movement in the ledger only (the product's stock is left as it is)."""
    await conn.execute(
        sa.text(
            "INSERT INTO stock_movements (product_id, delta, stock_before, stock_after, reason,"
            " actor, created_at) VALUES (:p, :d, :before, :after, 'test', 'test', :at)"
        ),
        {
            "p": product_id,
            "d": delta,
            "before": stock_after - delta,
            "after": stock_after,
            "at": at,
        },
    )


async def set_stock(db: AsyncEngine, product_id: int, stock: int) -> None:
    """Set the stock in its own committed transaction, as an API write would."""
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE products SET stock = :s WHERE id = :id"), {"s": stock, "id": product_id}
        )
