"""The demo catalogue loaded on the first start of `catalog serve`, so there is something to see."""

from __future__ import annotations

from typing import Any, cast

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.store import seed, seed_rows

DEMO_CATEGORIES = 30
DEMO_SEED = 20_240_601  # fixed: every demo catalogue is the same
DEMO_SKU_PREFIX = "DEMO"
# pg_advisory_xact_lock key: processes starting at once load the demo one after the other.
DEMO_LOCK_KEY = 727_272


async def load_demo_if_empty(engine: AsyncEngine, *, products: int) -> int:
    """Load `products` demo products into an empty catalogue; 0 if it already has anything."""
    if products <= 0:
        return 0
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DEMO_LOCK_KEY})
        # Checked under the lock, in a statement after it: a loader that finished while we
        # waited has committed, and we see its rows.
        occupied = (
            await conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM categories) OR EXISTS (SELECT 1 FROM products)")
            )
        ).scalar_one()
        if occupied:
            return 0
        # COPY needs psycopg itself; the raw connection is in this same transaction.
        raw = await conn.get_raw_connection()
        driver = cast(psycopg.AsyncConnection[Any], raw.driver_connection)
        leaves = await seed.ensure_categories(driver, seed_rows.plan_categories(DEMO_CATEGORIES))
        rows = seed_rows.ProductRows(leaves, seed=DEMO_SEED, sku_prefix=DEMO_SKU_PREFIX)
        await seed.copy_products(driver, rows, count=products)
    return products
