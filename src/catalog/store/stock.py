"""Stock changes: every one is a movement row written in the same transaction as the new stock.

Adjusting by a delta is a single conditional UPDATE, so concurrent adjustments of one product
queue on its row lock and each sees the stock the previous one left; setting an absolute value
locks the row first. Neither commits: the caller owns the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.errors import Conflict, ProductNotFound
from catalog.domain.products import (
    STOCK_MAX,
    MovementId,
    ProductId,
    StockMovement,
    stock_after,
)
from catalog.store.tables import products, stock_movements

# A failed conditional update is followed by a read to say why; if another writer changed the
# stock in between so that the read no longer explains the failure, try again this many times.
ADJUST_ATTEMPTS = 5


async def adjust_stock(
    conn: AsyncConnection, product_id: ProductId, *, delta: int, reason: str, actor: str
) -> StockMovement:
    """Add `delta` (negative: remove) to the product's stock, never below 0, and record it."""
    for _ in range(ADJUST_ATTEMPTS):
        wanted = sa.cast(products.c.stock, sa.BigInteger) + sa.literal(delta, sa.BigInteger)
        after = await conn.scalar(
            sa.update(products)
            .where(
                products.c.id == product_id,
                products.c.deleted_at.is_(None),
                wanted.between(0, STOCK_MAX),
            )
            .values(
                stock=products.c.stock + sa.literal(delta, sa.Integer),
                version=products.c.version + 1,
                updated_at=sa.func.now(),
            )
            .returning(products.c.stock)
        )
        if after is not None:
            return await insert_movement(
                conn,
                product_id,
                delta=delta,
                stock_before=after - delta,
                stock_after=after,
                reason=reason,
                actor=actor,
            )
        stock = await _live_stock(conn, product_id, lock=False)
        if stock is None:
            raise ProductNotFound(product_id)
        stock_after(product_id, stock=stock, delta=delta)  # raises the reason it failed
    raise Conflict(f"stock of product {product_id} is changing too fast; try again")


async def set_stock(
    conn: AsyncConnection, product_id: ProductId, *, stock: int, reason: str, actor: str
) -> StockMovement:
    """Set the product's stock to `stock` (a count, say) and record the difference."""
    before = await _live_stock(conn, product_id, lock=True)
    if before is None:
        raise ProductNotFound(product_id)
    delta = stock - before
    stock_after(product_id, stock=before, delta=delta)
    if delta:
        await conn.execute(
            sa.update(products)
            .where(products.c.id == product_id)
            .values(stock=stock, version=products.c.version + 1, updated_at=sa.func.now())
        )
    # A count that finds what was expected is still recorded: it is when stock was last checked.
    return await insert_movement(
        conn,
        product_id,
        delta=delta,
        stock_before=before,
        stock_after=stock,
        reason=reason,
        actor=actor,
    )


async def insert_movement(
    conn: AsyncConnection,
    product_id: ProductId,
    *,
    delta: int,
    stock_before: int,
    stock_after: int,
    reason: str,
    actor: str,
) -> StockMovement:
    """Record a change of stock that the caller has just made in the same transaction."""
    row = (
        await conn.execute(
            sa.insert(stock_movements)
            .values(
                product_id=product_id,
                delta=delta,
                stock_before=stock_before,
                stock_after=stock_after,
                reason=reason,
                actor=actor,
            )
            .returning(*stock_movements.c)
        )
    ).one()
    return _movement(row)


async def list_movements(
    conn: AsyncConnection, product_id: ProductId, *, before_id: int | None, limit: int
) -> list[StockMovement]:
    """Up to `limit` movements of a live product, newest first, older than `before_id` if set."""
    if await _live_stock(conn, product_id, lock=False) is None:
        raise ProductNotFound(product_id)
    query = (
        sa.select(stock_movements)
        .where(stock_movements.c.product_id == product_id)
        .order_by(stock_movements.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(stock_movements.c.id < before_id)
    return [_movement(row) for row in await conn.execute(query)]


async def _live_stock(conn: AsyncConnection, product_id: ProductId, *, lock: bool) -> int | None:
    query = sa.select(products.c.stock).where(
        products.c.id == product_id, products.c.deleted_at.is_(None)
    )
    if lock:
        query = query.with_for_update()
    stock: int | None = await conn.scalar(query)
    return stock


def _movement(row: sa.Row[tuple[object, ...]]) -> StockMovement:
    return StockMovement(
        id=MovementId(row.id),
        product_id=ProductId(row.product_id),
        delta=row.delta,
        stock_before=row.stock_before,
        stock_after=row.stock_after,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
    )
