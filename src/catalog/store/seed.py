"""Synthetic catalogues: a category tree and products loaded with COPY, for demos and benchmarks.

Products go in through COPY, never row by row: into an empty catalogue in one transaction with
the secondary indexes built after the load, otherwise in batches of one transaction each. The
change-log triggers fire for COPY as for INSERT (one statement, one transition table per batch),
so every seeded product is in the change log like any other write.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from catalog.store.seed_rows import (
    CategoryPlan,
    Leaf,
    ProductRows,
    leaves_of,
    plan_categories,
)


class SeedError(RuntimeError):
    """The synthetic catalogue could not be loaded as asked."""


# Rows per transaction: large enough to amortise the trigger's statement, small enough that no
# seeding transaction holds back change-log readers (they wait for the oldest open xid) for long.
BATCH_ROWS = 100_000
# Rows per write to the COPY stream (about 2 MB of text).
CHUNK_ROWS = 10_000

COPY_PRODUCTS = (
    "COPY products (sku, name, description, category_id, brand, price, stock, status, tags,"
    " attributes, created_at, updated_at) FROM STDIN"
)
# Synthetic popularity scores for the products just copied (ids above :after, this run's SKU
# prefix): 100 * u ** 3 with u uniform in [0, 1), as scores are skewed, from the id (Knuth's
# multiplicative hash), so the same ids get the same scores.
SCORE_PRODUCTS = """
    INSERT INTO product_popularity (product_id, popularity)
    SELECT id, round(100 * power((id::numeric * 2654435761 %% 4294967296) / 4294967296, 3), 2)
    FROM products WHERE id > %(after)s AND sku LIKE %(prefix)s ORDER BY id
"""


@dataclass(frozen=True)
class SeedReport:
    products: int
    categories: int
    seconds: float
    sku_prefix: str
    indexes_rebuilt: bool  # loaded into an empty catalogue with indexes built after

    @property
    def rows_per_s(self) -> float:
        return self.products / self.seconds if self.seconds > 0 else 0.0


async def ensure_categories(
    conn: psycopg.AsyncConnection[Any], plans: Sequence[CategoryPlan]
) -> list[Leaf]:
    """Create the planned categories that are missing; the leaves with their ids.

    An existing category of the same slug, or of the same name under the same parent, is reused,
    so seeding again appends to the catalogue.
    """
    ids: dict[str, int] = {}
    for plan in plans:  # departments come first
        parent_id = ids[plan.parent_slug] if plan.parent_slug is not None else None
        cur = await conn.execute(
            """
            WITH created AS (
                INSERT INTO categories (name, slug, parent_id)
                VALUES (%(name)s, %(slug)s, %(parent)s)
                ON CONFLICT DO NOTHING
                RETURNING id
            )
            SELECT id FROM created
            UNION ALL
            (SELECT id FROM categories
             WHERE slug = %(slug)s
                OR (coalesce(parent_id, 0) = coalesce(%(parent)s, 0)
                    AND lower(name) = lower(%(name)s))
             ORDER BY slug = %(slug)s DESC
             LIMIT 1)
            """,
            {"name": plan.name, "slug": plan.slug, "parent": parent_id},
        )
        row = await cur.fetchone()
        if row is None:
            raise SeedError(f"category {plan.slug!r} could not be created or found")
        ids[plan.slug] = row[0]
    return [Leaf(id=ids[plan.slug], plan=plan) for plan in leaves_of(plans)]


async def copy_products(
    conn: psycopg.AsyncConnection[Any], rows: ProductRows, *, count: int
) -> None:
    """COPY the next `count` products of `rows` in the connection's current transaction.

    They get synthetic popularity scores too (scores live in their own table, so not by COPY).
    """
    cur = await conn.execute("SELECT coalesce(max(id), 0) FROM products")
    after = (await cur.fetchone() or (0,))[0]
    async with conn.cursor() as cur, cur.copy(COPY_PRODUCTS) as copy:
        left = count
        while left > 0:
            chunk = min(CHUNK_ROWS, left)
            await copy.write(rows.take(chunk))
            left -= chunk
    await conn.execute(SCORE_PRODUCTS, {"after": after, "prefix": f"{rows.sku_prefix}-%"})


def new_sku_prefix(seed: int) -> str:
    """A prefix no earlier run used, so that appending never collides on SKU."""
    return f"S{seed}-{secrets.token_hex(3).upper()}"


async def seed_products(
    url: str,
    *,
    products: int,
    categories: int = 30,
    seed: int = 0,
    batch_rows: int = BATCH_ROWS,
    sku_prefix: str | None = None,
) -> SeedReport:
    """Add `products` synthetic products in about `categories` categories to the database.

    Into an empty catalogue everything loads in one transaction, with the secondary indexes of
    `products` dropped and rebuilt after the load (as pg_restore does): index upkeep costs
    about twice the load itself. Otherwise each batch of `batch_rows` commits on its own, and a
    failure keeps the batches before it.
    """
    if products < 0:
        raise ValueError(f"products must not be negative, not {products}")
    prefix = sku_prefix or new_sku_prefix(seed)
    plans = plan_categories(categories)
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # The change-log trigger sorts each batch's transition table; keep that in memory.
        await conn.execute("SET work_mem = '64MB'")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        leaves = await ensure_categories(conn, plans)
        await conn.commit()
        rows = ProductRows(leaves, seed=seed, sku_prefix=prefix)
        rebuilt = products > 0 and await _load_into_empty(conn, rows, products, batch_rows)
        if not rebuilt:
            for batch in _batches(products, batch_rows):
                await copy_products(conn, rows, count=batch)
                await conn.commit()
        if products:
            # Fresh statistics, or the first queries plan as if the tables were empty.
            await conn.execute("ANALYZE categories, products, change_log")
            await conn.commit()
    return SeedReport(
        products=products,
        categories=len(plans),
        seconds=time.perf_counter() - started,
        sku_prefix=prefix,
        indexes_rebuilt=rebuilt,
    )


async def _load_into_empty(
    conn: psycopg.AsyncConnection[Any], rows: ProductRows, products: int, batch_rows: int
) -> bool:
    """Load with the secondary indexes dropped if `products` is empty; False if it is not.

    So are the ranking index and the foreign key of `product_popularity`, empty with it.
    """
    if await _has_products(conn):
        await conn.rollback()
        return False
    # Readers wait for this lock rather than see a table without its indexes.
    await conn.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
    if await _has_products(conn):  # another seeder came first
        await conn.rollback()
        return False
    cur = await conn.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid IN ('products'::regclass, 'product_popularity'::regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY 1
        """
    )
    indexes = await cur.fetchall()
    # The scores' foreign key too: checked once after the load, not once per row.
    cur = await conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'product_popularity'::regclass AND contype = 'f' ORDER BY 1"
    )
    keys = await cur.fetchall()
    for name, _ in keys:
        await conn.execute(
            sql.SQL("ALTER TABLE product_popularity DROP CONSTRAINT {}").format(
                sql.Identifier(name)
            )
        )
    for name, _ in indexes:
        await conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    # Statements of `batch_rows` keep each trigger's transition table moderate.
    for batch in _batches(products, batch_rows):
        await copy_products(conn, rows, count=batch)
    for _, definition in indexes:
        await conn.execute(sql.SQL(definition))
    for name, definition in keys:
        await conn.execute(
            sql.SQL("ALTER TABLE product_popularity ADD CONSTRAINT {} {}").format(
                sql.Identifier(name), sql.SQL(definition)
            )
        )
    await conn.commit()
    return True


async def _has_products(conn: psycopg.AsyncConnection[Any]) -> bool:
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM products)")
    row = await cur.fetchone()
    return bool(row and row[0])


def _batches(total: int, size: int) -> list[int]:
    if size < 1:
        raise ValueError(f"batch size must be positive, not {size}")
    return [min(size, total - start) for start in range(0, total, size)]
